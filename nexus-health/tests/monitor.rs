//! The production monitor on tokio's paused clock: a round every 15 minutes, bounded history,
//! callbacks, failures named.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use nexus_health::{
    DEFAULT_EVERY, FnProbe, Health, ProbeSpec, Probes, ProductionMonitor, Resources,
};

#[tokio::test(start_paused = true)]
async fn rounds_on_schedule_with_bounded_history() {
    let backup_ok = Arc::new(AtomicBool::new(true));
    let flag = backup_ok.clone();
    let rounds = Arc::new(AtomicUsize::new(0));
    let seen = rounds.clone();
    let health = Health::builder()
        .probes(
            Probes::builder()
                .interval(Duration::ZERO)
                .probe(ProbeSpec::new("db", FnProbe::new(|| async { Ok(()) })))
                .build(),
        )
        .resources(Resources::new(Some(0.1), Some(0.1), Some(0.1)))
        .build();
    let monitor = ProductionMonitor::builder(health)
        .check(ProbeSpec::new(
            "backup-fresh",
            FnProbe::new(move || {
                let ok = flag.load(Ordering::SeqCst);
                async move {
                    if ok {
                        Ok(())
                    } else {
                        Err("last backup is 26 h old".to_string())
                    }
                }
            }),
        ))
        .history(3)
        .on_report(move |_| {
            seen.fetch_add(1, Ordering::SeqCst);
        })
        .build();
    let task = monitor.spawn(DEFAULT_EVERY);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(rounds.load(Ordering::SeqCst), 1, "first round at once");
    assert!(monitor.history()[0].passed);

    backup_ok.store(false, Ordering::SeqCst);
    tokio::time::sleep(DEFAULT_EVERY).await;
    assert_eq!(rounds.load(Ordering::SeqCst), 2);
    let last = monitor.history().pop().unwrap();
    assert!(!last.passed);
    assert_eq!(
        last.failures,
        vec!["backup-fresh: last backup is 26 h old".to_string()]
    );

    tokio::time::sleep(DEFAULT_EVERY * 4).await;
    assert_eq!(rounds.load(Ordering::SeqCst), 6);
    assert_eq!(monitor.history().len(), 3, "history is bounded");
    drop(task);
}
