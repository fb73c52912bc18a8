//! The exchange state machine: accounts, tokens, books, matching, the rate counter, the
//! ledger, and the executions/balances streams. No sockets and no clock inside: every call
//! takes the simulated time `now` (nanoseconds), so tests drive it deterministically.
//!
//! This file holds the [`Exchange`] itself and what ties it together (its construction, its
//! random numbers, its ids); the submodules add to it by seam, each with its own `impl
//! Exchange` block: `pairs` (instruments), `accounts` (tiers, balances, fees, keys, tokens),
//! `wire` and `new_order` (numbers, times, parameters, the normalised new-order request),
//! `open` (the open-order index and its running sums), `orders` (order entry), `matching`
//! (the matching engine and the market's time-driven behaviour), `rate` (Kraken's rate
//! counters), `streams` (connections, subscriptions, queued frames, snapshots), `faults`,
//! `ledger` (the ledger of truth and the request log), `queries` (REST order and trade
//! queries), and `seed` (seeded histories).

use std::collections::HashMap;

use serde_json::Value;

mod accounts;
mod faults;
mod ledger;
mod matching;
mod new_order;
mod open;
mod orders;
mod pairs;
mod queries;
mod rate;
mod seed;
mod streams;
mod wire;

#[cfg(test)]
mod tests;

pub use accounts::{Account, Tier};
pub use faults::Faults;
pub use ledger::LoggedRequest;
pub use new_order::NewOrder;
pub use orders::{SimFill, SimOrder};
pub use pairs::{Pair, default_pairs, rest_asset};
pub use wire::{dec_param, dec_str, parse_rfc3339, rfc3339};

use open::OpenBook;
use streams::Sub;

/// Simulated nanoseconds since the Unix epoch.
pub type Ns = u64;

/// The whole exchange.
pub struct Exchange {
    pub pairs: Vec<Pair>,
    pub accounts: Vec<Account>,
    pub orders: Vec<SimOrder>,
    index: HashMap<String, usize>,
    /// Orders by client id (ids are reused once an order closes), oldest first.
    by_cl_ord_id: HashMap<String, Vec<usize>>,
    /// Indices of open orders, so scans cost the open book, not the history.
    open: std::collections::BTreeSet<usize>,
    /// What each open order counts for, kept as orders change (`sync_open`), so that placing
    /// and cancelling cost the same with 20,000 orders resting as with none.
    held: OpenBook,
    pub fills: Vec<SimFill>,
    tokens: HashMap<String, (usize, Ns)>,
    subs: Vec<Sub>,
    outbox: HashMap<u64, Vec<String>>,
    conns: Vec<u64>,
    public_subs: Vec<u64>,
    /// `book` subscriptions and what each was last sent.
    pub(crate) book_subs: Vec<crate::book::BookSub>,
    /// Draws the synthetic market's sizes.
    pub(crate) book_seed: u64,
    /// The public tape (`trade`, `ticker`), its last number, and its subscriptions.
    pub(crate) tape: Vec<crate::tape::TapeTrade>,
    pub(crate) tape_seq: u64,
    pub(crate) tape_subs: Vec<crate::tape::TapeSub>,
    pub status: &'static str,
    pub faults: Faults,
    /// Every order-entry request received, in order.
    pub requests: Vec<LoggedRequest>,
    /// Private REST calls received, by method.
    pub private_calls: HashMap<String, u64>,
    /// Private REST calls refused by the REST call counter.
    pub rest_rate_limited: u64,
    next_id: u64,
    next_trade: u64,
    priority: u64,
    rng: u64,
    /// Synthetic counterparty flow on/off.
    pub market_flow: bool,
    /// Kraken's REST call counter enforced (on by default, at each account's tier).
    pub rest_counter: bool,
}

/// A request's outcome: the ack (or error) to the caller.
pub type Reply = Result<Value, String>;

impl Exchange {
    /// An exchange with `pairs`, one account per `(key, secret, tier)`.
    pub fn new(pairs: Vec<Pair>, accounts: Vec<Account>, seed: u64) -> Self {
        Self {
            pairs,
            accounts,
            orders: Vec::new(),
            index: HashMap::new(),
            by_cl_ord_id: HashMap::new(),
            open: std::collections::BTreeSet::new(),
            held: OpenBook::default(),
            fills: Vec::new(),
            tokens: HashMap::new(),
            subs: Vec::new(),
            outbox: HashMap::new(),
            conns: Vec::new(),
            public_subs: Vec::new(),
            book_subs: Vec::new(),
            book_seed: seed,
            tape: Vec::new(),
            tape_seq: 0,
            tape_subs: Vec::new(),
            status: "online",
            faults: Faults::default(),
            requests: Vec::new(),
            private_calls: HashMap::new(),
            rest_rate_limited: 0,
            next_id: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
            next_trade: 1,
            priority: 0,
            rng: seed ^ 0x2545_F491_4F6C_DD1D,
            market_flow: true,
            rest_counter: true,
        }
    }

    fn rand(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    fn kraken_id(&mut self, prefix: char) -> String {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        self.next_id = self.next_id.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut x = self.next_id;
        let mut s = String::with_capacity(19);
        s.push(prefix);
        for i in 1..17 {
            if i == 6 || i == 11 {
                s.push('-');
            }
            s.push(A[(x & 31) as usize] as char);
            x >>= 5;
        }
        s
    }
}
