//! One-shot operator commands against a URL (the simulator or Kraken): connect, do one thing,
//! report, disconnect. Orders are sent with `validate: true` unless `--live` is given.

use std::time::{Duration, Instant};

use kraken_exec::engine::{self, ConnectionState, EngineConfig, IdleStrategy, Strategy, Trader};
use kraken_exec::orders::{Fill, FillOrigin, NotSent, RequestAck, RequestFailure, StatusChange};

use crate::config_file::FileConfig;
use kraken_exec::{AmendOrder, ClOrdId, OrderId, OrderRef, OrderStatus, RequestId};
use rust_decimal::Decimal;

/// Where to connect. Each setting: the flag, else the environment (`KRAKEN_WS_URL`,
/// `KRAKEN_REST_URL`), else `--config`, else Kraken's production value.
#[derive(clap::Args, Debug, Clone)]
pub struct Conn {
    /// WebSocket v2 URL [default: wss://ws-auth.kraken.com/v2].
    #[arg(long)]
    pub ws_url: Option<String>,
    /// REST base URL [default: https://api.kraken.com].
    #[arg(long)]
    pub rest_url: Option<String>,
    /// Extra CA certificate (PEM) to trust, e.g. the simulator's `--cert-out` file.
    #[arg(long)]
    pub ca_file: Option<std::path::PathBuf>,
    /// Symbols to load [default: BTC/USD].
    #[arg(long, value_delimiter = ',')]
    pub symbols: Option<Vec<String>>,
    /// A TOML configuration file (see README); checked for safe permissions if it holds a secret.
    #[arg(long)]
    pub config: Option<std::path::PathBuf>,
    /// Allow plain ws:// and http:// URLs to this machine (a simulator started without --tls).
    /// Credentials never travel unencrypted to another host.
    #[arg(long)]
    pub insecure_local: bool,
    /// Keep a journal in this directory (and read back the fills an earlier run journaled
    /// there, so they are not reported again).
    #[arg(long)]
    pub journal: Option<std::path::PathBuf>,
}

/// What a one-shot command saw: printed lines, and every request outcome by id.
#[derive(Default)]
struct Report {
    lines: Vec<String>,
    /// Print only what concerns this order (the command's own), not the account's history.
    focus: Option<ClOrdId>,
    focus_id: Option<OrderId>,
    /// Print no order's lines at all.
    quiet: bool,
    /// Lines as JSON objects.
    json: bool,
    acks: Vec<RequestAck>,
    rejects: Vec<RequestFailure>,
    unknown: Vec<RequestId>,
    not_sent: Vec<NotSent>,
}

impl Report {
    fn focused(focus: Option<ClOrdId>, focus_id: Option<OrderId>) -> Self {
        Report {
            focus,
            focus_id,
            ..Report::default()
        }
    }

    /// A report that prints no order's lines.
    fn quiet() -> Self {
        Report {
            quiet: true,
            ..Report::default()
        }
    }

    /// A report of what concerns `target` only.
    fn on(target: &OrderRef) -> Self {
        match target {
            OrderRef::OrderId(id) => Report::focused(None, Some(*id)),
            OrderRef::ClOrdId(c) => Report::focused(Some(*c), None),
            OrderRef::UserRef(_) => Report::default(),
        }
    }

    fn concerns(&self, order_id: Option<OrderId>, cl: Option<ClOrdId>) -> bool {
        if self.quiet {
            return false;
        }
        match (self.focus, self.focus_id) {
            (None, None) => true,
            (f, fid) => (f.is_some() && cl == f) || (fid.is_some() && order_id == fid),
        }
    }
}

impl Strategy for Report {
    fn on_execution(&mut self, f: &Fill) {
        if !self.concerns(Some(f.order_id), f.cl_ord_id) {
            return;
        }
        let side = f.side.map_or("?", |s| s.as_str());
        let origin = match f.origin {
            FillOrigin::Live => "live",
            FillOrigin::Recovered => "recovered",
            FillOrigin::Historical => "historical",
        };
        if self.json {
            self.lines.push(
                serde_json::json!({
                    "event": "fill", "exec_id": f.exec_id.as_str(), "order_id": f.order_id.as_str(),
                    "cl_ord_id": f.cl_ord_id.map(|c| c.to_string()), "side": f.side.map(|s| s.as_str()),
                    "qty": f.qty.to_string(), "price": f.price.to_string(),
                    "fee": f.fee.map(|x| x.qty.to_string()), "fee_asset": f.fee.map(|x| x.asset.to_string()),
                    "origin": origin, "recovered": f.origin == FillOrigin::Recovered,
                    "historical": f.origin == FillOrigin::Historical,
                })
                .to_string(),
            );
            return;
        }
        let fee = f
            .fee
            .map(|x| format!(" fee {} {}", x.qty, x.asset))
            .unwrap_or_default();
        let note = match f.origin {
            FillOrigin::Live => "",
            FillOrigin::Recovered => " (recovered: made while not listening)",
            FillOrigin::Historical => " (historical: before this run, not counted)",
        };
        self.lines.push(format!(
            "fill {} {side} {} @ {}{fee} (exec {}){note}",
            f.order_id, f.qty, f.price, f.exec_id
        ));
    }
    fn on_status_change(&mut self, c: &StatusChange) {
        if c.cl_ord_id.is_some() && c.cl_ord_id == self.focus && c.order_id.is_some() {
            self.focus_id = c.order_id;
        }
        if !self.concerns(c.order_id, c.cl_ord_id) {
            return;
        }
        let id = c
            .order_id
            .map(|i| i.to_string())
            .or(c.cl_ord_id.map(|c| c.to_string()))
            .unwrap_or_default();
        if self.json {
            self.lines.push(
                serde_json::json!({
                    "event": "status", "order_id": c.order_id.map(|i| i.to_string()),
                    "cl_ord_id": c.cl_ord_id.map(|c| c.to_string()),
                    "from": c.from.map(OrderStatus::as_str), "to": OrderStatus::as_str(c.to),
                    "reason": c.reason.map(|r| r.to_string()),
                })
                .to_string(),
            );
            return;
        }
        let from = c
            .from
            .map(|f| format!("{} -> ", OrderStatus::as_str(f)))
            .unwrap_or_default();
        self.lines.push(format!(
            "order {id}: {from}{}{}",
            OrderStatus::as_str(c.to),
            c.reason.map(|r| format!(" ({r})")).unwrap_or_default()
        ));
    }
    fn on_reject(&mut self, r: &RequestFailure) {
        self.rejects.push(*r);
    }
    fn on_ack(&mut self, a: &RequestAck) {
        self.acks.push(*a);
    }
    fn on_unknown_outcome(&mut self, req_id: RequestId) {
        self.unknown.push(req_id);
    }
    fn on_not_sent(&mut self, n: &NotSent) {
        self.not_sent.push(*n);
    }
}

/// A one-shot request's own outcome, as the exchange (or the engine) reported it by req_id.
enum Outcome {
    Accepted(RequestAck),
    Refused(String),
    /// No answer: it may or may not have executed.
    Unknown,
}

/// Exit status of a command whose request's outcome is unknown (the exchange may hold it).
pub const EXIT_UNKNOWN: u8 = 3;

/// Why a one-shot command did not succeed, with its exit status.
pub struct Failure {
    pub message: String,
    pub code: u8,
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Failure { message, code: 1 }
    }
}

/// Polls until request `req_id` has an outcome: accepted, refused (by the exchange or never
/// sent), or unknown once its deadline passed. Nothing is matched by printed text.
fn await_outcome(t: &mut Trader, r: &mut Report, req_id: RequestId, secs: u64) -> Outcome {
    let end = Instant::now() + Duration::from_secs(secs);
    loop {
        t.poll(r);
        if let Some(a) = r.acks.iter().find(|a| a.req_id == req_id) {
            return Outcome::Accepted(*a);
        }
        if let Some(f) = r.rejects.iter().find(|f| f.req_id == Some(req_id)) {
            return Outcome::Refused(format!("refused by the exchange: {}", f.error));
        }
        if let Some(n) = r.not_sent.iter().find(|n| n.req_id == req_id) {
            return Outcome::Refused(n.reason.as_str().to_string());
        }
        if r.unknown.contains(&req_id) || Instant::now() >= end {
            return Outcome::Unknown;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// After an unknown outcome the engine looks the order up: waits (bounded) for the lookup to
/// settle `target`. `Some(true)`: the exchange holds (or held) it; `Some(false)`: it was
/// never placed; `None`: still unknown.
fn await_lookup(t: &mut Trader, r: &mut Report, target: &OrderRef, secs: u64) -> Option<bool> {
    let end = Instant::now() + Duration::from_secs(secs);
    loop {
        t.poll(r);
        match t.order_status(target).map(|o| o.status) {
            Some(OrderStatus::Unknown | OrderStatus::Pending) | None => {}
            Some(OrderStatus::Rejected) => return Some(false),
            Some(_) => return Some(true),
        }
        if Instant::now() >= end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Connects and waits until ready. `r` says what the command will print (its focus).
fn connect(c: &Conn, mut r: Report) -> Result<(Trader, Report), String> {
    let file = match &c.config {
        Some(p) => FileConfig::load(p)?,
        None => FileConfig::default(),
    };
    let pick = |flag: &Option<String>, env: &str, file: &Option<String>, default: &str| {
        flag.clone()
            .or_else(|| std::env::var(env).ok())
            .or_else(|| file.clone())
            .unwrap_or_else(|| default.to_string())
    };
    let ws_url = pick(
        &c.ws_url,
        "KRAKEN_WS_URL",
        &file.ws_url,
        "wss://ws-auth.kraken.com/v2",
    );
    let rest_url = pick(
        &c.rest_url,
        "KRAKEN_REST_URL",
        &file.rest_url,
        "https://api.kraken.com",
    );
    let symbols = c
        .symbols
        .clone()
        .or_else(|| file.symbols.clone())
        .unwrap_or_else(|| vec!["BTC/USD".into()]);
    let symbols: Vec<&str> = symbols.iter().map(String::as_str).collect();
    let mut cfg = EngineConfig::new(file.credentials()?, &symbols);
    file.apply(&mut cfg)?;
    cfg.ws_url = ws_url;
    cfg.rest_url = rest_url;
    let ca = c
        .ca_file
        .clone()
        .or_else(|| file.ca_file.clone().map(Into::into));
    if let Some(p) = &ca {
        cfg.extra_ca_pem = Some(std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?);
    }
    cfg.allow_insecure_local = c.insecure_local;
    cfg.journal = c
        .journal
        .as_ref()
        .map(kraken_exec::journal::JournalConfig::new);
    cfg.idle = IdleStrategy::Block(Duration::from_millis(1));
    // A one-shot command must not leave Kraken's dead man's switch armed behind it.
    cfg.dead_man_timeout = None;
    cfg.subscribe_balances = false;
    let url = cfg.ws_url.clone();
    let mut t = engine::start(cfg).map_err(|e| match e {
        engine::EngineError::Config(m) if m.contains("plain") => {
            format!("{m}; for a local simulator without TLS pass --insecure-local")
        }
        e => e.to_string(),
    })?;
    if !t.wait_ready(&mut r, Duration::from_secs(10)) {
        let _ = t.shutdown();
        return Err(format!(
            "could not connect to {url} (check the URL, credentials and CA)"
        ));
    }
    Ok((t, r))
}

fn settle(t: &mut Trader, r: &mut Report, secs: u64, done: impl Fn(&Trader, &Report) -> bool) {
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end && !done(t, r) {
        t.poll(r);
        std::thread::sleep(Duration::from_millis(2));
    }
    t.poll(r);
}

/// Prints what was seen, stops the engine (anything left unsent or unanswered is said), and
/// turns the request's outcome into the command's result.
fn finish(t: Trader, mut r: Report, result: Result<(), Failure>) -> Result<(), Failure> {
    let report = t.shutdown_with(&mut r);
    for l in &r.lines {
        println!("{l}");
    }
    if !report.not_sent.is_empty() || !report.unanswered.is_empty() {
        eprintln!(
            "kraken-exec: at exit, requests not sent: {:?}, sent without an answer: {:?}",
            report.not_sent, report.unanswered
        );
    }
    result
}

/// A client order id for a one-shot order the user did not name, so an unknown outcome can
/// be looked up: `kx` and 16 hex digits of the clock and process id.
fn fresh_cl_ord_id() -> ClOrdId {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as u64;
    let v = nanos ^ (u64::from(std::process::id()) << 40);
    ClOrdId::new(&format!("kx{v:016x}")).expect("18 ASCII characters are a valid cl_ord_id")
}

fn target(order_id: Option<String>, cl_ord_id: Option<String>) -> Result<OrderRef, String> {
    match (order_id, cl_ord_id) {
        (Some(o), None) => OrderId::new(&o)
            .map(OrderRef::OrderId)
            .ok_or_else(|| format!("bad order id `{o}`")),
        (None, Some(c)) => ClOrdId::new(&c)
            .map(OrderRef::ClOrdId)
            .map_err(|e| format!("cl_ord_id: {e}")),
        _ => Err("give exactly one of --order-id and --cl-ord-id".into()),
    }
}

/// `place`: exit 0 only if the exchange accepted this very request (found by its req_id, or
/// by a lookup of its cl_ord_id after an unknown outcome).
#[allow(clippy::too_many_arguments)]
pub fn place(
    c: &Conn,
    symbol: &str,
    side: &str,
    qty: &str,
    order_type: &str,
    price: Option<&str>,
    cl_ord_id: Option<&str>,
    live: bool,
) -> Result<(), Failure> {
    let cl = match cl_ord_id {
        Some(id) => ClOrdId::new(id).map_err(|e| format!("cl_ord_id: {e}"))?,
        None => fresh_cl_ord_id(),
    };
    let (mut t, mut r) = connect(c, Report::focused(Some(cl), None))?;
    let mut order = match t.parse_order(symbol, side, qty, order_type, price) {
        Ok(o) => o.cl_ord_id(cl),
        Err(e) => return finish(t, r, Err(e.to_string().into())),
    };
    if !live {
        order = order.validate_only();
        println!("validate only (no order is placed; --live to trade)");
    }
    let req_id = match t.add_order(order) {
        Ok(id) => id,
        Err(e) => return finish(t, r, Err(format!("refused before the wire: {e}").into())),
    };
    let result = match await_outcome(&mut t, &mut r, req_id, OUTCOME_SECS) {
        Outcome::Accepted(_) if !live => {
            println!("valid: the exchange would accept it (cl_ord_id {cl})");
            Ok(())
        }
        Outcome::Accepted(a) => {
            let id = a.order_id.map(|i| i.to_string()).unwrap_or_default();
            // Let the first executions report land, so the state printed is the exchange's.
            settle(&mut t, &mut r, 1, |t, _| {
                t.order_status(&OrderRef::ClOrdId(cl))
                    .is_some_and(|o| o.first_report_ns > 0)
            });
            println!("placed: order {id} (cl_ord_id {cl})");
            Ok(())
        }
        Outcome::Refused(e) => Err(e.into()),
        Outcome::Unknown if !live => Err(Failure {
            message: "no answer to the validation request".into(),
            code: EXIT_UNKNOWN,
        }),
        Outcome::Unknown => match await_lookup(&mut t, &mut r, &OrderRef::ClOrdId(cl), 10) {
            Some(true) => {
                println!("placed (no answer; found by lookup, cl_ord_id {cl})");
                Ok(())
            }
            Some(false) => {
                Err(format!("not placed (no answer; lookup found no order {cl})").into())
            }
            None => Err(Failure {
                message: format!(
                    "outcome unknown: no answer and the lookup has not settled; check `kraken-exec orders` for cl_ord_id {cl}"
                ),
                code: EXIT_UNKNOWN,
            }),
        },
    };
    finish(t, r, result)
}

/// How long a one-shot command waits for its request's answer (the engine's request timeout
/// turns silence into an unknown outcome before this).
const OUTCOME_SECS: u64 = 15;

/// The outcome of a request that changes one order: success only on the exchange's ack.
fn settle_request(
    t: &mut Trader,
    r: &mut Report,
    req_id: RequestId,
    what: &str,
) -> Result<(), Failure> {
    match await_outcome(t, r, req_id, OUTCOME_SECS) {
        Outcome::Accepted(_) => {
            println!("{what}: accepted by the exchange");
            Ok(())
        }
        Outcome::Refused(e) => Err(e.into()),
        Outcome::Unknown => Err(Failure {
            message: format!("{what}: outcome unknown (no answer); check `kraken-exec orders`"),
            code: EXIT_UNKNOWN,
        }),
    }
}

/// `amend`.
pub fn amend(
    c: &Conn,
    order_id: Option<String>,
    cl_ord_id: Option<String>,
    price: Option<Decimal>,
    qty: Option<Decimal>,
) -> Result<(), Failure> {
    let mut a = AmendOrder::new(target(order_id, cl_ord_id)?);
    a.limit_price = price;
    a.order_qty = qty;
    let (mut t, mut r) = connect(c, Report::on(&a.target))?;
    let result = match t.amend_order(a) {
        Ok(req_id) => settle_request(&mut t, &mut r, req_id, "amend"),
        Err(e) => Err(format!("refused before the wire: {e}").into()),
    };
    finish(t, r, result)
}

/// `cancel`.
pub fn cancel(
    c: &Conn,
    order_id: Option<String>,
    cl_ord_id: Option<String>,
) -> Result<(), Failure> {
    let target = target(order_id, cl_ord_id)?;
    let (mut t, mut r) = connect(c, Report::on(&target))?;
    let result = match t.cancel_order(target) {
        Ok(req_id) => settle_request(&mut t, &mut r, req_id, "cancel").inspect(|()| {
            // The executions stream confirms the cancel; show it if it comes promptly.
            settle(&mut t, &mut r, 2, |t, _| {
                t.order_status(&target)
                    .is_some_and(|o| o.status.is_terminal())
            });
        }),
        Err(e) => Err(format!("refused before the wire: {e}").into()),
    };
    finish(t, r, result)
}

/// `cancel-all`.
pub fn cancel_all(c: &Conn) -> Result<(), Failure> {
    // The cancellations are counted below, not printed one by one.
    let (mut t, mut r) = connect(c, Report::quiet())?;
    let result = match t.cancel_all() {
        Ok(req_id) => settle_request(&mut t, &mut r, req_id, "cancel-all"),
        Err(e) => Err(format!("refused before the wire: {e}").into()),
    };
    if result.is_ok() {
        settle(&mut t, &mut r, 2, |t, _| t.active_orders().count() == 0);
        println!("open orders left: {}", t.active_orders().count());
    }
    finish(t, r, result)
}

/// `orders`: the open orders from the executions snapshot.
pub fn orders(c: &Conn) -> Result<(), Failure> {
    let (mut t, mut r) = connect(c, Report::default())?;
    settle(&mut t, &mut r, 1, |_, _| false);
    let mut n = 0;
    for o in t.active_orders() {
        n += 1;
        println!(
            "{} {:<8} {} {} {} qty {} filled {} price {}",
            o.order_id.map(|i| i.to_string()).unwrap_or_default(),
            o.cl_ord_id.map(|c| c.to_string()).unwrap_or_default(),
            t.symbols().name(o.symbol),
            o.side.map_or("?", |s| s.as_str()),
            OrderStatus::as_str(o.status),
            o.order_qty,
            o.filled_qty,
            o.limit_price
                .map(|p| p.to_string())
                .unwrap_or_else(|| "market".into())
        );
    }
    println!("{n} open order(s)");
    r.lines.clear();
    finish(t, r, Ok(()))
}

/// `watch`: streams executions for `seconds` (0: until interrupted); `json`: one JSON object
/// per line.
pub fn watch(c: &Conn, seconds: u64, json: bool) -> Result<(), Failure> {
    let report = Report {
        json,
        ..Report::default()
    };
    let (mut t, mut r) = connect(c, report)?;
    let end = (seconds > 0).then(|| Instant::now() + Duration::from_secs(seconds));
    while end.is_none_or(|e| Instant::now() < e) {
        t.poll(&mut r);
        for l in r.lines.drain(..) {
            println!("{l}");
        }
        if t.connection() == ConnectionState::Disconnected && !json {
            println!("(disconnected; reconnecting)");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    finish(t, r, Ok(()))
}
