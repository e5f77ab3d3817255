//! The in-process bridge's log, captured so a test can check what it said.

use std::io::Write;
use std::sync::Mutex;

static LOG: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct Capture;

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOG.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Sends this process's tracing output (`RUST_LOG`, else
/// `wabridge=debug,wa_client=info`) to the capture, without colours.
pub fn capture() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "wabridge=debug,wa_client=info".into()),
        )
        .with_ansi(false)
        .with_writer(|| Capture)
        .try_init();
}

/// Everything captured so far.
pub fn text() -> String {
    String::from_utf8_lossy(
        &LOG.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    )
    .into_owned()
}

/// Prints this process's tracing output (`RUST_LOG`, else `default`) with
/// the test's output, for an e2e test that does not check its log.
pub fn to_test_output(default: &str) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| default.to_owned().into()),
        )
        .with_test_writer()
        .try_init();
}
