//! OPA's retry backoff (`v1/util/backoff.go`): 100 ms base, ×1.6 per retry, capped at `max`, ±20 % jitter.

use std::time::Duration;

use rand::Rng as _;

pub const BASE: Duration = Duration::from_millis(100);
pub const FACTOR: f64 = 1.6;
pub const JITTER: f64 = 0.2;

/// The delay before retry number `retries` (0 → no delay), as OPA's `DefaultBackoff` computes it.
pub fn delay(max: Duration, retries: u32) -> Duration {
    delay_with(
        BASE,
        max,
        JITTER,
        FACTOR,
        retries,
        rand::rng().random::<f64>(),
    )
}

/// [`delay`] with every input explicit; `unit` is a uniform sample in `[0, 1)`.
pub fn delay_with(
    base: Duration,
    max: Duration,
    jitter: f64,
    factor: f64,
    mut retries: u32,
    unit: f64,
) -> Duration {
    if retries == 0 {
        return Duration::ZERO;
    }
    let max = max.as_secs_f64();
    let mut backoff = base.as_secs_f64();
    while backoff < max && retries > 0 {
        backoff *= factor;
        retries -= 1;
    }
    if backoff > max {
        backoff = max;
    }
    backoff *= 1.0 + jitter * (unit * 2.0 - 1.0);
    if backoff.is_finite() && backoff > 0.0 {
        Duration::from_secs_f64(backoff)
    } else {
        Duration::ZERO
    }
}

/// A uniformly random delay in `[min, max]` (OPA's polling delay after a success).
pub fn uniform(min: Duration, max: Duration) -> Duration {
    if max <= min {
        return min;
    }
    let span = (max - min).as_secs_f64();
    min + Duration::from_secs_f64(span * rand::rng().random::<f64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_by_factor_caps_and_jitters() {
        let max = Duration::from_secs(10);
        let d = |retries, unit| delay_with(BASE, max, JITTER, FACTOR, retries, unit);
        assert_eq!(d(0, 0.5), Duration::ZERO);
        assert_eq!(d(1, 0.5).as_millis(), 160);
        assert_eq!(d(2, 0.5).as_millis(), 256);
        assert_eq!(d(50, 0.5), max);
        assert_eq!(d(50, 0.0).as_secs_f64(), 8.0);
        assert!((d(50, 0.999_999).as_secs_f64() - 12.0).abs() < 1e-3);
    }
}
