//! Time: the [`Clock`] that timestamps records, and the ids weir hands out.
//!
//! Waiting (retry spacing, batching windows, visibility timeouts, function timeouts) is done
//! with tokio's timers, so a test runtime with paused time (`#[tokio::test(start_paused =
//! true)]`) runs a 2-minute retry or a 6-hour age limit in milliseconds. Wall-clock times
//! (event ages, invocation record timestamps, SQS `SentTimestamp`) come from a [`Clock`]; the
//! default, [`TokioClock`], follows tokio's clock, so the two agree when time is paused.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Where wall-clock time comes from: milliseconds since the Unix epoch.
///
/// # Example
/// ```
/// use weir_route::Clock;
/// struct Fixed(u64);
/// impl Clock for Fixed {
///     fn now_ms(&self) -> u64 { self.0 }
/// }
/// assert_eq!(Fixed(5).now_ms(), 5);
/// ```
pub trait Clock: Send + Sync + 'static {
    /// The current time, in milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
}

/// A wall clock that advances with tokio's clock: the time it was made at, plus the tokio
/// time elapsed since. Under paused test time it moves only when tokio's clock does.
///
/// # Example
/// ```
/// use weir_route::{Clock, TokioClock};
/// let clock = TokioClock::starting_at(1_700_000_000_000);
/// assert!(clock.now_ms() >= 1_700_000_000_000);
/// ```
#[derive(Debug, Clone)]
pub struct TokioClock {
    base_ms: u64,
    base: tokio::time::Instant,
}

impl TokioClock {
    /// A clock starting at the system's current time.
    ///
    /// # Example
    /// ```
    /// use weir_route::{Clock, TokioClock};
    /// assert!(TokioClock::new().now_ms() > 1_600_000_000_000);
    /// ```
    pub fn new() -> TokioClock {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        TokioClock::starting_at(now)
    }

    /// A clock that reads `epoch_ms` now.
    ///
    /// # Example
    /// ```
    /// use weir_route::{Clock, TokioClock};
    /// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build()?.block_on(async {
    /// let clock = TokioClock::starting_at(1_000);
    /// tokio::time::sleep(std::time::Duration::from_secs(60)).await;
    /// assert_eq!(clock.now_ms(), 61_000);
    /// # });
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn starting_at(epoch_ms: u64) -> TokioClock {
        TokioClock {
            base_ms: epoch_ms,
            base: tokio::time::Instant::now(),
        }
    }
}

impl Default for TokioClock {
    fn default() -> Self {
        TokioClock::new()
    }
}

impl Clock for TokioClock {
    fn now_ms(&self) -> u64 {
        self.base_ms + self.base.elapsed().as_millis() as u64
    }
}

/// An ISO 8601 UTC timestamp with milliseconds (`2019-11-24T23:08:25.651Z`), as Lambda's
/// records write them.
///
/// # Example
/// ```
/// assert_eq!(weir_route::clock::iso8601(0), "1970-01-01T00:00:00.000Z");
/// assert_eq!(weir_route::clock::iso8601(1_574_636_905_651), "2019-11-24T23:08:25.651Z");
/// ```
pub fn iso8601(epoch_ms: u64) -> String {
    let seconds = iso8601_seconds((epoch_ms / 1000) as i64);
    format!("{}.{:03}Z", &seconds[..seconds.len() - 1], epoch_ms % 1000)
}

/// `seconds` since the Unix epoch (before it too) as ISO 8601 UTC to the second
/// (`2024-01-02T03:04:05Z`), the form of an EventBridge event's `time`.
///
/// # Example
/// ```
/// assert_eq!(weir_route::clock::iso8601_seconds(1_704_164_645), "2024-01-02T03:04:05Z");
/// assert_eq!(weir_route::clock::iso8601_seconds(-1), "1969-12-31T23:59:59Z");
/// ```
pub fn iso8601_seconds(seconds: i64) -> String {
    let days = seconds.div_euclid(86_400);
    let rem = seconds.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's method).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// A fresh id in the UUID layout (`8-4-4-4-12` hex digits, version 4), as Lambda's request
/// ids and SQS message ids look. Unique within the process; not cryptographically random.
///
/// # Example
/// ```
/// let id = weir_route::clock::new_id();
/// assert_eq!(id.len(), 36);
/// assert_ne!(id, weir_route::clock::new_id());
/// ```
pub fn new_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static SEED: AtomicU64 = AtomicU64::new(0);
    let mut seed = SEED.load(Ordering::Relaxed);
    if seed == 0 {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64);
        seed = nanos ^ (u64::from(std::process::id()) << 32) | 1;
        SEED.store(seed, Ordering::Relaxed);
    }
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let a = splitmix(seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let b = splitmix(a ^ n);
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | ((b >> 48) & 0x3fff),
        b & 0xffff_ffff_ffff
    )
}

fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_handles_leap_years_and_month_ends() {
        assert_eq!(iso8601(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(iso8601(1_709_251_199_999), "2024-02-29T23:59:59.999Z");
        assert_eq!(iso8601(1_735_689_600_000), "2025-01-01T00:00:00.000Z");
    }

    #[test]
    fn ids_are_distinct_and_shaped_like_uuids() {
        let ids: std::collections::HashSet<String> = (0..1000).map(|_| new_id()).collect();
        assert_eq!(ids.len(), 1000);
        for id in ids.iter().take(5) {
            let parts: Vec<&str> = id.split('-').collect();
            assert_eq!(
                parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
                [8, 4, 4, 4, 12]
            );
            assert!(parts[2].starts_with('4'));
        }
    }
}
