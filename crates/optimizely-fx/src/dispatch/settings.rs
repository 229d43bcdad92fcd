//! Tuning of a [`Dispatcher`](super::Dispatcher) and the retry delay it derives from it.

use std::time::Duration;

/// How a dispatcher batches, bounds and retries. Out-of-range values are clamped when the
/// dispatcher starts (see [`DispatchSettings::normalized`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DispatchSettings {
    /// Items per request in normal operation; reaching it cuts a batch at once.
    pub batch_size: usize,
    /// A waiting item is sent at the latest this long after it entered an empty queue.
    /// `Duration::ZERO` sends every item as soon as the worker sees it.
    pub flush_interval: Duration,
    /// Most items accepted and not yet delivered or given up (waiting, in flight, or kept
    /// after failing); further items are refused with `EnqueueError::Full`.
    pub queue_capacity: usize,
    /// Most items in one request when a backlog exists (more waiting than the free request
    /// slots can carry at `batch_size`).
    pub max_per_request: usize,
    /// Most requests in progress at once, which is also the number of sender threads.
    pub max_in_flight: usize,
    /// Attempts per batch and flush before the batch is kept for the next flush.
    pub max_attempts: u32,
    /// Delay before the second attempt; doubles for each further attempt.
    pub backoff_initial: Duration,
    /// Longest delay computed by the doubling.
    pub backoff_max: Duration,
    /// Longest server-requested (`Retry-After`) delay honoured.
    pub retry_after_max: Duration,
}

impl Default for DispatchSettings {
    fn default() -> Self {
        DispatchSettings {
            batch_size: 10,
            flush_interval: Duration::from_secs(1),
            queue_capacity: 10_000,
            max_per_request: 100,
            max_in_flight: 4,
            max_attempts: 3,
            backoff_initial: Duration::from_millis(200),
            backoff_max: Duration::from_secs(1),
            retry_after_max: Duration::from_secs(10),
        }
    }
}

impl DispatchSettings {
    /// The settings with every count at least 1 and `max_per_request >= batch_size`.
    pub(crate) fn normalized(mut self) -> Self {
        self.batch_size = self.batch_size.max(1);
        self.queue_capacity = self.queue_capacity.max(1);
        self.max_per_request = self.max_per_request.max(self.batch_size);
        self.max_in_flight = self.max_in_flight.max(1);
        self.max_attempts = self.max_attempts.max(1);
        self.backoff_max = self.backoff_max.max(self.backoff_initial);
        self
    }

    /// Delay before the next attempt of a batch that has failed `attempts_made` times:
    /// `backoff_initial` doubled per earlier failure, capped at `backoff_max`, plus up to a
    /// quarter of random jitter (still within the cap). A server's `Retry-After` is honoured
    /// up to `retry_after_max` when it asks for longer.
    pub(crate) fn retry_delay(
        &self,
        attempts_made: u32,
        retry_after: Option<Duration>,
    ) -> Duration {
        let doublings = attempts_made.saturating_sub(1).min(20);
        let base = self
            .backoff_initial
            .saturating_mul(1 << doublings)
            .min(self.backoff_max);
        let jitter = base.mul_f64(fastrand::f64() / 4.0);
        let backoff = (base + jitter).min(self.backoff_max);
        match retry_after {
            Some(asked) => backoff.max(asked.min(self.retry_after_max)),
            None => backoff,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(millis: u64) -> Duration {
        Duration::from_millis(millis)
    }

    #[test]
    fn backoff_doubles_from_200ms_with_jitter_and_caps_at_1s() {
        let settings = DispatchSettings::default();
        for _ in 0..200 {
            let first = settings.retry_delay(1, None);
            assert!(first >= ms(200) && first <= ms(250), "{first:?}");
            let second = settings.retry_delay(2, None);
            assert!(second >= ms(400) && second <= ms(500), "{second:?}");
            let third = settings.retry_delay(3, None);
            assert!(third >= ms(800) && third <= ms(1000), "{third:?}");
            assert_eq!(settings.retry_delay(9, None), ms(1000));
            assert_eq!(settings.retry_delay(u32::MAX, None), ms(1000));
        }
    }

    #[test]
    fn retry_after_is_honoured_but_clamped() {
        let settings = DispatchSettings::default();
        assert_eq!(
            settings.retry_delay(1, Some(Duration::from_secs(5))),
            Duration::from_secs(5)
        );
        assert_eq!(
            settings.retry_delay(1, Some(Duration::from_secs(3600))),
            Duration::from_secs(10)
        );
        let short = settings.retry_delay(1, Some(ms(1)));
        assert!(
            short >= ms(200),
            "a short Retry-After never shortens the backoff: {short:?}"
        );
    }

    #[test]
    fn normalization_clamps_nonsense() {
        let settings = DispatchSettings {
            batch_size: 0,
            queue_capacity: 0,
            max_per_request: 0,
            max_in_flight: 0,
            max_attempts: 0,
            ..DispatchSettings::default()
        }
        .normalized();
        assert_eq!(settings.batch_size, 1);
        assert_eq!(settings.queue_capacity, 1);
        assert_eq!(settings.max_per_request, 1);
        assert_eq!(settings.max_in_flight, 1);
        assert_eq!(settings.max_attempts, 1);

        let settings = DispatchSettings {
            batch_size: 50,
            max_per_request: 5,
            ..DispatchSettings::default()
        }
        .normalized();
        assert_eq!(settings.max_per_request, 50);
    }
}
