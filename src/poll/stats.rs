//! Poll statistics in constant memory.
//!
//! Latencies go into a logarithmic histogram (2 % wide buckets from 1 µs to
//! over an hour: about 1,100 counters), so percentiles stay within 2 %
//! whether a run has ten polls or ten million, and memory never grows. The
//! last [`SPARK`] latencies are kept for the sparkline.

use std::collections::VecDeque;
use std::time::Duration;

/// Bucket ratio: each bucket is 2 % wider than the one before.
const RATIO: f64 = 1.02;
const BUCKETS: usize = 1200;
/// Latencies kept for the sparkline.
pub const SPARK: usize = 48;

#[derive(Debug, Clone)]
pub struct Stats {
    pub requests: u64,
    pub new: u64,
    pub changed: u64,
    pub up: u64,
    pub unchanged: u64,
    pub errors: u64,
    pub bytes: u64,
    /// Successful polls (for uptime).
    pub ok: u64,
    buckets: Vec<u64>,
    samples: u64,
    min: Option<Duration>,
    max: Option<Duration>,
    recent: VecDeque<Duration>,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            requests: 0,
            new: 0,
            changed: 0,
            up: 0,
            unchanged: 0,
            errors: 0,
            bytes: 0,
            ok: 0,
            buckets: vec![0; BUCKETS],
            samples: 0,
            min: None,
            max: None,
            recent: VecDeque::with_capacity(SPARK),
        }
    }
}

fn bucket(d: Duration) -> usize {
    let us = d.as_secs_f64() * 1e6;
    ((us + 1.0).ln() / RATIO.ln()) as usize
}

fn bucket_value(i: usize) -> Duration {
    // The middle of the bucket, in µs.
    let low = RATIO.powi(i as i32) - 1.0;
    let high = RATIO.powi(i as i32 + 1) - 1.0;
    Duration::from_secs_f64(((low + high) / 2.0).max(0.0) / 1e6)
}

impl Stats {
    /// Records one latency.
    pub fn latency(&mut self, d: Duration) {
        self.buckets[bucket(d).min(BUCKETS - 1)] += 1;
        self.samples += 1;
        self.min = Some(self.min.map_or(d, |m| m.min(d)));
        self.max = Some(self.max.map_or(d, |m| m.max(d)));
        if self.recent.len() == SPARK {
            self.recent.pop_front();
        }
        self.recent.push_back(d);
    }

    pub fn min(&self) -> Option<Duration> {
        self.min
    }

    pub fn max(&self) -> Option<Duration> {
        self.max
    }

    /// The `q`-quantile (0.5 for the median), within 2 %, clamped to the
    /// exact minimum and maximum.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        if self.samples == 0 {
            return None;
        }
        let rank = ((q * self.samples as f64).ceil() as u64).clamp(1, self.samples);
        let mut seen = 0;
        for (i, &n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                let v = bucket_value(i);
                return Some(v.clamp(self.min.unwrap_or(v), self.max.unwrap_or(v)));
            }
        }
        self.max
    }

    /// Recent latencies as `▁▂▃▄▅▆▇█`.
    pub fn sparkline(&self) -> String {
        const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
        let lo = self.recent.iter().min().copied().unwrap_or_default();
        let hi = self.recent.iter().max().copied().unwrap_or_default();
        let span = (hi - lo).as_secs_f64();
        self.recent
            .iter()
            .map(|d| {
                if span <= 0.0 {
                    BARS[0]
                } else {
                    BARS[(((*d - lo).as_secs_f64() / span) * 7.0).round() as usize]
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_within_two_percent() {
        let mut s = Stats::default();
        for ms in 1..=100u64 {
            s.latency(Duration::from_millis(ms));
        }
        let p50 = s.quantile(0.5).unwrap().as_secs_f64() * 1e3;
        let p95 = s.quantile(0.95).unwrap().as_secs_f64() * 1e3;
        assert!((p50 - 50.0).abs() / 50.0 < 0.02, "p50 {p50}");
        assert!((p95 - 95.0).abs() / 95.0 < 0.02, "p95 {p95}");
        assert_eq!(s.min(), Some(Duration::from_millis(1)));
        assert_eq!(s.max(), Some(Duration::from_millis(100)));
        assert_eq!(s.quantile(1.0), Some(Duration::from_millis(100)));
    }

    #[test]
    fn memory_is_flat() {
        let mut s = Stats::default();
        for i in 0..100_000u64 {
            s.latency(Duration::from_micros(i % 5000));
        }
        assert_eq!(s.buckets.len(), BUCKETS);
        assert_eq!(s.recent.len(), SPARK);
        assert!(s.quantile(0.5).is_some());
    }

    #[test]
    fn sparkline_scales() {
        let mut s = Stats::default();
        for ms in [1, 5, 9] {
            s.latency(Duration::from_millis(ms));
        }
        assert_eq!(s.sparkline(), "▁▅█");
        assert_eq!(Stats::default().sparkline(), "");
    }
}
