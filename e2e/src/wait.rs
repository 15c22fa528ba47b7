//! Polling with deadlines: tests wait for an observable signal, never for a fixed time.

use std::time::{Duration, Instant};

/// How often conditions are re-checked.
const POLL: Duration = Duration::from_millis(50);

/// Re-checks `check` until it holds; panics naming `what` after `secs` seconds.
pub async fn eventually(secs: f64, what: &str, mut check: impl AsyncFnMut() -> bool) {
    eventually_some(secs, what, async || check().await.then_some(())).await
}

/// Re-checks `check` until it returns `Some`; panics naming `what` after `secs` seconds.
pub async fn eventually_some<T>(
    secs: f64,
    what: &str,
    mut check: impl AsyncFnMut() -> Option<T>,
) -> T {
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(secs);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {secs} s waiting for: {what}"
        );
        tokio::time::sleep(POLL).await;
    }
}
