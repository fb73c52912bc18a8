//! The exchange state machine: accounts, tokens, books, matching, the rate counter, the
//! ledger, and the executions/balances streams. No sockets and no clock inside: every call
//! takes the simulated time `now` (nanoseconds), so tests drive it deterministically.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::str::FromStr;

use rust_decimal::Decimal;

use serde_json::{Map, Value, json};

/// Simulated nanoseconds since the Unix epoch.
pub type Ns = u64;

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

/// A tradable pair and its rules.
#[derive(Clone, Debug)]
pub struct Pair {
    /// `BTC/USD`
    pub symbol: String,
    /// REST name (Kraken's `altname`), `XBTUSD`.
    pub rest_name: String,
    /// Kraken's pair key, `XXBTZUSD`: what `AssetPairs` is keyed by and `TradesHistory`
    /// reports.
    pub key: String,
    /// Base asset.
    pub base: String,
    /// Quote asset.
    pub quote: String,
    /// Price tick.
    pub price_increment: Decimal,
    /// Quantity step.
    pub qty_increment: Decimal,
    /// Minimum quantity.
    pub qty_min: Decimal,
    /// Minimum cost.
    pub cost_min: Decimal,
    /// Decimals of prices.
    pub price_precision: u32,
    /// Decimals of quantities.
    pub qty_precision: u32,
    /// Reference (last/index) price of the synthetic market.
    pub ref_price: Decimal,
}

/// An asset's REST key as Kraken's `AssetPairs` and `Balance` name it: the legacy assets
/// carry an `X` (crypto) or `Z` (fiat) prefix, and BTC is `XBT`, DOGE is `XDG`.
pub fn rest_asset(v2: &str) -> String {
    match v2 {
        "BTC" => "XXBT".into(),
        "DOGE" => "XXDG".into(),
        "ETH" | "LTC" | "XRP" | "XLM" | "XMR" | "ZEC" | "ETC" => format!("X{v2}"),
        "USD" | "EUR" | "GBP" | "JPY" | "CAD" => format!("Z{v2}"),
        other => other.into(),
    }
}

impl Pair {
    /// Kraken's `wsname` for the pair: the v1 WebSocket's name, with REST's asset codes
    /// (`XBT/USD`), not v2's `BTC/USD`.
    pub fn rest_wsname(&self) -> String {
        let code = |a: &str| match a {
            "BTC" => "XBT".to_string(),
            "DOGE" => "XDG".to_string(),
            a => a.to_string(),
        };
        format!("{}/{}", code(&self.base), code(&self.quote))
    }
}

/// The default pairs, with realistic increments.
pub fn default_pairs() -> Vec<Pair> {
    let p =
        |s: &str, r: &str, b: &str, q: &str, pi: &str, pp: u32, qm: &str, cm: &str, px: &str| {
            Pair {
                symbol: s.into(),
                rest_name: r.into(),
                key: match r {
                    "XBTUSD" => "XXBTZUSD",
                    "ETHUSD" => "XETHZUSD",
                    "ETHXBT" => "XETHXXBT",
                    other => other,
                }
                .into(),
                base: b.into(),
                quote: q.into(),
                price_increment: Decimal::from_str(pi).unwrap(),
                qty_increment: Decimal::new(1, 8),
                qty_min: Decimal::from_str(qm).unwrap(),
                cost_min: Decimal::from_str(cm).unwrap(),
                price_precision: pp,
                qty_precision: 8,
                ref_price: Decimal::from_str(px).unwrap(),
            }
        };
    vec![
        p(
            "BTC/USD", "XBTUSD", "BTC", "USD", "0.1", 1, "0.0001", "0.5", "65000.0",
        ),
        p(
            "ETH/USD", "ETHUSD", "ETH", "USD", "0.01", 2, "0.001", "0.5", "3200.00",
        ),
        p(
            "SOL/USD", "SOLUSD", "SOL", "USD", "0.01", 2, "0.02", "0.5", "150.00",
        ),
        p(
            "ETH/BTC", "ETHXBT", "ETH", "BTC", "0.00001", 5, "0.002", "0.00002", "0.04900",
        ),
    ]
}

/// An order in the simulator.
#[derive(Clone, Debug)]
pub struct SimOrder {
    pub id: String,
    pub cl_ord_id: Option<String>,
    pub userref: i64,
    pub account: usize,
    pub pair: usize,
    pub buy: bool,
    pub order_type: String,
    pub qty: Decimal,
    pub filled: Decimal,
    pub cum_cost: Decimal,
    pub fees: Decimal,
    pub limit_price: Option<Decimal>,
    pub trigger_price: Option<Decimal>,
    pub trigger_pct: bool,
    pub triggered: bool,
    pub tif: String,
    pub expire_ns: Option<Ns>,
    pub post_only: bool,
    pub reduce_only: bool,
    pub display_qty: Option<Decimal>,
    /// Reference price at placement (pct triggers are relative to it), then, for trailing
    /// orders, the best price since: the peak a sell trails, the trough a buy trails.
    pub peak: Decimal,
    /// Quantity filled since the visible part of an iceberg was last refilled.
    pub shown_filled: Decimal,
    pub status: &'static str,
    pub placed_ns: Ns,
    /// When it was opened (`opentm`; an amend does not move it, unlike `placed_ns`).
    pub opened_ns: Ns,
    /// When it closed (`closetm`).
    pub closed_ns: Option<Ns>,
    pub priority: u64,
    pub reason: Option<String>,
}

impl SimOrder {
    fn remaining(&self) -> Decimal {
        self.qty - self.filled
    }
    fn is_open(&self) -> bool {
        matches!(self.status, "pending_new" | "new" | "partially_filled")
    }
    fn avg_price(&self) -> Decimal {
        if self.filled.is_zero() {
            Decimal::ZERO
        } else {
            (self.cum_cost / self.filled).round_dp(10).normalize()
        }
    }
}

/// A fill, as recorded in the ledger.
#[derive(Clone, Debug)]
pub struct SimFill {
    pub exec_id: String,
    pub trade_id: u64,
    pub order_id: String,
    pub cl_ord_id: Option<String>,
    pub symbol: String,
    pub side: &'static str,
    pub qty: Decimal,
    pub price: Decimal,
    pub fee: Decimal,
    pub fee_asset: String,
    pub maker: bool,
    pub timestamp: String,
    /// Exchange time of the trade.
    pub at_ns: Ns,
    pub account: usize,
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
    rate: HashMap<usize, (f64, Ns)>,
    /// The REST call counter: (level, when it was last brought up to date).
    rest_calls: (f64, Ns),
    dead_man: Option<Ns>,
    ledger_seq: u64,
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

#[derive(Clone, Debug)]
struct Sub {
    conn: u64,
    account: usize,
    channel: &'static str,
    seq: u64,
    token: String,
}

/// Injectable faults (the state the exchange itself honours; transport faults are applied by
/// the server).
#[derive(Clone, Debug, Default)]
pub struct Faults {
    /// Drop the next executions frame of each subscription (a sequence gap).
    pub drop_exec_frames: u32,
    /// The next N `book` updates carry one level a unit of its last digit off (their
    /// checksum is the true book's): a client's book no longer matches.
    pub corrupt_book: u32,
    /// REST answers `EService:Unavailable`.
    pub rest_unavailable: bool,
    /// REST answers `EService:Busy` (before executing, like `rest_unavailable`).
    pub rest_busy: bool,
    /// The next N WebSocket order requests are executed but get no ack (lost on the way).
    pub drop_acks: u32,
    /// The next N private REST calls are executed, then answered by the edge with a 502 and an
    /// HTML page instead of Kraken's reply.
    pub rest_lose_reply: u32,
    /// The next N private REST calls are executed, then the connection is reset unanswered.
    pub rest_reset: u32,
    /// Every private REST call waits this long before it executes.
    pub rest_delay_ms: u64,
    /// WebSocket req_ids are echoed after a round trip through a double.
    pub req_id_double: bool,
    /// The next N `executions` subscriptions are refused (`EGeneral:Internal error`).
    pub refuse_exec_subs: u32,
    /// The next N `executions` subscriptions are never answered.
    pub ignore_exec_subs: u32,
    /// The key may trade but not query: order and trade queries answer
    /// `EGeneral:Permission denied`.
    pub no_query_permission: bool,
    /// Percent of order requests whose ack is sent after the executions frames they caused
    /// (seeded; Kraken guarantees neither order).
    pub ack_after_percent: u8,
    /// Percent of executions update frames sent twice (seeded).
    pub dup_percent: u8,
    /// The next N executions update frames carry an `order_status` the docs do not list.
    pub unknown_enum: u32,
}

/// One order-entry request as the exchange received it (the request log: what a client
/// really sent, resends included).
#[derive(Clone, Debug)]
pub struct LoggedRequest {
    /// `ws` or `rest`.
    pub route: &'static str,
    /// The method (`add_order`, `AddOrder`, ...).
    pub method: String,
    /// The client order ids it named (a batch names several).
    pub cl_ord_ids: Vec<String>,
    /// When it arrived.
    pub at: Ns,
    /// When the token it carried was issued (WebSocket requests).
    pub token_issued: Option<Ns>,
}

/// Running sums over the open orders: how many rest per account and pair (Kraken's open-order
/// limit), and what they hold per account and asset (funds checks, `BalanceEx`). An order with
/// no limit price (a stop waiting to trigger as a market order) holds at the moving reference
/// price, so it is kept apart and priced when asked; there are few.
#[derive(Default)]
struct OpenBook {
    count: HashMap<(usize, usize), usize>,
    hold: HashMap<(usize, String), Decimal>,
    unpriced: std::collections::BTreeSet<usize>,
    /// Per order, as last counted.
    counted: HashMap<usize, Counted>,
}

/// How an open order was counted: (account, pair, what it holds of which asset).
type Counted = (usize, usize, Option<(String, Decimal)>);

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

fn num(d: Decimal) -> Value {
    // A JSON number written from the decimal's digits (serde_json keeps floats as f64, so
    // build the text and reparse only through RawValue-free means: a Number from the string).
    Value::Number(
        serde_json::Number::from_str(&d.to_string())
            .unwrap_or_else(|_| serde_json::Number::from(0)),
    )
}

/// RFC 3339 with microseconds from simulated nanoseconds.
pub fn rfc3339(ns: Ns) -> String {
    let secs = (ns / 1_000_000_000) as i64;
    let micros = (ns / 1000 % 1_000_000) as u32;
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}Z",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    )
}

/// Parses RFC 3339 into simulated nanoseconds (seconds precision is enough for deadlines).
pub fn parse_rfc3339(s: &str) -> Option<Ns> {
    let b = s.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let n = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d, h, mi, se) = (
        n(0..4)?,
        n(5..7)?,
        n(8..10)?,
        n(11..13)?,
        n(14..16)?,
        n(17..19)?,
    );
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * ((mo + 9) % 12) + 2) / 5 + d - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    let mut frac_ns = 0i64;
    if b.get(19) == Some(&b'.') {
        let digits: String = s[20..].chars().take_while(char::is_ascii_digit).collect();
        let padded = format!("{digits:0<9}");
        frac_ns = padded[..9].parse().ok()?;
    }
    let secs = days * 86_400 + h * 3600 + mi * 60 + se;
    u64::try_from(secs * 1_000_000_000 + frac_ns).ok()
}

/// The error Kraken gives for a numeric field sent as something else.
fn not_number(field: &str) -> String {
    let mut c = field.chars();
    let first = c
        .next()
        .map(|f| f.to_ascii_uppercase().to_string())
        .unwrap_or_default();
    format!("{first}{} field must be a number_float", c.as_str())
}

/// A numeric parameter: absent → None; a JSON number → Some; anything else → Kraken's error.
pub fn dec_param(p: &Map<String, Value>, field: &str) -> Result<Option<Decimal>, String> {
    match p.get(field) {
        None => Ok(None),
        Some(Value::Number(n)) => {
            let s = n.to_string();
            Decimal::from_str(&s)
                .or_else(|_| Decimal::from_scientific(&s))
                .map(Some)
                .map_err(|_| not_number(field))
        }
        Some(_) => Err(not_number(field)),
    }
}

/// A numeric parameter given as a string (REST).
pub fn dec_str(v: Option<&str>, field: &str) -> Result<Option<Decimal>, String> {
    match v {
        None | Some("") => Ok(None),
        Some(s) => Decimal::from_str(s.trim_start_matches('+'))
            .map(Some)
            .map_err(|_| format!("EGeneral:Invalid arguments:{field}")),
    }
}

fn multiple(v: Decimal, inc: Decimal) -> bool {
    inc.is_zero() || (v % inc).is_zero()
}

/// A normalised new-order request (from WS v2 params or REST form fields).
#[derive(Clone, Debug, Default)]
pub struct NewOrder {
    pub symbol: String,
    pub buy: bool,
    pub order_type: String,
    pub qty: Option<Decimal>,
    pub cash_qty: Option<Decimal>,
    pub limit_price: Option<Decimal>,
    pub trigger_price: Option<Decimal>,
    pub trigger_pct: bool,
    pub tif: String,
    pub expire_ns: Option<Ns>,
    pub post_only: bool,
    pub reduce_only: bool,
    pub cl_ord_id: Option<String>,
    pub userref: Option<i64>,
    pub display_qty: Option<Decimal>,
    pub deadline_ns: Option<Ns>,
    pub validate: bool,
}

const ORDER_TYPES: &[&str] = &[
    "limit",
    "market",
    "iceberg",
    "stop-loss",
    "stop-loss-limit",
    "take-profit",
    "take-profit-limit",
    "trailing-stop",
    "trailing-stop-limit",
    "settle-position",
];

fn valid_cl_ord_id(s: &str) -> bool {
    let b = s.as_bytes();
    match b.len() {
        36 => b.iter().enumerate().all(|(i, c)| {
            if [8, 13, 18, 23].contains(&i) {
                *c == b'-'
            } else {
                c.is_ascii_hexdigit()
            }
        }),
        32 if b.iter().all(u8::is_ascii_hexdigit) => true,
        1..=18 => b.iter().all(|c| (0x20..0x7f).contains(c)),
        _ => false,
    }
}

impl NewOrder {
    /// From WS v2 `add_order` params (or a `batch_add` element with the batch's symbol).
    pub fn from_ws(p: &Map<String, Value>, symbol: Option<&str>) -> Result<Self, String> {
        let s = |k: &str| p.get(k).and_then(Value::as_str);
        let b = |k: &str| p.get(k).and_then(Value::as_bool).unwrap_or(false);
        let order_type = s("order_type")
            .ok_or("EGeneral:Invalid arguments:order_type")?
            .to_string();
        if !ORDER_TYPES.contains(&order_type.as_str()) {
            return Err("EGeneral:Invalid arguments:order_type".into());
        }
        let buy = match s("side") {
            Some("buy") => true,
            Some("sell") => false,
            _ => return Err("EGeneral:Invalid arguments:side".into()),
        };
        let symbol = symbol
            .or(s("symbol"))
            .ok_or("EGeneral:Invalid arguments:symbol")?
            .to_string();
        let (trigger_price, trigger_pct) = match p.get("triggers") {
            Some(Value::Object(t)) => (
                dec_param(t, "price")?,
                t.get("price_type").and_then(Value::as_str) == Some("pct"),
            ),
            Some(_) => return Err("EGeneral:Invalid arguments:triggers".into()),
            None => (None, false),
        };
        let tif = s("time_in_force").unwrap_or("gtc").to_ascii_lowercase();
        if !["gtc", "gtd", "ioc", "fok"].contains(&tif.as_str()) {
            return Err("EGeneral:Invalid arguments:time_in_force".into());
        }
        let cl_ord_id = s("cl_ord_id").map(str::to_string);
        if let Some(c) = &cl_ord_id
            && !valid_cl_ord_id(c)
        {
            return Err("EGeneral:Invalid arguments:cl_ord_id".into());
        }
        let userref = match p.get("order_userref") {
            None => None,
            Some(v) => Some(
                v.as_i64()
                    .ok_or("EGeneral:Invalid arguments:order_userref")?,
            ),
        };
        if cl_ord_id.is_some() && userref.is_some() {
            return Err(
                "EGeneral:Invalid arguments:cl_ord_id and order_userref are exclusive".into(),
            );
        }
        if p.contains_key("no_mpp") && order_type != "market" {
            return Err("EGeneral:Invalid arguments:no_mpp order option is only available when ordertype = market".into());
        }
        Ok(Self {
            symbol,
            buy,
            order_type,
            qty: dec_param(p, "order_qty")?,
            cash_qty: dec_param(p, "cash_order_qty")?,
            limit_price: dec_param(p, "limit_price")?,
            trigger_price,
            trigger_pct,
            tif,
            expire_ns: s("expire_time").and_then(parse_rfc3339),
            post_only: b("post_only"),
            reduce_only: b("reduce_only"),
            cl_ord_id,
            userref,
            display_qty: dec_param(p, "display_qty")?,
            deadline_ns: s("deadline").and_then(parse_rfc3339),
            validate: b("validate"),
        })
    }
}

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

    fn open_iter(&self) -> impl Iterator<Item = &SimOrder> {
        self.open.iter().map(|&i| &self.orders[i])
    }

    /// Opens or closes order `idx` in the open set, and counts it.
    fn set_open(&mut self, idx: usize, open: bool) {
        if open {
            self.open.insert(idx);
        } else {
            self.open.remove(&idx);
        }
        self.sync_open(idx);
    }

    /// Brings the running sums up to date with order `idx` as it is now (after it opened,
    /// closed, filled, or had its quantity or price changed).
    fn sync_open(&mut self, idx: usize) {
        let b = &mut self.held;
        if let Some((acct, pair, hold)) = b.counted.remove(&idx) {
            if let Some(n) = b.count.get_mut(&(acct, pair)) {
                *n -= 1;
            }
            if let Some((asset, v)) = hold
                && let Some(h) = b.hold.get_mut(&(acct, asset))
            {
                *h -= v;
            }
        }
        b.unpriced.remove(&idx);
        if !self.open.contains(&idx) {
            return;
        }
        let o = &self.orders[idx];
        let p = &self.pairs[o.pair];
        *b.count.entry((o.account, o.pair)).or_default() += 1;
        let hold = match o.limit_price {
            None => {
                b.unpriced.insert(idx);
                None
            }
            Some(px) if o.buy => Some((p.quote.clone(), px * o.remaining())),
            Some(_) => Some((p.base.clone(), o.remaining())),
        };
        if let Some((asset, v)) = &hold {
            *b.hold.entry((o.account, asset.clone())).or_default() += *v;
        }
        b.counted.insert(idx, (o.account, o.pair, hold));
    }

    /// How many orders of `acct` rest on pair `pair`.
    fn open_count(&self, acct: usize, pair: usize) -> usize {
        self.held.count.get(&(acct, pair)).copied().unwrap_or(0)
    }

    /// The open order of `acct` with client id `c`, if any.
    fn open_by_cl_ord_id(&self, acct: usize, c: &str) -> Option<usize> {
        self.by_cl_ord_id
            .get(c)?
            .iter()
            .rev()
            .copied()
            .find(|&i| self.orders[i].account == acct && self.open.contains(&i))
    }

    /// The account of an API key.
    pub fn account_by_key(&self, key: &str) -> Option<usize> {
        self.accounts.iter().position(|a| a.key == key)
    }

    fn pair_of(&self, symbol: &str) -> Option<usize> {
        self.pairs
            .iter()
            .position(|p| p.symbol == symbol || p.rest_name == symbol || p.key == symbol)
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

    // ---- connections and subscriptions ----------------------------------------------------

    /// A connection opened.
    pub fn register_conn(&mut self, conn: u64) {
        self.conns.push(conn);
    }

    /// Open connections.
    pub fn known_conns(&self) -> Vec<u64> {
        self.conns.clone()
    }

    /// True if `conn` holds any subscription.
    pub fn has_subscription(&self, conn: u64) -> bool {
        self.subs.iter().any(|s| s.conn == conn)
            || self.public_subs.contains(&conn)
            || self.book_subs.iter().any(|s| s.conn == conn)
            || self.tape_subs.iter().any(|s| s.conn == conn)
    }

    /// Records a public (instrument) subscription, for heartbeats.
    pub fn subscribe_public(&mut self, conn: u64) {
        if !self.public_subs.contains(&conn) {
            self.public_subs.push(conn);
        }
    }

    /// A connection closed: its subscriptions end.
    pub fn disconnect(&mut self, conn: u64) {
        self.subs.retain(|s| s.conn != conn);
        self.public_subs.retain(|&c| c != conn);
        self.book_subs.retain(|s| s.conn != conn);
        self.tape_subs.retain(|s| s.conn != conn);
        self.conns.retain(|&c| c != conn);
        self.outbox.remove(&conn);
    }

    /// Queues a frame for `conn`.
    pub fn queue(&mut self, conn: u64, frame: String) {
        self.push(conn, frame);
    }

    /// Frames waiting for `conn`.
    pub fn take_outbox(&mut self, conn: u64, into: &mut Vec<String>) {
        if let Some(v) = self.outbox.get_mut(&conn) {
            into.append(v);
        }
    }

    fn push(&mut self, conn: u64, frame: String) {
        self.outbox.entry(conn).or_default().push(frame);
    }

    /// Connections with a subscription (for heartbeats).
    pub fn subscribed_conns(&self) -> Vec<u64> {
        let mut v: Vec<u64> = self
            .subs
            .iter()
            .map(|s| s.conn)
            .chain(self.book_subs.iter().map(|s| s.conn))
            .chain(self.tape_subs.iter().map(|s| s.conn))
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Subscribes `conn` to a private channel; returns the ack result, then queues the
    /// snapshot.
    pub fn subscribe_private(
        &mut self,
        conn: u64,
        channel: &'static str,
        token: Option<&str>,
        params: &Map<String, Value>,
        now: Ns,
    ) -> Reply {
        let acct = self.check_token(token, now)?;
        if self
            .subs
            .iter()
            .any(|s| s.conn == conn && s.channel == channel)
        {
            return Err("Already subscribed".into());
        }
        self.subs.push(Sub {
            conn,
            account: acct,
            channel,
            seq: 0,
            token: token.unwrap_or("").into(),
        });
        let b = |k: &str, d: bool| params.get(k).and_then(Value::as_bool).unwrap_or(d);
        if channel == "executions" {
            let (snap_orders, snap_trades) = (b("snap_orders", true), b("snap_trades", false));
            let mut data = Vec::new();
            if snap_orders {
                for o in self.open_iter().filter(|o| o.account == acct) {
                    data.push(self.order_full(o, "new", now));
                }
            }
            if snap_trades {
                let fills: Vec<&SimFill> =
                    self.fills.iter().filter(|f| f.account == acct).collect();
                for f in fills.iter().rev().take(50).rev() {
                    let o = &self.orders[self.index[&f.order_id]];
                    let mut v = self.trade_json(o, f);
                    v["order_status"] = json!(o.status);
                    data.push(v);
                }
            }
            self.emit(conn, channel, "snapshot", Value::Array(data));
            let max = self.accounts[acct].tier.limits().0 as u64;
            Ok(
                json!({"channel": "executions", "maxratecount": max, "snap_orders": snap_orders, "snap_trades": snap_trades}),
            )
        } else {
            // As Kraken: the total across wallets, and each wallet.
            let account = &self.accounts[acct];
            let data: Vec<Value> = account
                .balances
                .iter()
                .map(|(a, v)| {
                    let earn = account.earn.get(a).copied().unwrap_or_default();
                    let mut wallets = vec![json!({"type": "spot", "id": "main", "balance": num(*v)})];
                    if !earn.is_zero() {
                        wallets.push(json!({"type": "earn", "id": "flex", "balance": num(earn)}));
                    }
                    json!({"asset": a, "asset_class": "currency", "balance": num(*v + earn), "wallets": wallets})
                })
                .collect();
            self.emit(conn, channel, "snapshot", Value::Array(data));
            Ok(json!({"channel": "balances", "snapshot": true}))
        }
    }

    /// Ends `conn`'s subscription to `channel`.
    pub fn unsubscribe(&mut self, conn: u64, channel: &str) -> Reply {
        let before = self.subs.len();
        self.subs
            .retain(|s| !(s.conn == conn && s.channel == channel));
        if self.subs.len() == before {
            Err("Subscription Not Found".into())
        } else {
            Ok(json!({"channel": channel}))
        }
    }

    /// The instrument snapshot.
    pub fn instrument_snapshot(&self) -> Value {
        let mut assets: Vec<&str> = self
            .pairs
            .iter()
            .flat_map(|p| [p.base.as_str(), p.quote.as_str()])
            .collect();
        assets.sort_unstable();
        assets.dedup();
        json!({
            "assets": assets.iter().map(|a| json!({"id": a, "status": "enabled", "precision": 10, "precision_display": 5, "borrowable": false, "collateral_value": 1.0, "margin_rate": 0.0})).collect::<Vec<_>>(),
            "pairs": self.pairs.iter().map(|p| json!({
                "symbol": p.symbol, "base": p.base, "quote": p.quote, "status": "online",
                "qty_precision": p.qty_precision, "qty_increment": num(p.qty_increment),
                "price_precision": p.price_precision, "cost_precision": 5, "marginable": false, "has_index": true,
                "cost_min": num(p.cost_min), "tick_size": num(p.price_increment),
                "price_increment": num(p.price_increment), "qty_min": num(p.qty_min),
            })).collect::<Vec<_>>(),
        })
    }

    fn emit(&mut self, conn: u64, channel: &'static str, kind: &str, data: Value) {
        let Some(i) = self
            .subs
            .iter()
            .position(|s| s.conn == conn && s.channel == channel)
        else {
            return;
        };
        self.subs[i].seq += 1;
        let seq = self.subs[i].seq;
        if channel == "executions" && kind == "update" && self.faults.drop_exec_frames > 0 {
            // Fault: this frame is lost; the next one shows a sequence gap.
            self.faults.drop_exec_frames -= 1;
            return;
        }
        let mut data = data;
        if channel == "executions" && kind == "update" && self.faults.unknown_enum > 0 {
            // Fault: a word the documentation does not list, as a new Kraken release might send.
            self.faults.unknown_enum -= 1;
            if let Some(first) = data.as_array_mut().and_then(|a| a.first_mut()) {
                first["order_status"] = json!("pending_replace");
            }
        }
        let frame =
            json!({"channel": channel, "type": kind, "data": data, "sequence": seq}).to_string();
        let dup = channel == "executions"
            && kind == "update"
            && self.faults.dup_percent > 0
            && self.rand() % 100 < u64::from(self.faults.dup_percent);
        if dup {
            // Fault: the frame arrives twice (same sequence).
            self.push(conn, frame.clone());
        }
        self.push(conn, frame);
    }

    /// Whether the account's dead man's switch is armed.
    pub fn dead_man_armed(&self, acct: usize) -> bool {
        self.accounts[acct].dead_man.is_some()
    }

    /// Fault `ack-after:P`: whether this request's ack goes after its stream frames (seeded).
    pub fn ack_after(&mut self) -> bool {
        self.faults.ack_after_percent > 0
            && self.rand() % 100 < u64::from(self.faults.ack_after_percent)
    }

    fn broadcast(&mut self, account: usize, channel: &'static str, data: Value) {
        let conns: Vec<u64> = self
            .subs
            .iter()
            .filter(|s| s.account == account && s.channel == channel)
            .map(|s| s.conn)
            .collect();
        for c in conns {
            self.emit(c, channel, "update", data.clone());
        }
    }

    // ---- executions frames (Kraken's delta shapes) -----------------------------------------

    fn order_full(&self, o: &SimOrder, exec_type: &str, now: Ns) -> Value {
        let p = &self.pairs[o.pair];
        let mut v = json!({
            "order_id": o.id, "symbol": p.symbol, "order_qty": num(o.qty), "cum_cost": num(o.cum_cost),
            "cum_qty": num(o.filled), "time_in_force": o.tif.to_ascii_uppercase(), "exec_type": exec_type,
            "side": if o.buy { "buy" } else { "sell" }, "order_type": o.order_type, "order_userref": o.userref,
            "order_status": if exec_type == "pending_new" { "pending_new" } else { o.status },
            "fee_usd_equiv": num(o.fees), "fee_ccy_pref": "fciq", "timestamp": rfc3339(now),
            "post_only": o.post_only, "reduce_only": o.reduce_only,
        });
        if let Some(lp) = o.limit_price {
            v["limit_price"] = num(lp);
            v["limit_price_type"] = json!("static");
        }
        if let Some(tp) = o.trigger_price {
            v["triggers"] = json!({"reference": "last", "price": num(tp), "price_type": if o.trigger_pct { "pct" } else { "static" }, "status": if o.triggered { "triggered" } else { "untriggered" }});
        }
        if let Some(c) = &o.cl_ord_id {
            v["cl_ord_id"] = json!(c);
        }
        if let Some(d) = o.display_qty {
            v["display_qty"] = num(d);
        }
        v
    }

    fn trade_json(&self, o: &SimOrder, f: &SimFill) -> Value {
        let mut v = json!({
            "order_id": o.id, "order_userref": o.userref, "exec_id": f.exec_id, "exec_type": "trade",
            "trade_id": f.trade_id, "symbol": f.symbol, "side": f.side, "last_qty": num(f.qty),
            "last_price": num(f.price), "liquidity_ind": if f.maker { "m" } else { "t" },
            "cost": num((f.qty * f.price).normalize()), "order_type": o.order_type, "timestamp": f.timestamp,
            // A trade says partially_filled even when it completes the order (captured
            // behaviour); completion is the separate `filled` frame.
            "order_status": "partially_filled", "cum_qty": num(o.filled), "cum_cost": num(o.cum_cost),
            "avg_price": num(o.avg_price()), "fee_usd_equiv": num(f.fee),
            "fees": [{"asset": f.fee_asset, "qty": num(f.fee)}],
        });
        if let Some(c) = &o.cl_ord_id {
            v["cl_ord_id"] = json!(c);
        }
        v
    }

    fn delta(&self, o: &SimOrder, exec_type: &str, now: Ns) -> Value {
        let mut v = json!({
            "timestamp": rfc3339(now), "order_status": o.status, "exec_type": exec_type,
            "cum_qty": num(o.filled), "cum_cost": num(o.cum_cost), "fee_usd_equiv": num(o.fees),
            "avg_price": num(o.avg_price()), "order_userref": o.userref, "order_id": o.id,
        });
        // Why, on the reports that have a why: a cancel or an expiry carries it twice (the
        // deprecated `cancel_reason` still sent beside `reason`); an amend in `reason` only.
        match (&o.reason, exec_type) {
            (Some(r), "canceled" | "expired") => {
                v["reason"] = json!(r);
                v["cancel_reason"] = json!(r);
            }
            (Some(r), "restated") => v["reason"] = json!(r),
            _ => {}
        }
        v
    }

    fn stream(&mut self, idx: usize, exec_type: &str, now: Ns) {
        let o = &self.orders[idx];
        let data = match exec_type {
            "pending_new" => self.order_full(o, "pending_new", now),
            "amended" => {
                // As Kraken sends it (docs/kraken-protocol.md, "amend"): the new figures,
                // `amended`, and `reason`; no cost, fee or average price.
                let mut v = json!({
                    "timestamp": rfc3339(now), "exec_type": "amended", "order_status": o.status,
                    "cum_qty": num(o.filled), "reason": o.reason.as_deref().unwrap_or("User requested"),
                    "amended": true, "order_qty": num(o.qty), "order_userref": o.userref,
                    "order_id": o.id,
                });
                if let Some(lp) = o.limit_price {
                    v["limit_price"] = num(lp);
                    v["limit_price_type"] = json!("static");
                }
                v
            }
            t => self.delta(o, t, now),
        };
        let acct = o.account;
        self.broadcast(acct, "executions", Value::Array(vec![data]));
    }

    // ---- rate counter ---------------------------------------------------------------------

    /// Adds `cost` to the account's counter for `pair`; refuses with Kraken's error if that
    /// would reach the threshold. The cost stays counted either way ("fixed count applied on
    /// receipt of the transaction, even if it fails").
    fn charge(&mut self, acct: usize, pair: usize, cost: f64, now: Ns) -> Result<(), String> {
        let a = &mut self.accounts[acct];
        let (max, decay, _) = a.tier.limits();
        let (v, at) = a.rate.get(&pair).copied().unwrap_or((0.0, now));
        let v = (v - decay * (now.saturating_sub(at) as f64 / 1e9)).max(0.0);
        let next = v + cost;
        // Boundary unconfirmed (≥ or >): "reaches the threshold" reads as ≥.
        if next >= max {
            a.rate.insert(pair, (v + cost.min(1.0), now));
            return Err("EOrder:Rate limit exceeded".into());
        }
        a.rate.insert(pair, (next, now));
        Ok(())
    }

    /// What a private REST call costs on Kraken's REST counter: 2 for the history calls, 0 for
    /// order entry (the trading counter counts it), 1 for the rest.
    pub fn rest_call_cost(method: &str) -> f64 {
        match method {
            "TradesHistory" | "Ledgers" | "QueryLedgers" => 2.0,
            "AddOrder" | "AddOrderBatch" | "AmendOrder" | "EditOrder" | "CancelOrder"
            | "CancelOrderBatch" => 0.0,
            _ => 1.0,
        }
    }

    fn rest_level(&self, acct: usize, now: Ns) -> f64 {
        let a = &self.accounts[acct];
        let Some((_, decay)) = a.tier.rest_limits() else {
            return 0.0;
        };
        let (v, at) = a.rest_calls;
        (v - decay * (now.saturating_sub(at) as f64 / 1e9)).max(0.0)
    }

    /// Charges a private REST call to the account's REST counter, or refuses it with
    /// `EAPI:Rate limit exceeded` when it would pass the tier's maximum. A refused call is not
    /// counted (unconfirmed at Kraken; the docs say only that calls are refused until the
    /// counter has decayed).
    pub fn charge_rest(&mut self, acct: usize, method: &str, now: Ns) -> Result<(), String> {
        let cost = Self::rest_call_cost(method);
        let Some((max, _)) = self.accounts[acct].tier.rest_limits() else {
            return Ok(());
        };
        if !self.rest_counter || cost == 0.0 {
            return Ok(());
        }
        let v = self.rest_level(acct, now);
        // With a millionth of a call's tolerance: the decay is kept in floating point, and a
        // counter a client brought exactly to the maximum must not read as over it.
        if v + cost > max + 1e-6 {
            self.accounts[acct].rest_calls = (v, now);
            self.rest_rate_limited += 1;
            return Err("EAPI:Rate limit exceeded".into());
        }
        self.accounts[acct].rest_calls = (v + cost, now);
        Ok(())
    }

    /// Another client on the same key has spent the REST counter: it stands at its maximum
    /// (the `rest-rate-limit` fault).
    pub fn spend_rest_counter(&mut self, acct: usize, now: Ns) {
        if let Some((max, _)) = self.accounts[acct].tier.rest_limits() {
            self.accounts[acct].rest_calls = (max, now);
        }
    }

    /// The REST counter's level (for tests).
    pub fn rest_counter_level(&self, acct: usize, now: Ns) -> f64 {
        self.rest_level(acct, now)
    }

    /// The counter's current value (for tests).
    pub fn rate_counter(&self, acct: usize, pair: usize, now: Ns) -> f64 {
        let a = &self.accounts[acct];
        let (_, decay, _) = a.tier.limits();
        a.rate.get(&pair).map_or(0.0, |&(v, at)| {
            (v - decay * (now.saturating_sub(at) as f64 / 1e9)).max(0.0)
        })
    }

    fn age_penalty(age_ns: Ns, table: &[(u64, f64)]) -> f64 {
        table
            .iter()
            .find(|(s, _)| age_ns < s * 1_000_000_000)
            .map_or(0.0, |(_, p)| *p)
    }

    // ---- trading ------------------------------------------------------------------------------

    fn find(&self, acct: usize, order_id: Option<&str>, cl_ord_id: Option<&str>) -> Option<usize> {
        if let Some(id) = order_id {
            return self
                .index
                .get(id)
                .copied()
                .filter(|&i| self.orders[i].account == acct);
        }
        let c = cl_ord_id?;
        // cl_ord_id is unique among open orders only: prefer the open one, else the latest.
        self.open_by_cl_ord_id(acct, c).or_else(|| {
            self.by_cl_ord_id
                .get(c)?
                .iter()
                .rev()
                .copied()
                .find(|&i| self.orders[i].account == acct)
        })
    }

    fn fee_rate(maker: bool) -> Decimal {
        if maker {
            Decimal::new(16, 4)
        } else {
            Decimal::new(26, 4)
        }
    }

    fn validate_new(&self, acct: usize, n: &NewOrder, now: Ns) -> Result<usize, String> {
        let pi = self
            .pair_of(&n.symbol)
            .ok_or_else(|| format!("Currency pair not supported {}", n.symbol))?;
        let p = &self.pairs[pi];
        if self.status == "maintenance" {
            return Err("EService:Unavailable".into());
        }
        if self.status == "cancel_only" {
            return Err("EService:Market in cancel_only mode".into());
        }
        let needs_limit = matches!(
            n.order_type.as_str(),
            "limit" | "iceberg" | "stop-loss-limit" | "take-profit-limit" | "trailing-stop-limit"
        );
        let needs_trigger = n.order_type.contains("stop") || n.order_type.contains("take-profit");
        if needs_limit && n.limit_price.is_none() {
            return Err("EGeneral:Invalid arguments:limit_price".into());
        }
        if needs_trigger && n.trigger_price.is_none() {
            return Err("EGeneral:Invalid arguments:triggers".into());
        }
        if self.status == "post_only" && !n.post_only {
            return Err("EService:Market in post_only mode".into());
        }
        let qty = match (n.qty, n.cash_qty) {
            (Some(q), _) => q,
            (None, Some(c)) if n.order_type == "market" && n.buy => {
                (c / p.ref_price).round_dp(p.qty_precision)
            }
            _ => return Err("EGeneral:Invalid arguments:order_qty".into()),
        };
        if qty <= Decimal::ZERO {
            return Err("EGeneral:Invalid arguments:order_qty".into());
        }
        if qty < p.qty_min {
            return Err("EOrder:Order minimum not met".into());
        }
        if !multiple(qty, p.qty_increment) {
            return Err("EGeneral:Invalid arguments:order_qty".into());
        }
        if let Some(lp) = n.limit_price
            && !n.order_type.starts_with("trailing")
        {
            if lp <= Decimal::ZERO {
                return Err("EOrder:Invalid price".into());
            }
            if !multiple(lp, p.price_increment) {
                return Err("EOrder:Tick size check failed".into());
            }
        }
        let px = n
            .limit_price
            .filter(|_| !n.order_type.starts_with("trailing"))
            .unwrap_or(p.ref_price);
        if px * qty < p.cost_min {
            return Err("EOrder:Cost minimum not met".into());
        }
        if n.order_type == "iceberg" {
            match n.display_qty {
                Some(d) if d * Decimal::from(15) >= qty && d <= qty => {}
                _ => return Err("EGeneral:Invalid arguments:display-volume".into()),
            }
        }
        if n.tif == "gtd" && n.expire_ns.is_none_or(|e| e <= now) {
            return Err("EGeneral:Invalid arguments:expire_time".into());
        }
        if let Some(d) = n.deadline_ns
            && d < now
        {
            return Err("EService:Deadline elapsed".into());
        }
        if let Some(c) = &n.cl_ord_id
            && self.open_by_cl_ord_id(acct, c).is_some()
        {
            return Err("EOrder:Duplicate order".into());
        }
        let (_, _, max_open) = self.accounts[acct].tier.limits();
        if self.open_count(acct, pi) >= max_open {
            return Err("EOrder:Orders limit exceeded".into());
        }
        // Funds: what this order could spend, plus what open orders have reserved.
        let (asset, need) = if n.buy {
            (&p.quote, px * qty * (Decimal::ONE + Self::fee_rate(false)))
        } else {
            (&p.base, qty)
        };
        let reserved = self.reserved(acct, asset);
        let bal = self.accounts[acct]
            .balances
            .get(asset)
            .copied()
            .unwrap_or_default();
        if bal - reserved < need {
            return Err("EOrder:Insufficient funds".into());
        }
        Ok(pi)
    }

    /// `add_order`: validates, charges the rate counter, places and matches. Returns the ack
    /// result.
    pub fn add_order(&mut self, acct: usize, n: &NewOrder, now: Ns) -> Reply {
        let pi = self
            .pair_of(&n.symbol)
            .ok_or_else(|| format!("Currency pair not supported {}", n.symbol))?;
        self.charge(acct, pi, 1.0, now)?;
        self.place(acct, n, now)
    }

    fn place(&mut self, acct: usize, n: &NewOrder, now: Ns) -> Reply {
        let pi = self.validate_new(acct, n, now)?;
        let p = &self.pairs[pi];
        let qty = n.qty.unwrap_or_else(|| {
            (n.cash_qty.unwrap_or_default() / p.ref_price).round_dp(p.qty_precision)
        });
        let (ask, bid) = (
            p.ref_price + p.price_increment,
            p.ref_price - p.price_increment,
        );
        let crosses = match (n.order_type.as_str(), n.limit_price) {
            ("limit" | "iceberg", Some(lp)) => {
                if n.buy {
                    lp >= ask
                } else {
                    lp <= bid
                }
            }
            _ => false,
        };
        if n.post_only && crosses {
            // Captured shape unconfirmed; [NT] lists both. We answer with the method error.
            return Err("EOrder:Post only order".into());
        }
        if n.validate {
            return Ok(json!({"order_id": "", "warnings": ["validate only"]}));
        }
        let id = self.kraken_id('O');
        self.priority += 1;
        let o = SimOrder {
            id: id.clone(),
            cl_ord_id: n.cl_ord_id.clone(),
            userref: n.userref.unwrap_or(0),
            account: acct,
            pair: pi,
            buy: n.buy,
            order_type: n.order_type.clone(),
            qty,
            filled: Decimal::ZERO,
            cum_cost: Decimal::ZERO,
            fees: Decimal::ZERO,
            limit_price: n.limit_price,
            trigger_price: n.trigger_price,
            trigger_pct: n.trigger_pct,
            triggered: false,
            tif: n.tif.clone(),
            expire_ns: n.expire_ns,
            post_only: n.post_only,
            reduce_only: n.reduce_only,
            display_qty: n.display_qty,
            peak: self.pairs[pi].ref_price,
            shown_filled: Decimal::ZERO,
            status: "pending_new",
            placed_ns: now,
            opened_ns: now,
            closed_ns: None,
            priority: self.priority,
            reason: None,
        };
        let idx = self.orders.len();
        if let Some(c) = &o.cl_ord_id {
            self.by_cl_ord_id.entry(c.clone()).or_default().push(idx);
        }
        self.orders.push(o);
        self.index.insert(id.clone(), idx);
        self.set_open(idx, true);
        self.stream(idx, "pending_new", now);
        self.orders[idx].status = "new";
        self.stream(idx, "new", now);
        self.on_placed(idx, now);
        let mut r = json!({"order_id": id});
        if let Some(c) = &n.cl_ord_id {
            r["cl_ord_id"] = json!(c);
        }
        if let Some(u) = n.userref {
            r["order_userref"] = json!(u);
        }
        Ok(r)
    }

    /// Matching on arrival: marketable orders take from the synthetic market at the reference
    /// price ± one tick; FOK needs it all, IOC cancels the rest; triggered types wait.
    fn on_placed(&mut self, idx: usize, now: Ns) {
        let o = &self.orders[idx];
        let p = &self.pairs[o.pair];
        let (ask, bid) = (
            p.ref_price + p.price_increment,
            p.ref_price - p.price_increment,
        );
        let is_trigger = o.trigger_price.is_some() && !o.triggered;
        if is_trigger {
            self.check_trigger(idx, now);
            return;
        }
        let take_px = if o.buy { ask } else { bid };
        let marketable = match (o.order_type.as_str(), o.limit_price) {
            ("market", _) => true,
            (_, Some(lp)) if !o.order_type.starts_with("trailing") => {
                if o.buy {
                    lp >= ask
                } else {
                    lp <= bid
                }
            }
            _ => true,
        };
        if marketable {
            let q = o.remaining();
            self.fill(idx, q, take_px, false, now);
        } else if o.tif == "ioc" || o.tif == "fok" || o.order_type == "market" {
            self.close(idx, "canceled", "Insufficient liquidity", now);
        }
    }

    fn check_trigger(&mut self, idx: usize, now: Ns) {
        let rp = self.pairs[self.orders[idx].pair].ref_price;
        let o = &mut self.orders[idx];
        let (Some(tp), false) = (o.trigger_price, o.triggered) else {
            return;
        };
        let trailing = o.order_type.starts_with("trailing");
        let offset = |base: Decimal| {
            if o.trigger_pct {
                base * tp / Decimal::from(100)
            } else {
                tp
            }
        };
        let (hit, level) = if trailing {
            // A sell trails the highest price since placement, a buy the lowest; it triggers
            // when the price reverts by the offset.
            o.peak = if o.buy {
                o.peak.min(rp)
            } else {
                o.peak.max(rp)
            };
            let level = if o.buy {
                o.peak + offset(o.peak)
            } else {
                o.peak - offset(o.peak)
            };
            (if o.buy { rp >= level } else { rp <= level }, level)
        } else {
            let level = if o.trigger_pct {
                o.peak + offset(o.peak)
            } else {
                tp
            };
            // Stops trigger when the price moves against the position; take-profits with it.
            let stop = o.order_type.contains("stop");
            let hit = match (stop, o.buy) {
                (true, false) | (false, true) => rp <= level,
                (true, true) | (false, false) => rp >= level,
            };
            (hit, level)
        };
        if hit {
            o.triggered = true;
            if o.order_type.ends_with("-limit") {
                if trailing {
                    // The limit of a trailing-stop-limit is an offset from the trigger level.
                    o.limit_price = o.limit_price.map(|off| level + off);
                }
                o.order_type = "limit".into();
            } else {
                o.order_type = "market".into();
                o.limit_price = None;
            }
            self.sync_open(idx);
            self.on_placed(idx, now);
        }
    }

    fn fill(&mut self, idx: usize, qty: Decimal, price: Decimal, maker: bool, now: Ns) {
        if qty <= Decimal::ZERO {
            return;
        }
        let trade_id = self.next_trade;
        self.next_trade += 1;
        let exec_id = self.kraken_id('T');
        let o = &mut self.orders[idx];
        let p = &self.pairs[o.pair];
        let cost = qty * price;
        let fee = (cost * Self::fee_rate(maker)).round_dp(p.price_precision + 4);
        o.filled += qty;
        o.cum_cost += cost;
        o.fees += fee;
        if o.status == "new" {
            o.status = "partially_filled";
        }
        let f = SimFill {
            exec_id: exec_id.clone(),
            trade_id,
            order_id: o.id.clone(),
            cl_ord_id: o.cl_ord_id.clone(),
            symbol: p.symbol.clone(),
            side: if o.buy { "buy" } else { "sell" },
            qty,
            price,
            fee,
            fee_asset: p.quote.clone(),
            maker,
            timestamp: rfc3339(now),
            at_ns: now,
            account: o.account,
        };
        let (acct, buy, base, quote) = (o.account, o.buy, p.base.clone(), p.quote.clone());
        let complete = o.filled >= o.qty;
        self.sync_open(idx);
        let data = self.trade_json(&self.orders[idx], &f);
        // On the public tape: the taker's side (the counterparty's when ours rested).
        let (pair, taker_buy, taker_type) = if f.maker {
            (self.orders[idx].pair, !buy, "market")
        } else {
            (self.orders[idx].pair, buy, "limit")
        };
        self.tape_trade(pair, taker_buy, f.price, f.qty, taker_type, now);
        self.fills.push(f);
        self.broadcast(acct, "executions", Value::Array(vec![data]));
        // Balances: two ledger entries per trade, sharing the trade id as ref_id.
        let a = &mut self.accounts[acct];
        let (db, dq) = if buy {
            (qty, -(cost + fee))
        } else {
            (-qty, cost - fee)
        };
        *a.balances.entry(base.clone()).or_default() += db;
        *a.balances.entry(quote.clone()).or_default() += dq;
        let entries: Vec<Value> = [(base, db, Decimal::ZERO), (quote, dq, fee)]
            .into_iter()
            .map(|(asset, amount, fee)| {
                a.ledger_seq += 1;
                json!({"ledger_id": format!("L{:05}-{:05}-{:06}", acct, a.ledger_seq / 1_000_000, a.ledger_seq % 1_000_000),
                       "ref_id": exec_id, "timestamp": rfc3339(now), "type": "trade", "asset": asset, "asset_class": "currency",
                       "category": "trade", "wallet_type": "spot", "wallet_id": "main", "amount": num(amount), "fee": num(fee),
                       "balance": num(a.balances[&asset])})
            })
            .collect();
        for e in entries {
            self.broadcast(acct, "balances", Value::Array(vec![e]));
        }
        if complete {
            self.set_open(idx, false);
            self.orders[idx].status = "filled";
            self.orders[idx].closed_ns = Some(now);
            self.stream(idx, "filled", now);
        }
    }

    fn close(&mut self, idx: usize, status: &'static str, reason: &str, now: Ns) {
        let o = &mut self.orders[idx];
        if !o.is_open() {
            return;
        }
        o.status = status;
        o.reason = Some(reason.into());
        o.closed_ns = Some(now);
        self.set_open(idx, false);
        let t = if status == "expired" {
            "expired"
        } else {
            "canceled"
        };
        self.stream(idx, t, now);
    }

    /// `amend_order`: in place, same id; below-filled quantity cancels the rest.
    pub fn amend_order(&mut self, acct: usize, p: &Map<String, Value>, now: Ns) -> Reply {
        let idx = self
            .find(
                acct,
                p.get("order_id").and_then(Value::as_str),
                p.get("cl_ord_id").and_then(Value::as_str),
            )
            .ok_or("EOrder:Unknown order")?;
        let (qty, lp) = (dec_param(p, "order_qty")?, dec_param(p, "limit_price")?);
        let _ = dec_param(p, "display_qty")?;
        let _ = dec_param(p, "trigger_price")?;
        let age = now.saturating_sub(self.orders[idx].placed_ns);
        let pair = self.orders[idx].pair;
        self.charge(
            acct,
            pair,
            1.0 + Self::age_penalty(age, &[(5, 3.0), (10, 2.0), (15, 1.0)]),
            now,
        )?;
        if !self.orders[idx].is_open() {
            return Err("EOrder:Unknown order".into());
        }
        let pr = &self.pairs[pair];
        if let Some(lp) = lp {
            if !multiple(lp, pr.price_increment) {
                return Err("EOrder:Tick size check failed".into());
            }
            let o = &self.orders[idx];
            let (ask, bid) = (
                pr.ref_price + pr.price_increment,
                pr.ref_price - pr.price_increment,
            );
            let crosses = if o.buy { lp >= ask } else { lp <= bid };
            if crosses && p.get("post_only").and_then(Value::as_bool).unwrap_or(false) {
                return Err("EOrder:Post only order".into());
            }
        }
        let o = &mut self.orders[idx];
        if let Some(q) = qty {
            o.qty = q;
        }
        if lp.is_some() {
            o.limit_price = lp;
        }
        o.placed_ns = now;
        o.reason = Some("User requested".into());
        let id = o.id.clone();
        let cl = o.cl_ord_id.clone();
        let below = o.qty <= o.filled;
        if below {
            o.qty = o.qty.max(o.filled);
        }
        self.sync_open(idx);
        if below {
            self.close(idx, "canceled", "Order quantity reduced below filled", now);
        } else {
            self.stream(idx, "amended", now);
            self.on_placed_amended(idx, now);
        }
        let amend_id = self.kraken_id('A');
        let mut r = json!({"amend_id": amend_id});
        if p.contains_key("order_id") {
            r["order_id"] = json!(id);
        } else if let Some(c) = cl {
            r["cl_ord_id"] = json!(c);
        }
        Ok(r)
    }

    fn on_placed_amended(&mut self, idx: usize, now: Ns) {
        // An amended price that now crosses takes liquidity.
        let o = &self.orders[idx];
        if o.order_type == "limit" || o.order_type == "iceberg" {
            self.on_placed(idx, now);
        }
    }

    /// `edit_order`: cancel and replace with a new id.
    pub fn edit_order(&mut self, acct: usize, p: &Map<String, Value>, now: Ns) -> Reply {
        if p.contains_key("cl_ord_id") {
            return Err("EGeneral:Invalid arguments:cl_ord_id not supported by edit_order".into());
        }
        let id = p
            .get("order_id")
            .and_then(Value::as_str)
            .ok_or("EGeneral:Invalid arguments:order_id")?;
        let idx = self
            .find(acct, Some(id), None)
            .ok_or("EOrder:Unknown order")?;
        let (qty, lp) = (dec_param(p, "order_qty")?, dec_param(p, "limit_price")?);
        let age = now.saturating_sub(self.orders[idx].placed_ns);
        let pair = self.orders[idx].pair;
        self.charge(
            acct,
            pair,
            1.0 + Self::age_penalty(age, &[(5, 6.0), (10, 5.0), (15, 4.0), (45, 2.0), (90, 1.0)]),
            now,
        )?;
        let old = self.orders[idx].clone();
        if !old.is_open() {
            return Err("EOrder:Unknown order".into());
        }
        if qty.is_some_and(|q| q < old.filled) {
            return Err("EOrder:Invalid order".into());
        }
        let n = NewOrder {
            symbol: self.pairs[old.pair].symbol.clone(),
            buy: old.buy,
            order_type: old.order_type.clone(),
            qty: Some(qty.unwrap_or(old.qty) - old.filled),
            limit_price: lp.or(old.limit_price),
            trigger_price: old.trigger_price,
            tif: old.tif.clone(),
            // As Kraken does: flags are not carried over; only what the edit sends.
            post_only: p.get("post_only").and_then(Value::as_bool).unwrap_or(false),
            reduce_only: p
                .get("reduce_only")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            userref: p
                .get("order_userref")
                .and_then(Value::as_i64)
                .or(Some(old.userref)),
            ..NewOrder::default()
        };
        // The replacement is validated before the original is cancelled (a refused edit leaves
        // the order as it was), with the original's funds counted as free, since it goes.
        self.set_open(idx, false);
        let valid = self.validate_new(acct, &n, now);
        self.set_open(idx, true);
        valid?;
        self.close(idx, "canceled", "Order replaced", now);
        let r = self.place(acct, &n, now)?;
        Ok(json!({"order_id": r["order_id"], "original_order_id": id}))
    }

    /// `cancel_order` by any mix of ids: one result per cancelled order.
    pub fn cancel_orders(
        &mut self,
        acct: usize,
        ids: &[String],
        cl: &[String],
        userrefs: &[i64],
        now: Ns,
    ) -> Vec<Reply> {
        let mut out = Vec::new();
        for id in ids {
            out.push(
                self.cancel_one(acct, Some(id), None, now)
                    .map(|_| json!({"order_id": id})),
            );
        }
        for c in cl {
            out.push(
                self.cancel_one(acct, None, Some(c), now)
                    .map(|_| json!({"cl_ord_id": c})),
            );
        }
        for &u in userrefs {
            let hits: Vec<usize> = self
                .open
                .iter()
                .copied()
                .filter(|&i| {
                    self.orders[i].account == acct
                        && self.orders[i].userref == u
                        && self.orders[i].is_open()
                })
                .collect();
            if hits.is_empty() {
                out.push(Err("EOrder:Unknown order".into()));
            }
            for i in hits {
                let id = self.orders[i].id.clone();
                out.push(
                    self.cancel_one(acct, Some(&id), None, now)
                        .map(|_| json!({"order_id": id})),
                );
            }
        }
        out
    }

    fn cancel_one(
        &mut self,
        acct: usize,
        id: Option<&str>,
        cl: Option<&str>,
        now: Ns,
    ) -> Result<(), String> {
        let idx = self.find(acct, id, cl).ok_or("EOrder:Unknown order")?;
        let age = now.saturating_sub(self.orders[idx].placed_ns);
        let pair = self.orders[idx].pair;
        self.charge(
            acct,
            pair,
            Self::age_penalty(
                age,
                &[
                    (5, 8.0),
                    (10, 6.0),
                    (15, 5.0),
                    (45, 4.0),
                    (90, 2.0),
                    (300, 1.0),
                ],
            ),
            now,
        )?;
        if !self.orders[idx].is_open() {
            return Err("EOrder:Unknown order".into());
        }
        self.close(idx, "canceled", "User requested", now);
        Ok(())
    }

    /// A busy account's history: `n` orders on `symbol` placed and cancelled at `now` (no
    /// rate charge), e.g. so that a lookup must search past thousands of closed orders.
    pub fn seed_closed_orders(
        &mut self,
        acct: usize,
        symbol: &str,
        n: usize,
        now: Ns,
    ) -> Result<(), String> {
        let pi = self.pair_of(symbol).ok_or("unknown symbol")?;
        let p = &self.pairs[pi];
        let px = (p.ref_price / Decimal::from(2)).round_dp(0);
        let qty = p.qty_min;
        for _ in 0..n {
            let o = NewOrder {
                symbol: symbol.to_string(),
                buy: true,
                order_type: "limit".into(),
                qty: Some(qty),
                cash_qty: None,
                limit_price: Some(px),
                trigger_price: None,
                trigger_pct: false,
                tif: "gtc".into(),
                expire_ns: None,
                post_only: false,
                reduce_only: false,
                cl_ord_id: None,
                userref: None,
                display_qty: None,
                deadline_ns: None,
                validate: false,
            };
            let id = self.place(acct, &o, now)?;
            if let Some(&i) = id["order_id"].as_str().and_then(|id| self.index.get(id)) {
                self.close(i, "canceled", "User requested", now);
            }
        }
        Ok(())
    }

    /// A trading history before `now`, seeded: `n` orders, one a minute, alternating sides and
    /// pairs (BTC/USD, ETH/USD) at a price walking from the reference. Three in four take
    /// liquidity and fill at once (the fills land in the ledger, the balances and the trade
    /// history with their past times); every fourth rests far from the market and is still
    /// open. An executions snapshot then replays fills that predate the connection, as
    /// Kraken's does (its last 50).
    pub fn seed_history(&mut self, acct: usize, n: usize, now: Ns, seed: u64) {
        let mut rng = seed ^ 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let pairs: Vec<usize> = ["BTC/USD", "ETH/USD"]
            .iter()
            .filter_map(|s| self.pair_of(s))
            .collect();
        if pairs.is_empty() {
            return;
        }
        let refs: Vec<Decimal> = pairs.iter().map(|&pi| self.pairs[pi].ref_price).collect();
        for i in 0..n {
            let pi = pairs[i % pairs.len()];
            let at = now.saturating_sub((n - i) as u64 * 60 * 1_000_000_000);
            let p = &mut self.pairs[pi];
            // A walk of up to ±5 ticks a minute.
            let step = Decimal::from((next() % 11) as i64 - 5) * p.price_increment;
            p.ref_price += step;
            let rests = i % 4 == 3;
            let buy = (i / pairs.len()).is_multiple_of(2);
            let far = p.ref_price / Decimal::from(if buy { 2 } else { 1 })
                * Decimal::from(if buy { 1 } else { 2 });
            let px = if rests {
                far.round_dp(p.price_precision)
            } else if buy {
                p.ref_price + p.price_increment
            } else {
                p.ref_price - p.price_increment
            };
            let o = NewOrder {
                symbol: p.symbol.clone(),
                buy,
                order_type: "limit".into(),
                qty: Some(p.qty_min * Decimal::from(1 + next() % 5)),
                limit_price: Some(px),
                tif: "gtc".into(),
                ..NewOrder::default()
            };
            let _ = self.place(acct, &o, at);
        }
        for (k, &pi) in pairs.iter().enumerate() {
            self.pairs[pi].ref_price = refs[k];
        }
    }

    pub fn cancel_all(&mut self, acct: usize, now: Ns) -> u64 {
        let open: Vec<usize> = self
            .open
            .iter()
            .copied()
            .filter(|&i| self.orders[i].account == acct && self.orders[i].is_open())
            .collect();
        for &i in &open {
            self.close(i, "canceled", "User requested", now);
        }
        open.len() as u64
    }

    /// `cancel_all_orders_after`: (re)arms or (0) disarms the countdown.
    pub fn cancel_after(&mut self, acct: usize, timeout: u64, now: Ns) -> Result<Value, String> {
        if timeout >= 86_400 {
            return Err("EGeneral:Invalid arguments:timeout".into());
        }
        let a = &mut self.accounts[acct];
        a.dead_man = (timeout > 0).then(|| now + timeout * 1_000_000_000);
        let cur = rfc3339(now / 1_000_000_000 * 1_000_000_000);
        let trig = if timeout > 0 {
            rfc3339((now / 1_000_000_000 + timeout) * 1_000_000_000)
        } else {
            "0".into()
        };
        // Kraken sends second precision.
        Ok(
            json!({"currentTime": format!("{}Z", &cur[..19]), "triggerTime": if timeout > 0 { format!("{}Z", &trig[..19]) } else { trig }}),
        )
    }

    /// `batch_add`: validates all first (one bad order rejects the batch), then places each.
    pub fn batch_add(&mut self, acct: usize, orders: &[NewOrder], now: Ns) -> Reply {
        if !(2..=15).contains(&orders.len()) {
            return Err("EGeneral:Invalid arguments:orders must hold 2 to 15 orders".into());
        }
        let pi = self
            .pair_of(&orders[0].symbol)
            .ok_or_else(|| format!("Currency pair not supported {}", orders[0].symbol))?;
        self.charge(acct, pi, (orders.len() as f64 / 2.0).ceil(), now)?;
        for n in orders {
            let mut shape = n.clone();
            shape.cl_ord_id = None;
            if let Err(e) = self.validate_new(acct, &shape, now)
                && !e.contains("Insufficient funds")
            {
                return Err(e);
            }
        }
        let mut out = Vec::new();
        for n in orders {
            out.push(match self.place(acct, n, now) {
                Ok(v) => v,
                // A per-order pre-match failure (shape undocumented): the element carries it.
                Err(e) => json!({"error": e}),
            });
        }
        Ok(Value::Array(out))
    }

    // ---- time -------------------------------------------------------------------------------

    /// Advances the market: the dead man's switch, GTD expiry, the random walk, and
    /// counterparty flow. Called by the server's ticker with the simulated time.
    pub fn tick(&mut self, now: Ns, walk: bool) {
        for a in 0..self.accounts.len() {
            if let Some(t) = self.accounts[a].dead_man
                && now >= t
            {
                self.accounts[a].dead_man = None;
                let open: Vec<usize> = self
                    .open
                    .iter()
                    .copied()
                    .filter(|&i| self.orders[i].account == a && self.orders[i].is_open())
                    .collect();
                for i in open {
                    self.close(i, "canceled", "Dead man's switch", now);
                }
            }
        }
        let expired: Vec<usize> = self
            .open
            .iter()
            .copied()
            .filter(|&i| {
                self.orders[i].is_open() && self.orders[i].expire_ns.is_some_and(|e| now >= e)
            })
            .collect();
        for i in expired {
            self.close(i, "expired", "Order expired", now);
        }
        if walk && self.market_flow {
            for pi in 0..self.pairs.len() {
                let r = self.rand();
                let step = self.pairs[pi].price_increment * Decimal::from((r % 5) as i64 - 2);
                let next = self.pairs[pi].ref_price + step;
                if next > Decimal::ZERO {
                    self.set_reference_price(pi, next, now);
                }
                self.synthetic_trade(pi, now);
                // Counterparty flow: sometimes an aggressive order trades the best resting order.
                if self.rand().is_multiple_of(4) {
                    let buy = self.rand().is_multiple_of(2);
                    let frac = Decimal::new((self.rand() % 100 + 1) as i64, 2);
                    self.counterparty(pi, buy, frac, now);
                }
            }
        }
    }

    /// Sets a pair's reference price; resting orders it crosses fill as makers, triggers fire.
    pub fn set_reference_price(&mut self, pi: usize, price: Decimal, now: Ns) {
        self.pairs[pi].ref_price = price;
        let crossed: Vec<usize> = self
            .resting(pi)
            .into_iter()
            .filter(|&i| {
                let o = &self.orders[i];
                o.limit_price
                    .is_some_and(|lp| if o.buy { price <= lp } else { price >= lp })
            })
            .collect();
        for i in crossed {
            let (q, lp) = (
                self.orders[i].remaining(),
                self.orders[i].limit_price.unwrap_or(price),
            );
            self.fill(i, q, lp, true, now);
        }
        let triggers: Vec<usize> = self
            .open
            .iter()
            .copied()
            .filter(|&i| {
                self.orders[i].pair == pi
                    && self.orders[i].is_open()
                    && self.orders[i].trigger_price.is_some()
                    && !self.orders[i].triggered
            })
            .collect();
        for i in triggers {
            self.check_trigger(i, now);
        }
    }

    fn resting(&self, pi: usize) -> Vec<usize> {
        let mut v: Vec<usize> = self
            .open
            .iter()
            .copied()
            .filter(|&i| {
                let o = &self.orders[i];
                o.pair == pi
                    && o.is_open()
                    && o.limit_price.is_some()
                    && (o.trigger_price.is_none() || o.triggered)
            })
            .collect();
        v.sort_by_key(|&i| self.orders[i].priority);
        v
    }

    /// An aggressive counterparty order of `frac` × the best resting order's remaining size on
    /// the other side: price-time priority, partial fills.
    pub fn counterparty(&mut self, pi: usize, buy: bool, frac: Decimal, now: Ns) {
        let mut best: Option<usize> = None;
        for i in self.resting(pi) {
            let o = &self.orders[i];
            if o.buy == buy {
                continue;
            }
            let better = best.is_none_or(|b| {
                let (lp, bp) = (
                    o.limit_price.unwrap_or_default(),
                    self.orders[b].limit_price.unwrap_or_default(),
                );
                if o.buy { lp > bp } else { lp < bp }
            });
            if better {
                best = Some(i);
            }
        }
        if let Some(i) = best {
            let p = &self.pairs[pi];
            let rem = self.orders[i].remaining();
            let q = (rem * frac)
                .round_dp(p.qty_precision)
                .max(p.qty_increment)
                .min(rem);
            let lp = self.orders[i].limit_price.unwrap_or(p.ref_price);
            // An iceberg shows only its display quantity: a counterparty takes at most that,
            // then the visible part refills.
            let (q, refill) = match self.orders[i].display_qty {
                Some(d) if self.orders[i].order_type == "iceberg" => {
                    let left = d - self.orders[i].shown_filled;
                    (q.min(left), q >= left)
                }
                _ => (q, false),
            };
            self.fill(i, q, lp, true, now);
            let o = &mut self.orders[i];
            o.shown_filled += q;
            if refill && o.is_open() {
                o.shown_filled = Decimal::ZERO;
                self.stream(i, "iceberg_refill", now);
            }
        }
    }

    /// Sets the system status (`online`, `cancel_only`, `maintenance`, `post_only`); queues a
    /// `status` frame for every connection.
    pub fn set_status(&mut self, status: &'static str) -> Value {
        self.status = status;
        json!({"channel": "status", "type": "update", "data": [{"api_version": "v2", "system": status, "version": "2.0.10"}]})
    }

    /// The ledger of truth as JSON.
    pub fn ledger(&self) -> Value {
        json!({
            "orders": self.orders.iter().map(|o| json!({
                "order_id": o.id, "cl_ord_id": o.cl_ord_id, "order_userref": o.userref, "symbol": self.pairs[o.pair].symbol,
                "side": if o.buy { "buy" } else { "sell" }, "order_type": o.order_type, "status": o.status,
                "order_qty": o.qty.to_string(), "filled": o.filled.to_string(), "cum_cost": o.cum_cost.to_string(),
                "fees": o.fees.to_string(), "limit_price": o.limit_price.map(|p| p.to_string()),
                "post_only": o.post_only,
            })).collect::<Vec<_>>(),
            "fills": self.fills.iter().map(|f| json!({
                "exec_id": f.exec_id, "order_id": f.order_id, "cl_ord_id": f.cl_ord_id, "symbol": f.symbol, "side": f.side,
                "qty": f.qty.to_string(), "price": f.price.to_string(), "fee": f.fee.to_string(),
                "liquidity": if f.maker { "m" } else { "t" }, "trade_id": f.trade_id,
            })).collect::<Vec<_>>(),
            "calls": self.private_calls,
            "requests": self.requests.iter().map(|r| json!({
                "route": r.route, "method": r.method, "cl_ord_ids": r.cl_ord_ids, "at": rfc3339(r.at),
                "token_issued": r.token_issued.map(rfc3339),
            })).collect::<Vec<_>>(),
        })
    }

    /// Records an order-entry request in the request log.
    pub fn log_request(
        &mut self,
        route: &'static str,
        method: &str,
        cl_ord_ids: Vec<String>,
        token: Option<&str>,
        at: Ns,
    ) {
        let token_issued = token
            .and_then(|t| self.tokens.get(t))
            .map(|&(_, issued)| issued);
        self.requests.push(LoggedRequest {
            route,
            method: method.to_string(),
            cl_ord_ids,
            at,
            token_issued,
        });
    }

    /// The order with Kraken id `id`.
    pub fn order_by_id(&self, id: &str) -> Option<&SimOrder> {
        self.index.get(id).map(|&i| &self.orders[i])
    }

    /// What the open orders of `acct` hold of `asset` (REST `BalanceEx`'s `hold_trade`).
    pub fn reserved(&self, acct: usize, asset: &str) -> Decimal {
        let held = |o: &SimOrder| {
            let op = &self.pairs[o.pair];
            let px = o.limit_price.unwrap_or(op.ref_price);
            match (o.buy, op.quote == asset, op.base == asset) {
                (true, true, _) => px * o.remaining(),
                (false, _, true) => o.remaining(),
                _ => Decimal::ZERO,
            }
        };
        let priced = self
            .held
            .hold
            .get(&(acct, asset.to_string()))
            .copied()
            .unwrap_or_default();
        let unpriced: Decimal = self
            .held
            .unpriced
            .iter()
            .map(|&i| &self.orders[i])
            .filter(|o| o.account == acct)
            .map(held)
            .sum();
        debug_assert_eq!(
            priced + unpriced,
            self.open_iter()
                .filter(|o| o.account == acct)
                .map(held)
                .sum::<Decimal>(),
            "the running sum of what open orders hold"
        );
        priced + unpriced
    }

    /// Kraken's description of an order: `buy 0.01000000 XBTUSD @ limit 60000.0`.
    pub fn describe(&self, o: &SimOrder) -> String {
        let p = &self.pairs[o.pair];
        let qty = o.qty.round_dp(p.qty_precision);
        let qty = format!("{:.*}", p.qty_precision as usize, qty);
        let side = if o.buy { "buy" } else { "sell" };
        match o.limit_price {
            Some(px) => format!("{side} {qty} {} @ {} {px}", p.rest_name, o.order_type),
            None => format!("{side} {qty} {} @ {}", p.rest_name, o.order_type),
        }
    }

    /// REST order object (`OpenOrders`/`QueryOrders`): numbers as strings.
    pub fn rest_order(&self, o: &SimOrder) -> Value {
        let p = &self.pairs[o.pair];
        let status = match o.status {
            "pending_new" => "pending",
            "new" | "partially_filled" => "open",
            "filled" => "closed",
            s => s,
        };
        let mut v = json!({
            "refid": null, "userref": o.userref, "cl_ord_id": o.cl_ord_id, "status": status,
            "opentm": o.opened_ns as f64 / 1e9, "starttm": 0, "expiretm": 0,
            "descr": {"pair": p.rest_name, "type": if o.buy { "buy" } else { "sell" }, "ordertype": o.order_type,
                      "price": o.limit_price.unwrap_or_default().to_string(), "price2": "0", "leverage": "none",
                      "order": self.describe(o), "close": ""},
            "vol": o.qty.to_string(), "vol_exec": o.filled.to_string(), "cost": o.cum_cost.to_string(),
            "fee": o.fees.to_string(), "price": o.avg_price().to_string(), "misc": "", "oflags": "fciq",
            "trades": self.fills.iter().filter(|f| f.order_id == o.id).map(|f| f.exec_id.clone()).collect::<Vec<_>>(),
        });
        // Closed orders say when and why, as Kraken's do.
        if let Some(t) = o.closed_ns {
            v["closetm"] = json!(t as f64 / 1e9);
            v["reason"] = json!(o.reason);
        }
        v
    }

    /// REST `TradesHistory`: `acct`'s trades after `start` (unix seconds, exclusive), newest
    /// first, 50 from offset `ofs`, with the total `count`. A trade's txid is its executions
    /// `exec_id`.
    pub fn trades_history(&self, acct: usize, start: Option<f64>, ofs: usize) -> Value {
        let after = |f: &&SimFill| start.is_none_or(|s| f.at_ns as f64 / 1e9 > s);
        let mine: Vec<&SimFill> = self
            .fills
            .iter()
            .rev()
            .filter(|f| f.account == acct)
            .filter(after)
            .collect();
        let mut m = Map::new();
        for f in mine.iter().skip(ofs).take(50) {
            let p = self.pairs.iter().find(|p| p.symbol == f.symbol);
            let ordertype = self
                .index
                .get(&f.order_id)
                .map_or("limit", |&i| self.orders[i].order_type.as_str());
            m.insert(
                f.exec_id.clone(),
                json!({
                    "ordertxid": f.order_id, "postxid": "TKH2SE-M7IF5-CFI7LT",
                    "pair": p.map_or(f.symbol.as_str(), |p| p.key.as_str()),
                    "time": f.at_ns as f64 / 1e9, "type": f.side, "ordertype": ordertype,
                    "price": f.price.to_string(), "cost": (f.qty * f.price).to_string(),
                    "fee": f.fee.to_string(), "vol": f.qty.to_string(), "margin": "0.00000",
                    "leverage": "0", "misc": "", "trade_id": f.trade_id, "maker": f.maker,
                }),
            );
        }
        json!({"trades": m, "count": mine.len()})
    }

    /// Open orders of `acct`, optionally by client id.
    pub fn open_orders(&self, acct: usize, cl_ord_id: Option<&str>) -> Value {
        let mut m = Map::new();
        for o in self.open_iter().filter(|o| o.account == acct) {
            if cl_ord_id.is_none_or(|c| o.cl_ord_id.as_deref() == Some(c)) {
                m.insert(o.id.clone(), self.rest_order(o));
            }
        }
        json!({"open": m})
    }

    /// Closed orders of `acct` (REST `ClosedOrders`), most recent first, 50 from offset `ofs`,
    /// optionally by client id and after `start` (unix seconds, exclusive).
    pub fn closed_orders(
        &self,
        acct: usize,
        cl_ord_id: Option<&str>,
        start: Option<f64>,
        end: Option<f64>,
        ofs: usize,
    ) -> Value {
        // A client id names few orders: those, not the whole history.
        let candidates: Box<dyn Iterator<Item = &SimOrder>> = match cl_ord_id {
            Some(c) => Box::new(
                self.by_cl_ord_id
                    .get(c)
                    .into_iter()
                    .flatten()
                    .rev()
                    .map(|&i| &self.orders[i]),
            ),
            None => Box::new(self.orders.iter().rev()),
        };
        let closed: Vec<&SimOrder> = candidates
            .filter(|o| o.account == acct && !o.is_open() && o.status != "pending_new")
            // Orders opened after `start` (the sim keeps no close time; close ≥ open).
            .filter(|o| start.is_none_or(|s| o.opened_ns as f64 / 1e9 > s))
            .filter(|o| end.is_none_or(|e| o.opened_ns as f64 / 1e9 <= e))
            .collect();
        let mut m = Map::new();
        for o in closed.iter().skip(ofs).take(50) {
            m.insert(o.id.clone(), self.rest_order(o));
        }
        json!({"closed": m, "count": closed.len()})
    }

    /// Orders by id.
    /// `QueryOrders`: as Kraken, one id the account does not have fails the whole call with
    /// `EOrder:Invalid order` (it is not left out of the answer).
    pub fn query_orders(&self, acct: usize, ids: &[&str]) -> Reply {
        let mut m = Map::new();
        for id in ids {
            match self.index.get(*id) {
                Some(&i) if self.orders[i].account == acct => {
                    m.insert(id.to_string(), self.rest_order(&self.orders[i]));
                }
                _ => return Err("EOrder:Invalid order".into()),
            }
        }
        Ok(Value::Object(m))
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

#[cfg(test)]
mod tests {
    use super::*;

    const S: Ns = 1_000_000_000;
    const T0: Ns = 1_764_000_000 * S;

    fn ex() -> Exchange {
        let mut e = Exchange::new(
            default_pairs(),
            vec![Account::new("k", b"s", Tier::Starter)],
            7,
        );
        e.market_flow = false;
        e
    }

    fn limit(buy: bool, qty: &str, px: &str) -> NewOrder {
        NewOrder {
            symbol: "BTC/USD".into(),
            buy,
            order_type: "limit".into(),
            qty: Some(Decimal::from_str(qty).unwrap()),
            limit_price: Some(Decimal::from_str(px).unwrap()),
            tif: "gtc".into(),
            ..NewOrder::default()
        }
    }

    #[test]
    fn the_rest_counter_refuses_past_the_tier_and_decays() {
        let mut e = ex();
        let limited = "EAPI:Rate limit exceeded".to_string();
        // Starter: 15 calls; order entry is not counted here.
        for _ in 0..15 {
            assert_eq!(e.charge_rest(0, "Balance", T0), Ok(()));
        }
        assert_eq!(e.charge_rest(0, "AddOrder", T0), Ok(()));
        assert_eq!(e.charge_rest(0, "Balance", T0), Err(limited.clone()));
        assert_eq!(e.rest_rate_limited, 1);
        // A refused call is not counted: one call of decay (1 / 0.33 s) makes room for one.
        assert_eq!(
            e.charge_rest(0, "Balance", T0 + 3 * S),
            Err(limited.clone())
        );
        assert_eq!(e.charge_rest(0, "Balance", T0 + 3_100_000_000), Ok(()));
        // History calls cost two.
        assert_eq!(
            e.charge_rest(0, "TradesHistory", T0 + 6_200_000_000),
            Err(limited.clone())
        );
        assert_eq!(
            e.charge_rest(0, "TradesHistory", T0 + 9_200_000_000),
            Ok(())
        );
        assert!(e.rest_counter_level(0, T0 + 9_200_000_000) > 14.9);
        // Another client on the key spends it; the counter decays to zero in time.
        e.spend_rest_counter(0, T0 + 10 * S);
        assert_eq!(e.rest_counter_level(0, T0 + 10 * S), 15.0);
        assert_eq!(e.rest_counter_level(0, T0 + 60 * S), 0.0);
        // Off, or an unlimited account: never refused.
        e.rest_counter = false;
        e.spend_rest_counter(0, T0 + 70 * S);
        assert_eq!(e.charge_rest(0, "Balance", T0 + 70 * S), Ok(()));
        let mut u = Exchange::new(
            default_pairs(),
            vec![Account::new("k", b"s", Tier::Unlimited)],
            7,
        );
        for _ in 0..1000 {
            assert_eq!(u.charge_rest(0, "Ledgers", T0), Ok(()));
        }
    }

    /// What open orders hold, and how many rest, are running sums: after every kind of change
    /// they equal a count over the orders themselves.
    #[test]
    fn what_open_orders_hold_is_kept_as_they_change() {
        let mut e = ex();
        let check = |e: &Exchange, step: &str| {
            for asset in ["USD", "BTC"] {
                let scan: Decimal = e
                    .orders
                    .iter()
                    .filter(|o| o.is_open())
                    .map(|o| {
                        let px = o.limit_price.unwrap_or(e.pairs[o.pair].ref_price);
                        match (o.buy, asset) {
                            (true, "USD") => px * o.remaining(),
                            (false, "BTC") => o.remaining(),
                            _ => Decimal::ZERO,
                        }
                    })
                    .sum();
                assert_eq!(e.reserved(0, asset), scan, "{asset} after {step}");
            }
            let open = e.orders.iter().filter(|o| o.is_open()).count();
            assert_eq!(e.open_count(0, 0), open, "count after {step}");
        };
        let buy = e.add_order(0, &limit(true, "1", "64000"), T0).unwrap();
        let buy = buy["order_id"].as_str().unwrap().to_string();
        e.add_order(0, &limit(false, "2", "66000"), T0).unwrap();
        check(&e, "placing");
        e.counterparty(0, false, Decimal::new(25, 2), T0);
        check(&e, "a partial fill");
        let mut amend = Map::new();
        amend.insert("order_id".into(), json!(buy));
        amend.insert("order_qty".into(), json!(0.8));
        amend.insert("limit_price".into(), json!(63000.0));
        e.amend_order(0, &amend, T0 + 20 * S).unwrap();
        check(&e, "an amend");
        let mut edit = Map::new();
        edit.insert("order_id".into(), json!(buy));
        edit.insert("limit_price".into(), json!(62000.0));
        let edited = e.edit_order(0, &edit, T0 + 200 * S).unwrap();
        check(&e, "an edit");
        let mut stop = limit(false, "0.5", "1");
        stop.order_type = "stop-loss".into();
        stop.limit_price = None;
        stop.trigger_price = Some(Decimal::from(64500));
        e.add_order(0, &stop, T0 + 200 * S).unwrap();
        check(&e, "a stop waiting");
        e.set_reference_price(0, Decimal::from(64400), T0 + 201 * S);
        check(&e, "the stop triggered and the price moved");
        // A trailing stop-limit's limit is set when it triggers (an offset until then).
        let mut trail = limit(true, "0.1", "-500");
        trail.order_type = "trailing-stop-limit".into();
        trail.trigger_price = Some(Decimal::from(100));
        e.add_order(0, &trail, T0 + 202 * S).unwrap();
        check(&e, "a trailing stop-limit waiting");
        e.set_reference_price(0, Decimal::from(64600), T0 + 203 * S);
        assert!(e.orders.iter().any(|o| o.triggered && o.is_open()));
        check(&e, "the trailing stop-limit triggered and rests");
        let new = edited["order_id"].as_str().unwrap().to_string();
        assert!(e.cancel_orders(0, &[new], &[], &[], T0 + 300 * S)[0].is_ok());
        check(&e, "a cancel");
    }

    #[test]
    fn resting_order_fills_partially_then_fully() {
        let mut e = ex();
        let r = e.add_order(0, &limit(true, "1", "64000"), T0).unwrap();
        let id = r["order_id"].as_str().unwrap().to_string();
        assert_eq!(e.orders[0].status, "new");
        e.counterparty(0, false, Decimal::new(25, 2), T0);
        assert_eq!(
            (e.orders[0].status, e.orders[0].filled),
            ("partially_filled", Decimal::new(25, 2))
        );
        e.set_reference_price(0, Decimal::from(63990), T0);
        assert_eq!(e.orders[0].status, "filled");
        assert_eq!(e.fills.len(), 2);
        assert!(
            e.fills
                .iter()
                .all(|f| f.order_id == id && f.maker && f.price == Decimal::from(64000))
        );
    }

    #[test]
    fn marketable_orders_take_and_post_only_refuses() {
        let mut e = ex();
        e.add_order(0, &limit(true, "0.5", "70000"), T0).unwrap();
        assert_eq!(e.orders[0].status, "filled");
        assert_eq!(e.fills[0].price, Decimal::from_str("65000.1").unwrap());
        assert!(!e.fills[0].maker);
        let mut p = limit(true, "0.5", "70000");
        p.post_only = true;
        assert_eq!(
            e.add_order(0, &p, T0).unwrap_err(),
            "EOrder:Post only order"
        );
        let mut ioc = limit(true, "0.5", "60000");
        ioc.tif = "ioc".into();
        e.add_order(0, &ioc, T0).unwrap();
        assert_eq!(e.orders.last().unwrap().status, "canceled");
    }

    #[test]
    fn instrument_rules_and_funds() {
        let mut e = ex();
        assert_eq!(
            e.add_order(0, &limit(true, "0.00001", "64000"), T0)
                .unwrap_err(),
            "EOrder:Order minimum not met"
        );
        assert_eq!(
            e.add_order(0, &limit(true, "1", "64000.05"), T0)
                .unwrap_err(),
            "EOrder:Tick size check failed"
        );
        assert_eq!(
            e.add_order(0, &limit(true, "0.0001", "1000"), T0)
                .unwrap_err(),
            "EOrder:Cost minimum not met"
        );
        assert_eq!(
            e.add_order(0, &limit(true, "1000", "64000"), T0)
                .unwrap_err(),
            "EOrder:Insufficient funds"
        );
        assert_eq!(
            e.add_order(0, &limit(false, "101", "66000"), T0)
                .unwrap_err(),
            "EOrder:Insufficient funds"
        );
    }

    #[test]
    fn rate_counter_follows_the_model() {
        let mut e = ex();
        for i in 0..59 {
            e.add_order(0, &limit(true, "0.001", "60000"), T0)
                .unwrap_or_else(|err| panic!("{i} {err}"));
        }
        assert_eq!(
            e.add_order(0, &limit(true, "0.001", "60000"), T0)
                .unwrap_err(),
            "EOrder:Rate limit exceeded"
        );
        // Starter decays 1/s.
        assert!((e.rate_counter(0, 0, T0 + 10 * S) - 50.0).abs() < 1e-6);
        e.add_order(0, &limit(true, "0.001", "60000"), T0 + 10 * S)
            .unwrap();
        // A cancel of a fresh order costs 8.
        let before = e.rate_counter(0, 0, T0 + 10 * S);
        let id = e.orders.last().unwrap().id.clone();
        e.cancel_orders(0, &[id], &[], &[], T0 + 10 * S);
        assert!((e.rate_counter(0, 0, T0 + 10 * S) - before - 8.0).abs() < 1e-6);
    }

    #[test]
    fn dead_mans_switch_and_expiry() {
        let mut e = ex();
        e.add_order(0, &limit(true, "0.1", "60000"), T0).unwrap();
        e.cancel_after(0, 60, T0).unwrap();
        e.tick(T0 + 59 * S, false);
        assert_eq!(e.orders[0].status, "new");
        e.tick(T0 + 60 * S, false);
        assert_eq!(e.orders[0].status, "canceled");
        let mut g = limit(true, "0.1", "60000");
        g.tif = "gtd".into();
        g.expire_ns = Some(T0 + 100 * S);
        e.add_order(0, &g, T0 + 61 * S).unwrap();
        e.tick(T0 + 100 * S, false);
        assert_eq!(e.orders[1].status, "expired");
    }

    /// Reports carry their `reason` as Kraken's do: an amend in `reason` alone, with the key set
    /// of Kraken's documented amend report; a cancel in `reason` and the deprecated
    /// `cancel_reason`; a fill in neither, even after an amend.
    #[test]
    fn reports_give_their_reason_as_kraken_does() {
        let mut e = ex();
        let t = e.issue_token(0, T0);
        e.subscribe_private(1, "executions", Some(&t), &Map::new(), T0)
            .unwrap();
        let id = e.add_order(0, &limit(true, "1", "64000"), T0).unwrap()["order_id"]
            .as_str()
            .unwrap()
            .to_string();
        let mut amend = Map::new();
        amend.insert("order_id".into(), json!(id));
        amend.insert("limit_price".into(), json!(64100.0));
        e.amend_order(0, &amend, T0 + S).unwrap();
        e.counterparty(0, false, Decimal::ONE, T0 + 2 * S);
        let other = e
            .add_order(0, &limit(true, "1", "60000"), T0 + 3 * S)
            .unwrap();
        let other = other["order_id"].as_str().unwrap().to_string();
        assert!(e.cancel_orders(0, &[other], &[], &[], T0 + 4 * S)[0].is_ok());
        let mut frames = Vec::new();
        e.take_outbox(1, &mut frames);
        let reports: Vec<Value> = frames
            .iter()
            .filter_map(|f| serde_json::from_str::<Value>(f).ok())
            .filter(|v| v["type"] == "update")
            .flat_map(|v| v["data"].as_array().cloned().unwrap_or_default())
            .collect();
        let by = |t: &str| {
            reports
                .iter()
                .find(|r| r["exec_type"] == t)
                .cloned()
                .unwrap()
        };
        let amended = by("amended");
        let mut keys: Vec<&str> = amended
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "amended",
                "cum_qty",
                "exec_type",
                "limit_price",
                "limit_price_type",
                "order_id",
                "order_qty",
                "order_status",
                "order_userref",
                "reason",
                "timestamp"
            ]
        );
        assert_eq!(amended["reason"], "User requested");
        let canceled = by("canceled");
        assert_eq!(
            (&canceled["reason"], &canceled["cancel_reason"]),
            (&json!("User requested"), &json!("User requested"))
        );
        for t in ["trade", "filled"] {
            assert!(by(t).get("reason").is_none(), "{t} carries no reason");
        }
    }

    #[test]
    fn tokens_expire_unless_held() {
        let mut e = ex();
        let t = e.issue_token(0, T0);
        assert_eq!(e.check_token(Some(&t), T0 + 899 * S), Ok(0));
        assert!(e.check_token(Some(&t), T0 + 900 * S).is_err());
        let t2 = e.issue_token(0, T0);
        e.subscribe_private(1, "executions", Some(&t2), &Map::new(), T0)
            .unwrap();
        assert_eq!(e.check_token(Some(&t2), T0 + 3600 * S), Ok(0));
        e.disconnect(1);
        assert!(e.check_token(Some(&t2), T0 + 3600 * S).is_err());
    }

    #[test]
    fn numbers_must_be_numbers() {
        let p: Map<String, Value> =
            serde_json::from_str(r#"{"limit_price":"1.5","cash_order_qty":"2"}"#).unwrap();
        assert_eq!(
            dec_param(&p, "limit_price").unwrap_err(),
            "Limit_price field must be a number_float"
        );
        assert_eq!(
            dec_param(&p, "cash_order_qty").unwrap_err(),
            "Cash_order_qty field must be a number_float"
        );
        let p: Map<String, Value> =
            serde_json::from_str(r#"{"order_qty":100,"limit_price":26500.40}"#).unwrap();
        assert_eq!(
            dec_param(&p, "order_qty").unwrap(),
            Some(Decimal::from(100))
        );
        assert_eq!(
            dec_param(&p, "limit_price").unwrap(),
            Some(Decimal::from_str("26500.4").unwrap())
        );
    }

    #[test]
    fn trailing_stop_follows_the_peak() {
        let mut e = ex();
        let n = NewOrder {
            symbol: "BTC/USD".into(),
            buy: false,
            order_type: "trailing-stop".into(),
            qty: Some(Decimal::from_str("0.1").unwrap()),
            trigger_price: Some(Decimal::from(100)),
            tif: "gtc".into(),
            ..NewOrder::default()
        };
        e.add_order(0, &n, T0).unwrap();
        e.set_reference_price(0, Decimal::from(65500), T0);
        e.set_reference_price(0, Decimal::from(65450), T0);
        assert_eq!(
            e.orders[0].status, "new",
            "50 below the 65500 peak: not yet"
        );
        e.set_reference_price(0, Decimal::from(65400), T0);
        assert_eq!(
            e.orders[0].status, "filled",
            "100 below the peak: triggered, sold at market"
        );
        assert_eq!(e.fills[0].price, Decimal::from_str("65399.9").unwrap());
    }

    #[test]
    fn pct_stop_is_relative_to_the_price_at_placement() {
        let mut e = ex();
        let n = NewOrder {
            symbol: "BTC/USD".into(),
            buy: false,
            order_type: "stop-loss".into(),
            qty: Some(Decimal::from_str("0.1").unwrap()),
            trigger_price: Some(Decimal::from(-2)),
            trigger_pct: true,
            tif: "gtc".into(),
            ..NewOrder::default()
        };
        e.add_order(0, &n, T0).unwrap();
        e.set_reference_price(0, Decimal::from(63800), T0);
        assert_eq!(e.orders[0].status, "new");
        e.set_reference_price(0, Decimal::from(63700), T0);
        assert_eq!(e.orders[0].status, "filled", "2% below 65000 is 63700");
    }

    #[test]
    fn iceberg_shows_only_its_display_quantity() {
        let mut e = ex();
        let n = NewOrder {
            symbol: "BTC/USD".into(),
            buy: true,
            order_type: "iceberg".into(),
            qty: Some(Decimal::from(1)),
            limit_price: Some(Decimal::from(64000)),
            display_qty: Some(Decimal::from_str("0.1").unwrap()),
            tif: "gtc".into(),
            ..NewOrder::default()
        };
        e.add_order(0, &n, T0).unwrap();
        e.counterparty(0, false, Decimal::ONE, T0);
        assert_eq!(
            e.orders[0].filled,
            Decimal::from_str("0.1").unwrap(),
            "one visible slice"
        );
        e.counterparty(0, false, Decimal::ONE, T0);
        assert_eq!(
            e.orders[0].filled,
            Decimal::from_str("0.2").unwrap(),
            "refilled"
        );
    }

    #[test]
    fn time_formats() {
        assert_eq!(
            rfc3339(1_695_378_785_709_950_000),
            "2023-09-22T10:33:05.709950Z"
        );
        assert_eq!(
            parse_rfc3339("2023-09-22T10:33:05.709950Z"),
            Some(1_695_378_785_709_950_000)
        );
    }
}
