//! [`TcpProxy`]: a loopback TCP forwarder a test can cut and heal, to partition one client from a
//! server that keeps running.

use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Forwards connections from its own loopback port to `target`. [`cut`](Self::cut) closes every
/// connection and refuses new ones until [`heal`](Self::heal); the server behind it never notices
/// anything but closed connections.
///
/// ```no_run
/// let redis = nexus_testkit::RedisServer::start();
/// let proxy = nexus_testkit::TcpProxy::start(&format!("127.0.0.1:{}", redis.port()));
/// let url = format!("redis://{}/", proxy.addr());
/// proxy.cut(); // clients through `url` are partitioned
/// proxy.heal();
/// # let _ = url;
/// ```
#[derive(Debug)]
pub struct TcpProxy {
    addr: SocketAddr,
    state: Arc<State>,
}

#[derive(Debug, Default)]
struct State {
    cut: AtomicBool,
    stopped: AtomicBool,
    open: Mutex<Vec<TcpStream>>,
}

impl State {
    fn close_all(&self) {
        for s in self
            .open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

impl TcpProxy {
    /// Listens on a free loopback port and forwards to `target` (`host:port`).
    ///
    /// # Panics
    /// If no loopback port can be bound.
    pub fn start(target: &str) -> Self {
        #[allow(clippy::expect_used)]
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        #[allow(clippy::expect_used)]
        let addr = listener.local_addr().expect("the proxy's address");
        let state = Arc::new(State::default());
        let (st, target) = (state.clone(), target.to_owned());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if st.stopped.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(client) = client else { continue };
                if st.cut.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                if let Ok(server) = TcpStream::connect(&target) {
                    let _ = forward(&st, client, server);
                }
            }
        });
        Self { addr, state }
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Closes every forwarded connection and refuses new ones.
    pub fn cut(&self) {
        self.state.cut.store(true, Ordering::SeqCst);
        self.state.close_all();
    }

    /// Accepts connections again.
    pub fn heal(&self) {
        self.state.cut.store(false, Ordering::SeqCst);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.state.stopped.store(true, Ordering::SeqCst);
        self.state.close_all();
        let _ = TcpStream::connect(self.addr);
    }
}

/// Copies both ways on two threads; both sockets are registered so `cut` can close them.
fn forward(state: &State, client: TcpStream, server: TcpStream) -> io::Result<()> {
    let (c2, s2) = (client.try_clone()?, server.try_clone()?);
    {
        let mut open = state.open.lock().unwrap_or_else(|e| e.into_inner());
        open.push(client.try_clone()?);
        open.push(server.try_clone()?);
    }
    for (mut from, mut to) in [(client, server), (s2, c2)] {
        std::thread::spawn(move || {
            let _ = io::copy(&mut from, &mut to);
            let _ = to.shutdown(Shutdown::Both);
            let _ = from.shutdown(Shutdown::Both);
        });
    }
    Ok(())
}
