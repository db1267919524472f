//! `nexus-healthcheck`: one round of probes against URLs and DSNs given on the command line; exits
//! non-zero when any fails. Made for a Kubernetes CronJob (the spec's production check).
//!
//! ```text
//! nexus-healthcheck [--timeout SECONDS] [--json] [--ca CA.pem] [--url http(s)://svc/readyz]... \
//!                   [--postgres postgres://…]... [--redis redis://…]...
//! ```
//! Exit status: 0 all passed, 1 a check failed, 2 bad usage.

use std::process::ExitCode;
use std::time::Duration;

use nexus_health::{HttpProbe, ProbeSpec, ProbeStatus, Probes};

const USAGE: &str = "usage: nexus-healthcheck [--timeout SECONDS] [--json] [--ca CA.pem] [--url URL]... [--postgres DSN]... [--redis URL]...";

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(msg) => {
            eprintln!("nexus-healthcheck: {msg}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn run(args: Vec<String>) -> Result<bool, String> {
    let mut timeout = Duration::from_secs(5);
    let mut json = false;
    let mut ca: Option<Vec<u8>> = None;
    let mut specs: Vec<(String, String)> = Vec::new();
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--timeout" => {
                let v = value("--timeout")?;
                let secs: f64 = v
                    .parse()
                    .map_err(|_| format!("--timeout {v:?} is not a number of seconds"))?;
                if !(secs > 0.0 && secs < 3600.0) {
                    return Err("--timeout must be between 0 and 3600 seconds".into());
                }
                timeout = Duration::from_secs_f64(secs);
            }
            "--json" => json = true,
            "--ca" => {
                let path = value("--ca")?;
                ca = Some(
                    std::fs::read(&path).map_err(|e| format!("cannot read --ca {path:?}: {e}"))?,
                );
            }
            "--url" | "--postgres" | "--redis" => {
                specs.push((arg.trim_start_matches("--").to_string(), value(&arg)?))
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(true);
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if specs.is_empty() {
        return Err("nothing to check: give at least one --url, --postgres or --redis".into());
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    rt.block_on(async move {
        let mut builder = Probes::builder().interval(Duration::ZERO);
        for (i, (kind, target)) in specs.iter().enumerate() {
            let name = format!("{kind}#{}", i + 1);
            let spec = match kind.as_str() {
                "url" => ProbeSpec::new(name, http_probe(target, ca.as_deref())?),
                "postgres" => postgres_probe(name, target)?,
                _ => redis_probe(name, target)?,
            };
            builder = builder.probe(spec.timeout(timeout).tags([target.clone()]));
        }
        let results = builder.build().check_now().await;
        let ok = results.iter().all(|r| r.status == ProbeStatus::Pass);
        if json {
            let doc = serde_json::json!({ "status": if ok { "pass" } else { "fail" }, "checks": *results });
            println!("{doc}");
        } else {
            for r in results.iter() {
                let target = r.tags.first().map(String::as_str).unwrap_or("");
                match r.status {
                    ProbeStatus::Pass => println!("[+] {} {target} ok ({:.1} ms)", r.name, r.duration_ms),
                    _ => println!("[-] {} {target} failed: {}", r.name, r.message.as_deref().unwrap_or("")),
                }
            }
        }
        Ok(ok)
    })
}

fn http_probe(url: &str, ca: Option<&[u8]>) -> Result<HttpProbe, String> {
    match ca {
        None => HttpProbe::new(url),
        #[cfg(feature = "https")]
        Some(pem) => HttpProbe::with_root_certificates(url, pem),
        #[cfg(not(feature = "https"))]
        Some(_) => Err("--ca needs nexus-health built with the `https` feature".into()),
    }
}

#[cfg(feature = "postgres")]
fn postgres_probe(name: String, dsn: &str) -> Result<ProbeSpec, String> {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_lazy(dsn)
        .map_err(|e| format!("bad PostgreSQL DSN: {e}"))?;
    Ok(ProbeSpec::new(name, nexus_health::PostgresProbe::new(pool)))
}

#[cfg(not(feature = "postgres"))]
fn postgres_probe(_: String, _: &str) -> Result<ProbeSpec, String> {
    Err("--postgres needs nexus-health built with the `postgres` feature".into())
}

#[cfg(feature = "redis")]
fn redis_probe(name: String, url: &str) -> Result<ProbeSpec, String> {
    Ok(ProbeSpec::new(name, nexus_health::RedisProbe::new(url)?))
}

#[cfg(not(feature = "redis"))]
fn redis_probe(_: String, _: &str) -> Result<ProbeSpec, String> {
    Err("--redis needs nexus-health built with the `redis` feature".into())
}
