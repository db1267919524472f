//! `HttpProbe` over HTTPS against a real TLS server on loopback (`openssl s_server`, with a
//! private CA and a server certificate made for the test by `openssl`).

#![allow(clippy::unwrap_used)]

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use nexus_health::{HttpProbe, Probe};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn openssl() -> std::path::PathBuf {
    nexus_testkit::require("openssl")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_probe_verifies_the_server_and_sees_it_go() {
    let dir = tempfile::tempdir().unwrap();
    let p = |f: &str| dir.path().join(f);
    let run = |args: &[&str]| {
        let out = Command::new(openssl())
            .current_dir(dir.path())
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    // A private CA, and a server certificate it signs (webpki refuses a CA as the end entity).
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=nexus test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        "key.pem",
        "-out",
        "leaf.csr",
    ]);
    std::fs::write(
        p("ext.cnf"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-out",
        "cert.pem",
        "-extfile",
        "ext.cnf",
    ]);
    let (cert, key) = (p("cert.pem"), p("key.pem"));
    let port = nexus_testkit::free_port();
    let server = Server(
        Command::new(openssl())
            .args([
                "s_server",
                "-accept",
                &format!("127.0.0.1:{port}"),
                "-www",
                "-quiet",
            ])
            .arg("-cert")
            .arg(&cert)
            .arg("-key")
            .arg(&key)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let url = format!("https://127.0.0.1:{port}/");
    let pem = std::fs::read(p("ca.pem")).unwrap();

    let trusted = HttpProbe::with_root_certificates(&url, &pem).unwrap();
    trusted.check().await.unwrap();

    // The public roots alone do not trust a self-signed certificate.
    let untrusted = HttpProbe::new(&url).unwrap();
    let err = untrusted.check().await.unwrap_err();
    assert!(err.to_lowercase().contains("certificate"), "{err}");

    assert!(HttpProbe::with_root_certificates(&url, b"not a pem").is_err());

    drop(server);
    let err = trusted.check().await.unwrap_err();
    assert!(err.contains("GET https://127.0.0.1"), "{err}");
}
