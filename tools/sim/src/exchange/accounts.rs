//! Accounts: tiers, API keys, balances, the fee schedule, the dead man's switch, and the
//! WebSocket tokens REST issues.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::{Exchange, Ns};

/// Account tier (`docs/kraken-protocol.md` §6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tier {
    /// 60 / 1 per s / 60 open orders per pair.
    Starter,
    /// 125 / 2.34 per s / 80.
    Intermediate,
    /// 180 / 3.75 per s / 225.
    Pro,
    /// Not a Kraken tier: no rate or open-order limit, for soak tests and benchmarks.
    Unlimited,
}

impl Tier {
    /// (threshold, decay per second, open orders per pair).
    pub fn limits(self) -> (f64, f64, usize) {
        match self {
            Tier::Starter => (60.0, 1.0, 60),
            Tier::Intermediate => (125.0, 2.34, 80),
            Tier::Pro => (180.0, 3.75, 225),
            Tier::Unlimited => (1e9, 0.0, usize::MAX),
        }
    }

    /// Kraken's REST call counter: (maximum, decay per second); `None` for `Unlimited`.
    /// Starter 15 / 0.33, Intermediate 20 / 0.5, Pro 20 / 1.
    pub fn rest_limits(self) -> Option<(f64, f64)> {
        match self {
            Tier::Starter => Some((15.0, 0.33)),
            Tier::Intermediate => Some((20.0, 0.5)),
            Tier::Pro => Some((20.0, 1.0)),
            Tier::Unlimited => None,
        }
    }

    /// Parses `starter|intermediate|pro`.
    pub fn parse(s: &str) -> Option<Tier> {
        match s {
            "starter" => Some(Tier::Starter),
            "intermediate" => Some(Tier::Intermediate),
            "pro" => Some(Tier::Pro),
            "unlimited" => Some(Tier::Unlimited),
            _ => None,
        }
    }
}

/// An API account.
#[derive(Clone, Debug)]
pub struct Account {
    pub key: String,
    pub secret: Vec<u8>,
    /// Spot balances (what trading spends).
    pub balances: BTreeMap<String, Decimal>,
    /// Earn balances (`flex`), reported beside spot in the `balances` channel as Kraken does:
    /// counted in the asset's total, not spendable.
    pub earn: BTreeMap<String, Decimal>,
    pub last_nonce: u64,
    pub tier: Tier,
    pub(super) rate: HashMap<usize, (f64, Ns)>,
    /// The REST call counter: (level, when it was last brought up to date).
    pub(super) rest_calls: (f64, Ns),
    pub(super) dead_man: Option<Ns>,
    pub(super) ledger_seq: u64,
}

impl Account {
    /// A funded account.
    pub fn new(key: &str, secret: &[u8], tier: Tier) -> Self {
        let mut balances = BTreeMap::new();
        for (a, v) in [
            ("USD", "10000000"),
            ("BTC", "100"),
            ("ETH", "1000"),
            ("SOL", "10000"),
        ] {
            balances.insert(a.to_string(), Decimal::from_str(v).unwrap());
        }
        Self {
            key: key.into(),
            secret: secret.to_vec(),
            balances,
            earn: BTreeMap::new(),
            last_nonce: 0,
            tier,
            rate: HashMap::new(),
            rest_calls: (0.0, 0),
            dead_man: None,
            ledger_seq: 0,
        }
    }
}

impl Exchange {
    /// The account of an API key.
    pub fn account_by_key(&self, key: &str) -> Option<usize> {
        self.accounts.iter().position(|a| a.key == key)
    }

    // ---- tokens -------------------------------------------------------------------------

    /// Issues a WS token (REST GetWebSocketsToken).
    pub fn issue_token(&mut self, account: usize, now: Ns) -> String {
        let mut t = String::new();
        for _ in 0..3 {
            let _ = write!(t, "{:x}", self.rand());
        }
        t.push_str("+/s");
        self.tokens.insert(t.clone(), (account, now));
        t
    }

    /// The account a token belongs to, if it is valid now: issued < 900 s ago, or holding a live
    /// private subscription.
    pub fn check_token(&self, token: Option<&str>, now: Ns) -> Result<usize, String> {
        let t = token.ok_or("ESession:Invalid session")?;
        let &(acct, issued) = self.tokens.get(t).ok_or("ESession:Invalid session")?;
        let fresh = now.saturating_sub(issued) < 900_000_000_000;
        let held = self.subs.iter().any(|s| s.token == t);
        if fresh || held {
            Ok(acct)
        } else {
            Err("ESession:Invalid session".into())
        }
    }

    /// Fault: every token becomes invalid.
    pub fn invalidate_tokens(&mut self) {
        self.tokens.clear();
    }

    /// Whether the account's dead man's switch is armed.
    pub fn dead_man_armed(&self, acct: usize) -> bool {
        self.accounts[acct].dead_man.is_some()
    }

    pub(super) fn fee_rate(maker: bool) -> Decimal {
        if maker {
            Decimal::new(16, 4)
        } else {
            Decimal::new(26, 4)
        }
    }

    /// Balances of `acct` (REST `Balance`).
    pub fn balances(&self, acct: usize) -> Value {
        Value::Object(
            self.accounts[acct]
                .balances
                .iter()
                .map(|(k, v)| (k.clone(), json!(v.to_string())))
                .collect(),
        )
    }
}
