//! The public surface: every error type is a `std::error::Error`, every type the API hands out
//! can be named.

use nexus_alerting::promql::{EvalError, ParseError};
use nexus_alerting::{DetectorFactory, Error, NotifyError, TemplateError};

fn is_error<E: std::error::Error + Send + Sync + 'static>() {}

#[test]
fn public_errors_are_std_errors_with_readable_messages() {
    is_error::<Error>();
    is_error::<ParseError>();
    is_error::<EvalError>();
    is_error::<TemplateError>();
    is_error::<NotifyError>();
    assert_eq!(
        NotifyError::retry("HTTP 503").to_string(),
        "notification failed (retryable): HTTP 503"
    );
    let e = nexus_alerting::Template::parse("{{ nope }}").unwrap_err();
    assert!(
        e.to_string().starts_with("template error at offset "),
        "{e}"
    );
    let boxed: Box<dyn std::error::Error> = Box::new(e);
    assert!(!boxed.to_string().is_empty());
}

#[test]
fn the_detector_factory_can_be_named() {
    let f: DetectorFactory =
        std::sync::Arc::new(|| Box::new(nexus_alerting::anomaly::EnsembleDetector::default()));
    let _ = f();
}
