//! Floods: what one source address may send before the edge stops doing
//! work for it (requests past a per-address rate are dropped and counted).
//!
//! Malformed and oversized datagrams are answered before the stack sees
//! them ([`crate::screen`]); those answers count against the same
//! allowance.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

/// Requests per second one source address may send, sustained.
pub const RATE_PER_SEC: f64 = 200.0;
/// How many it may send at once above the rate.
pub const BURST: f64 = 400.0;
/// Sources tracked at once; the idlest are forgotten past this.
const MAX_SOURCES: usize = 100_000;

/// A token bucket per source address.
#[derive(Default)]
pub struct Flood {
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

impl Flood {
    /// True if `source` may send one more request now.
    pub fn admit(&self, source: IpAddr) -> bool {
        self.admit_at(source, Instant::now())
    }

    fn admit_at(&self, source: IpAddr, now: Instant) -> bool {
        let mut buckets = self.buckets.lock().expect("flood lock poisoned");
        if buckets.len() >= MAX_SOURCES && !buckets.contains_key(&source) {
            buckets.retain(|_, (tokens, at)| {
                *tokens + now.duration_since(*at).as_secs_f64() * RATE_PER_SEC < BURST
            });
        }
        let (tokens, at) = buckets.entry(source).or_insert((BURST, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * RATE_PER_SEC).min(BURST);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_source_gets_its_burst_then_the_rate_and_others_are_not_slowed() {
        let flood = Flood::default();
        let (a, b) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        let t0 = Instant::now();
        let admitted = (0..1000).filter(|_| flood.admit_at(a, t0)).count();
        assert_eq!(admitted, BURST as usize);
        assert!(flood.admit_at(b, t0), "another source is not limited");
        let later = t0 + Duration::from_millis(100);
        let refilled = (0..1000).filter(|_| flood.admit_at(a, later)).count();
        assert_eq!(refilled, (RATE_PER_SEC / 10.0) as usize);
    }
}
