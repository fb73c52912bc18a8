//! The session's timers: one table, one deadline per kind, the earliest one is the next wake-up.

/// What a session waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timer {
    /// The next connection attempt (after a backoff), or the next token fetch after a failure.
    Reconnect,
    /// No frame for a while: the connection is dead.
    Watchdog,
    /// A quiet connection gets a ping, so the watchdog is fed and middleboxes keep it.
    KeepAlive,
    /// The dead man's switch is refreshed.
    DeadMan,
    /// The WebSocket token is fetched again before it expires.
    TokenRefresh,
    /// A trade-history window at risk is read (again).
    TradesFetch,
    /// A refused or unanswered subscription is sent again.
    SubscriptionRetry,
    /// The oldest strategy request in flight runs out of time.
    RequestDeadline,
    /// One of our own requests (subscribe, ping, dead man) runs out of time.
    InternalDeadline,
    /// An acknowledged order request's executions frames are overdue.
    ExecConfirm,
    /// The executions stream has been quiet long enough to check it with a fresh snapshot.
    QuietResync,
}

impl Timer {
    /// Every timer, in the order expired ones are handled.
    pub const ALL: [Timer; 11] = [
        Timer::RequestDeadline,
        Timer::InternalDeadline,
        Timer::ExecConfirm,
        Timer::Watchdog,
        Timer::SubscriptionRetry,
        Timer::TradesFetch,
        Timer::DeadMan,
        Timer::QuietResync,
        Timer::KeepAlive,
        Timer::TokenRefresh,
        Timer::Reconnect,
    ];

    fn slot(self) -> usize {
        self as usize
    }
}

/// One deadline (monotonic ns) per [`Timer`]; [`UNARMED`] when it has none. A plain array,
/// not `Option`s: the earliest is a `min` over eleven words, read on every turn of the loop.
#[derive(Clone, Debug)]
pub struct Timers {
    at: [u64; Timer::ALL.len()],
}

/// A timer's deadline when it is not armed (no monotonic clock reaches it: 584 years).
const UNARMED: u64 = u64::MAX;

impl Default for Timers {
    fn default() -> Self {
        Self {
            at: [UNARMED; Timer::ALL.len()],
        }
    }
}

impl Timers {
    /// Arms `t` at `at` (replacing what it had).
    pub fn set(&mut self, t: Timer, at: u64) {
        self.at[t.slot()] = at;
    }

    /// Arms `t` at `at` unless it is armed earlier already.
    pub fn set_earliest(&mut self, t: Timer, at: u64) {
        let slot = &mut self.at[t.slot()];
        *slot = (*slot).min(at);
    }

    /// Disarms `t`.
    pub fn clear(&mut self, t: Timer) {
        self.at[t.slot()] = UNARMED;
    }

    /// When `t` fires, if armed.
    pub fn get(&self, t: Timer) -> Option<u64> {
        let at = self.at[t.slot()];
        (at != UNARMED).then_some(at)
    }

    /// The earliest armed deadline.
    pub fn next(&self) -> Option<u64> {
        let at = self.at.iter().copied().fold(UNARMED, u64::min);
        (at != UNARMED).then_some(at)
    }

    /// Disarms and returns the first timer (in [`Timer::ALL`] order) due at `now`.
    pub fn take_expired(&mut self, now: u64) -> Option<Timer> {
        if self.next().is_none_or(|at| at > now) {
            return None;
        }
        let t = Timer::ALL.into_iter().find(|t| {
            let at = self.at[t.slot()];
            at <= now && at != UNARMED
        })?;
        self.clear(t);
        Some(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_earliest_deadline_is_the_next_wake_up_and_expired_ones_come_out_once() {
        let mut t = Timers::default();
        assert_eq!(t.next(), None);
        t.set(Timer::Watchdog, 50);
        t.set(Timer::TokenRefresh, 20);
        t.set_earliest(Timer::Watchdog, 70);
        assert_eq!(t.get(Timer::Watchdog), Some(50));
        t.set_earliest(Timer::Watchdog, 30);
        assert_eq!(t.next(), Some(20));
        assert_eq!(t.take_expired(19), None);
        assert_eq!(t.take_expired(40), Some(Timer::Watchdog));
        assert_eq!(t.take_expired(40), Some(Timer::TokenRefresh));
        assert_eq!(t.take_expired(40), None);
        assert_eq!(t.next(), None);
        t.set(Timer::Reconnect, 5);
        t.clear(Timer::Reconnect);
        assert_eq!(t.take_expired(u64::MAX), None);
        // Even at the end of time, a timer never armed is not taken for an expired one.
        t.set(Timer::KeepAlive, 100);
        assert_eq!(t.take_expired(u64::MAX), Some(Timer::KeepAlive));
        assert_eq!(t.take_expired(u64::MAX), None);
    }
}
