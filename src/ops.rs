//! One-shot operator commands against a URL (the simulator or Kraken): connect, do one thing,
//! report, disconnect. Orders are sent with `validate: true` unless `--live` is given.

use std::time::{Duration, Instant};

use kraken_exec::engine::{self, ConnectionState, EngineConfig, IdleStrategy, Strategy, Trader};
use kraken_exec::orders::{Fill, RequestFailure, StatusChange};

use crate::config_file::FileConfig;
use kraken_exec::{AmendOrder, ClOrdId, OrderId, OrderRef, OrderTarget};
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
}

#[derive(Default)]
struct Report {
    lines: Vec<String>,
    failed: bool,
}

impl Strategy for Report {
    fn on_execution(&mut self, f: &Fill) {
        self.lines.push(format!(
            "fill {} {:?} {} @ {} (exec {})",
            f.order_id, f.side, f.qty, f.price, f.exec_id
        ));
    }
    fn on_status_change(&mut self, c: &StatusChange) {
        let id = c
            .order_id
            .map(|i| i.to_string())
            .or(c.cl_ord_id.map(|c| c.to_string()))
            .unwrap_or_default();
        self.lines.push(format!(
            "order {id}: {:?} -> {:?}{}",
            c.from,
            c.to,
            c.reason.map(|r| format!(" ({r})")).unwrap_or_default()
        ));
    }
    fn on_reject(&mut self, r: &RequestFailure) {
        self.failed = true;
        self.lines
            .push(format!("refused by the exchange: {}", r.error));
    }
}

fn connect(c: &Conn) -> Result<(Trader, Report), String> {
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
    cfg.idle = IdleStrategy::Block(Duration::from_millis(1));
    // A one-shot command must not leave Kraken's dead man's switch armed behind it.
    cfg.dead_man_timeout_secs = 0;
    cfg.subscribe_balances = false;
    let url = cfg.ws_url.clone();
    let mut t = engine::start(cfg).map_err(|e| e.to_string())?;
    let mut r = Report::default();
    if !t.wait_ready(&mut r, Duration::from_secs(10)) {
        t.shutdown();
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

fn finish(t: Trader, r: Report) -> Result<(), String> {
    for l in &r.lines {
        println!("{l}");
    }
    t.shutdown();
    if r.failed {
        Err("the exchange refused the request".into())
    } else {
        Ok(())
    }
}

fn target(order_id: Option<String>, cl_ord_id: Option<String>) -> Result<OrderTarget, String> {
    match (order_id, cl_ord_id) {
        (Some(o), None) => OrderId::new(&o)
            .map(OrderTarget::OrderId)
            .ok_or_else(|| format!("bad order id `{o}`")),
        (None, Some(c)) => ClOrdId::new(&c)
            .map(OrderTarget::ClOrdId)
            .map_err(|e| format!("cl_ord_id: {e}")),
        _ => Err("give exactly one of --order-id and --cl-ord-id".into()),
    }
}

/// `place`.
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
) -> Result<(), String> {
    let (mut t, mut r) = connect(c)?;
    let mut order = match t.parse_order(symbol, side, qty, order_type, price) {
        Ok(o) => o,
        Err(e) => {
            t.shutdown();
            return Err(e.to_string());
        }
    };
    if let Some(id) = cl_ord_id {
        order = order.cl_ord_id(ClOrdId::new(id).map_err(|e| format!("cl_ord_id: {e}"))?);
    }
    if !live {
        order = order.validate_only();
        println!("validate only (no order is placed; --live to trade)");
    }
    if let Err(e) = t.add_order(order) {
        t.shutdown();
        return Err(format!("refused before the wire: {e}"));
    }
    settle(&mut t, &mut r, 5, |_, r| {
        r.failed
            || r.lines
                .iter()
                .any(|l| l.contains("-> Open") || l.contains("-> Filled"))
    });
    finish(t, r)
}

/// `amend`.
pub fn amend(
    c: &Conn,
    order_id: Option<String>,
    cl_ord_id: Option<String>,
    price: Option<Decimal>,
    qty: Option<Decimal>,
) -> Result<(), String> {
    let mut a = AmendOrder::new(target(order_id, cl_ord_id)?);
    a.limit_price = price;
    a.order_qty = qty;
    let (mut t, mut r) = connect(c)?;
    if let Err(e) = t.amend_order(a) {
        t.shutdown();
        return Err(format!("refused before the wire: {e}"));
    }
    settle(&mut t, &mut r, 3, |_, r| r.failed);
    println!("amend sent");
    finish(t, r)
}

/// `cancel`.
pub fn cancel(c: &Conn, order_id: Option<String>, cl_ord_id: Option<String>) -> Result<(), String> {
    let target: OrderRef = target(order_id, cl_ord_id)?.into();
    let (mut t, mut r) = connect(c)?;
    t.cancel_order(target).map_err(|e| e.to_string())?;
    settle(&mut t, &mut r, 5, |t, r| {
        r.failed
            || t.order_status(&target)
                .is_some_and(|o| o.status.is_terminal())
    });
    finish(t, r)
}

/// `cancel-all`.
pub fn cancel_all(c: &Conn) -> Result<(), String> {
    let (mut t, mut r) = connect(c)?;
    t.cancel_all().map_err(|e| e.to_string())?;
    settle(&mut t, &mut r, 5, |t, _| t.active_orders().count() == 0);
    println!("open orders left: {}", t.active_orders().count());
    finish(t, r)
}

/// `orders`: the open orders from the executions snapshot.
pub fn orders(c: &Conn) -> Result<(), String> {
    let (mut t, mut r) = connect(c)?;
    settle(&mut t, &mut r, 1, |_, _| false);
    let mut n = 0;
    for o in t.active_orders() {
        n += 1;
        println!(
            "{} {:<8} {} {:?} {:?} qty {} filled {} price {}",
            o.order_id.map(|i| i.to_string()).unwrap_or_default(),
            o.cl_ord_id.map(|c| c.to_string()).unwrap_or_default(),
            t.symbols().name(o.symbol),
            o.side,
            o.status,
            o.order_qty,
            o.filled_qty,
            o.limit_price
                .map(|p| p.to_string())
                .unwrap_or_else(|| "market".into())
        );
    }
    println!("{n} open order(s)");
    r.lines.clear();
    finish(t, r)
}

/// `watch`: streams executions for `seconds` (0: until interrupted).
pub fn watch(c: &Conn, seconds: u64) -> Result<(), String> {
    let (mut t, mut r) = connect(c)?;
    let end = (seconds > 0).then(|| Instant::now() + Duration::from_secs(seconds));
    while end.is_none_or(|e| Instant::now() < e) {
        t.poll(&mut r);
        for l in r.lines.drain(..) {
            println!("{l}");
        }
        if t.connection() == ConnectionState::Disconnected {
            println!("(disconnected; reconnecting)");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    finish(t, r)
}
