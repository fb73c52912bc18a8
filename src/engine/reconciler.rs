//! Lookups of orders whose state the engine lost (unknown outcomes, orders a snapshot no longer
//! lists, fills of orders it never tracked), sans-IO: what to look up next, and when a lookup
//! that failed is asked again (after 2 s, doubling to 60 s; reported as failing after three).

use std::collections::VecDeque;

use crate::order::OrderRef;
use crate::types::OrderStatus;

/// Pause before the first retry of a failed lookup; it doubles with each failure.
const RETRY_NS: u64 = 1_000_000_000;
/// At most this long between lookups that keep failing.
const RETRY_MAX_NS: u64 = 60_000_000_000;
/// Failures in a row after which lookups are reported failing (they go on).
const REPORT_AFTER: u8 = 3;

/// A failed lookup waiting to be asked again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Retry {
    target: OrderRef,
    failures: u8,
    /// `u64::MAX` while its lookup is out.
    due: u64,
}

/// What a lookup's answer means for the order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The exchange holds it in this state: settled.
    Found,
    /// A complete search of the window it could have been opened in, after that window
    /// closed, did not find it: it was never placed.
    NeverPlaced,
    /// The lookup failed; asked again later. `report`: say so now (the third in a row).
    Retry {
        /// Report recovery as failing.
        report: bool,
    },
}

/// See the module documentation.
#[derive(Debug, Default)]
pub struct Reconciler {
    queue: VecDeque<OrderRef>,
    retries: VecDeque<Retry>,
    reported: u64,
}

impl Reconciler {
    /// An empty one, with room for `capacity` lookups before it allocates.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            queue: VecDeque::with_capacity(capacity),
            retries: VecDeque::with_capacity(capacity),
            reported: 0,
        }
    }

    /// Looks `target` up (soon).
    pub fn look_up(&mut self, target: OrderRef) {
        self.queue.push_back(target);
    }

    /// The next lookup to send.
    pub fn next_lookup(&mut self) -> Option<OrderRef> {
        self.queue.pop_front()
    }

    /// Gives back a lookup that could not be sent; it is next again.
    pub fn unsend(&mut self, target: OrderRef) {
        self.queue.push_front(target);
    }

    /// Queues the retries due at `now` whose order is still unknown (`still_unknown` says).
    pub fn due(&mut self, now: u64, still_unknown: impl Fn(&OrderRef) -> bool) {
        while let Some(&r) = self.retries.front() {
            if r.due > now {
                break;
            }
            self.retries.pop_front();
            if still_unknown(&r.target) {
                // The failure count stays with the order while its lookup is out.
                self.retries.push_back(Retry { due: u64::MAX, ..r });
                self.queue.push_back(r.target);
            }
        }
    }

    /// The answer to a lookup of `target`: `status` is what the exchange holds (`Unknown`:
    /// the lookup failed; `None`: not found after its window closed).
    pub fn on_resolved(
        &mut self,
        target: &OrderRef,
        status: Option<OrderStatus>,
        now: u64,
    ) -> Verdict {
        let failures = self
            .retries
            .iter()
            .find(|r| r.target == *target)
            .map_or(0, |r| r.failures);
        self.retries.retain(|r| r.target != *target);
        match status {
            Some(OrderStatus::Unknown) => {
                let failures = failures.saturating_add(1);
                let report = failures == REPORT_AFTER;
                if report {
                    self.reported += 1;
                }
                let delay = (RETRY_NS << failures.min(6)).min(RETRY_MAX_NS);
                self.retries.push_back(Retry {
                    target: *target,
                    failures,
                    due: now + delay,
                });
                // Sorted by due time (a lookup out, `u64::MAX`, stays last).
                self.retries.make_contiguous().sort_by_key(|r| r.due);
                Verdict::Retry { report }
            }
            None => Verdict::NeverPlaced,
            Some(_) => Verdict::Found,
        }
    }

    /// Orders whose lookups were reported failing.
    pub fn reported(&self) -> u64 {
        self.reported
    }

    /// Lookups queued or waiting to be asked again.
    #[cfg(test)]
    pub fn pending(&self) -> usize {
        self.queue.len() + self.retries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::ClOrdId;

    const S: u64 = 1_000_000_000;

    fn order(n: u64) -> OrderRef {
        OrderRef::ClOrdId(ClOrdId::with_counter("r-", n).unwrap())
    }

    #[test]
    fn failed_lookups_back_off_from_two_seconds_to_a_minute_and_are_reported_once() {
        let mut r = Reconciler::default();
        let a = order(1);
        r.look_up(a);
        assert_eq!(r.next_lookup(), Some(a));
        let mut now = 0;
        let mut delays = Vec::new();
        let mut reports = Vec::new();
        for _ in 0..8 {
            let v = r.on_resolved(&a, Some(OrderStatus::Unknown), now);
            reports.push(v == Verdict::Retry { report: true });
            // Not before its time...
            let mut t = now;
            loop {
                t += S / 2;
                r.due(t, |_| true);
                if let Some(x) = r.next_lookup() {
                    assert_eq!(x, a);
                    break;
                }
            }
            delays.push((t - now) / (S / 2));
            now = t;
        }
        assert_eq!(delays, [4, 8, 16, 32, 64, 120, 120, 120]);
        assert_eq!(
            reports,
            [false, false, true, false, false, false, false, false]
        );
        assert_eq!(r.reported(), 1);
    }

    #[test]
    fn a_retry_is_dropped_once_the_order_is_known_and_verdicts_follow_the_answer() {
        let mut r = Reconciler::default();
        let (a, b) = (order(1), order(2));
        r.on_resolved(&a, Some(OrderStatus::Unknown), 0);
        r.on_resolved(&b, Some(OrderStatus::Unknown), 0);
        // `a` was settled meanwhile (its ack, a report): not asked again.
        r.due(10 * S, |t| *t == b);
        assert_eq!(r.next_lookup(), Some(b));
        assert_eq!(r.next_lookup(), None);
        assert_eq!(
            r.on_resolved(&b, Some(OrderStatus::Open), 10 * S),
            Verdict::Found
        );
        assert_eq!(r.on_resolved(&a, None, 10 * S), Verdict::NeverPlaced);
        assert_eq!(r.pending(), 0);
        r.unsend(a);
        assert_eq!(r.next_lookup(), Some(a));
    }

    #[test]
    fn lookups_are_reported_failing_from_the_third_failure_each_order_once() {
        let mut r = Reconciler::default();
        let (a, b) = (order(1), order(2));
        for now in [0, 10 * S] {
            r.on_resolved(&a, Some(OrderStatus::Unknown), now);
            r.on_resolved(&b, Some(OrderStatus::Unknown), now);
        }
        assert_eq!(r.reported(), 0, "two failures each");
        for now in [20 * S, 30 * S] {
            r.on_resolved(&a, Some(OrderStatus::Unknown), now);
            r.on_resolved(&b, Some(OrderStatus::Unknown), now);
        }
        assert_eq!(r.reported(), 2, "both, once");
    }
}
