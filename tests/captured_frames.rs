//! Frames captured from Kraken's live exchange by others (`tests/fixtures/captured/README.md`
//! cites each), decoded and compared with the frames' own text: every number the engine reads
//! must come out with the digits Kraken sent, and every field must land where it belongs.

use kraken_exec::protocol::{Decoder, FrameKind, Inbound, Method};
use kraken_exec::{
    ExecType, KrakenErrorKind, Liquidity, OrderType, Side, SymbolTable, TimeInForce, Timestamp,
    WireOrderStatus,
};
use rust_decimal::Decimal;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/captured/");

fn frames(file: &str) -> Vec<String> {
    std::fs::read_to_string(format!("{DIR}{file}"))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn symbols() -> SymbolTable {
    SymbolTable::from_names(["BTC/USD", "SOL/USD", "ETH/USD"])
}

/// The number token after `"key":` in `frame` (the first one), as written.
fn lexeme<'a>(frame: &'a str, key: &str) -> Option<&'a str> {
    let pat = format!("\"{key}\":");
    let start = frame.find(&pat)? + pat.len();
    let rest = &frame[start..];
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == 'e' || c == 'E'))
        .unwrap_or(rest.len());
    (end > 0).then(|| &rest[..end])
}

/// Every `"key":number` in the frame, in order.
fn numeric_keys(frame: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let b = frame.as_bytes();
    let mut i = 0;
    while let Some(q) = frame[i..].find("\":") {
        let colon = i + q + 1;
        let next = b.get(colon + 1).copied().unwrap_or(b' ');
        if next.is_ascii_digit() || next == b'-' {
            let open = frame[..i + q].rfind('"').unwrap();
            keys.push(frame[open + 1..i + q].to_string());
        }
        i = colon + 1;
    }
    keys
}

/// `got` is exactly the number written after `"key":` (value and digits).
fn same(got: Option<Decimal>, frame: &str, key: &str) {
    let lx = lexeme(frame, key).unwrap_or_else(|| panic!("{key} not in {frame}"));
    let got = got.unwrap_or_else(|| panic!("{key} not decoded from {frame}"));
    assert_eq!(got.to_string(), lx, "{key}");
}

fn executions(
    frame: &str,
) -> (
    FrameKind,
    Option<u64>,
    kraken_exec::protocol::ExecutionReport,
) {
    let mut d = Decoder::new();
    match d.decode(frame.as_bytes(), &symbols()).unwrap() {
        Inbound::Executions {
            kind,
            sequence,
            len,
        } => {
            assert_eq!(len, 1, "{frame}");
            (kind, sequence, d.executions()[0])
        }
        other => panic!("{other:?}"),
    }
}

/// Every number of an executions frame is read, digit for digit, or is one the engine does
/// not use (listed).
fn every_number_read(frame: &str) {
    let (_, seq, r) = executions(frame);
    for key in numeric_keys(frame) {
        match key.as_str() {
            "order_qty" => same(r.order_qty, frame, &key),
            "cash_order_qty" => same(r.cash_order_qty, frame, &key),
            "cum_qty" => same(r.cum_qty, frame, &key),
            "cum_cost" => same(r.cum_cost, frame, &key),
            "avg_price" => same(r.avg_price, frame, &key),
            "limit_price" => same(r.limit_price, frame, &key),
            "fee_usd_equiv" => same(r.fee_usd_equiv, frame, &key),
            "last_qty" => same(r.last_qty, frame, &key),
            "last_price" => same(r.last_price, frame, &key),
            "cost" => same(r.cost, frame, &key),
            "qty" => same(r.fees().first().map(|f| f.qty), frame, &key),
            "trade_id" => assert_eq!(
                r.trade_id.map(|t| t.to_string()).as_deref(),
                lexeme(frame, &key)
            ),
            "order_userref" => assert_eq!(
                r.order_userref.map(|t| t.to_string()).as_deref(),
                lexeme(frame, &key)
            ),
            "sequence" => assert_eq!(seq.map(|t| t.to_string()).as_deref(), lexeme(frame, &key)),
            // Trigger orders' price; these orders have none (0.0), the engine reads triggers
            // from their own object.
            "stop_price" => {}
            other => panic!("number {other} in a captured frame is not read: {frame}"),
        }
    }
    assert!(r.unknown.is_none(), "{:?}", r.unknown);
}

#[test]
fn every_number_of_every_captured_executions_frame_is_read_exactly() {
    for file in [
        "executions-market-buy.jsonl",
        "executions-market-sell.jsonl",
        "executions-snapshot.jsonl",
        "executions-limit-post-only.jsonl",
    ] {
        for f in frames(file) {
            every_number_read(&f);
        }
    }
}

#[test]
fn a_market_buy_by_quote_amount_as_kraken_reports_it() {
    let f = frames("executions-market-buy.jsonl");
    let (kind, seq, r) = executions(&f[0]);
    assert_eq!((kind, seq), (FrameKind::Update, Some(6)));
    assert_eq!(r.order_id.as_str(), "OC3NBC-LXCJV-S6BPEM");
    assert_eq!(r.exec_type, Some(ExecType::PendingNew));
    assert_eq!(r.order_status, Some(WireOrderStatus::PendingNew));
    assert_eq!(
        (r.side, r.order_type),
        (Some(Side::Buy), Some(OrderType::Market))
    );
    assert_eq!(r.time_in_force, Some(TimeInForce::Gtc));
    assert_eq!(r.order_qty, None, "bought by quote amount");
    assert_eq!(
        r.timestamp,
        Timestamp::parse_rfc3339("2025-02-10T20:03:40.477274Z")
    );
    assert_eq!(r.symbol, symbols().get("BTC/USD"));
    // The fill: qty × price is the cost to within Kraken's rounding; the fee is 0.40 %.
    let (_, _, t) = executions(&f[2]);
    assert!(t.is_fill());
    assert_eq!(t.exec_id.unwrap().as_str(), "T66EJ4-KMPVO-OREEY5");
    assert_eq!(t.liquidity, Some(Liquidity::Taker));
    assert_eq!(t.fee_count, 1);
    assert_eq!(t.fees()[0].asset.as_str(), "USD");
    let cost = t.last_qty.unwrap() * t.last_price.unwrap();
    assert!(
        (cost - t.cost.unwrap()).abs() < Decimal::new(1, 4),
        "{cost}"
    );
    assert_eq!(
        t.fees()[0].qty,
        (t.cost.unwrap() * Decimal::new(4, 3)).round_dp(5)
    );
    let (_, _, done) = executions(&f[3]);
    assert_eq!(done.exec_type, Some(ExecType::Filled));
    assert_eq!(done.cum_qty, t.cum_qty);
    assert!(!done.is_fill(), "the filled report is not a second fill");
}

#[test]
fn a_snapshot_an_open_order_with_a_uuid_client_id_and_a_post_only_limit() {
    let (kind, seq, r) = executions(&frames("executions-snapshot.jsonl")[0]);
    assert_eq!((kind, seq), (FrameKind::Snapshot, Some(1)));
    assert_eq!(
        r.cl_ord_id.unwrap().as_str(),
        "da507c13-3452-4a2e-93de-18392d6a953b"
    );
    assert_eq!(r.symbol, symbols().get("SOL/USD"));
    assert_eq!(r.order_status, Some(WireOrderStatus::New));
    let f = frames("executions-limit-post-only.jsonl");
    let (_, _, p) = executions(&f[0]);
    assert_eq!(p.post_only, Some(true));
    assert_eq!(p.order_type, Some(OrderType::Limit));
    let (_, _, c) = executions(&f[2]);
    assert_eq!(c.exec_type, Some(ExecType::Canceled));
    assert_eq!(c.reason.unwrap().as_str(), "User requested");
}

#[test]
fn refusals_are_read_with_kraken_s_own_words() {
    for f in frames("acks-refused.jsonl") {
        let mut d = Decoder::new();
        let Inbound::Response(r) = d.decode(f.as_bytes(), &symbols()).unwrap() else {
            panic!("{f}")
        };
        assert!(!r.success);
        let text = f
            .split("\"error\":\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        assert_eq!(r.error.unwrap().as_str(), text);
        assert_eq!(
            r.req_id.map(|i| i.to_string()).as_deref(),
            lexeme(&f, "req_id")
        );
        assert_eq!(
            r.time_in.map(|t| t.to_string()),
            f.split("\"time_in\":\"")
                .nth(1)
                .map(|s| s[..27].to_string())
        );
        let method = f
            .split("\"method\":\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        let expect = match method {
            "add_order" => Method::AddOrder,
            "amend_order" => Method::AmendOrder,
            "edit_order" => Method::EditOrder,
            "subscribe" => Method::Subscribe,
            _ => Method::Other,
        };
        assert_eq!(r.method, expect, "{f}");
        // Kraken's classes where it gives one; the breaker counts only session failures.
        let kind = r.error_kind.unwrap_or(KrakenErrorKind::Other);
        match text {
            "EGeneral:Permission denied" => assert_eq!(kind, KrakenErrorKind::PermissionDenied),
            "Token(s) not found" => assert_eq!(kind, KrakenErrorKind::TokenNotFound),
            _ => assert!(!kind.is_session_failure(), "{f}: {kind:?}"),
        }
    }
}

#[test]
fn balance_updates_of_trades() {
    for f in frames("balances-update.jsonl") {
        let mut d = Decoder::new();
        let Inbound::Balances { kind, len, .. } = d.decode(f.as_bytes(), &symbols()).unwrap()
        else {
            panic!("{f}")
        };
        assert_eq!((kind, len), (FrameKind::Update, 1));
        let b = d.balances()[0];
        same(b.amount, &f, "amount");
        same(b.fee, &f, "fee");
        same(b.balance, &f, "balance");
        assert_eq!(b.kind.unwrap().as_str(), "trade");
        assert_eq!(b.wallet_type.unwrap().as_str(), "spot");
        assert_eq!(b.wallet_id.unwrap().as_str(), "main");
        let asset = f
            .split("\"asset\":\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        assert_eq!(b.asset.as_str(), asset);
    }
}
