//! Nothing from the network or the user panics (issue 9, item 10): the tracker, positions and
//! validation fed extreme decimals (the largest and smallest `Decimal`s, 28 decimal places,
//! zero quantities, either sign) and sequences up to `u64::MAX`.

use kraken_exec::orders::Position;
use kraken_exec::protocol::{Decoder, Inbound};
use kraken_exec::validate::Instrument;
use kraken_exec::{
    AddOrder, OrderTracker, PairStatus, Side, SymbolId, SymbolTable, Timestamp, TrackerConfig,
};
use proptest::prelude::*;
use rust_decimal::Decimal;

/// Decimals from the ordinary to the extreme.
fn extreme() -> impl Strategy<Value = Decimal> {
    prop_oneof![
        Just(Decimal::MAX),
        Just(Decimal::MIN),
        Just(Decimal::ZERO),
        Just(Decimal::new(1, 28)),
        Just(Decimal::new(-1, 28)),
        (any::<i64>(), 0u32..=28).prop_map(|(m, s)| Decimal::new(m, s)),
        (
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
            any::<bool>(),
            0u32..=28
        )
            .prop_map(|(lo, mid, hi, neg, s)| Decimal::from_parts(lo, mid, hi, neg, s)),
    ]
}

fn side() -> impl Strategy<Value = Side> {
    prop_oneof![Just(Side::Buy), Just(Side::Sell)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// Positions take any fill: applied, or left as they were when it cannot be represented.
    #[test]
    fn positions_never_panic(fills in proptest::collection::vec((side(), extreme(), extreme(), extreme()), 1..8), mark in extreme()) {
        let mut p = Position::default();
        for (s, q, px, fee) in fills {
            let before = p;
            if !p.apply(s, q, px, fee) {
                prop_assert_eq!(p, before);
            }
        }
        let _ = p.unrealized_pnl(mark);
    }

    /// The tracker takes any execution report figures, as decoded from a frame.
    #[test]
    fn the_tracker_never_panics_on_extreme_reports(
        reports in proptest::collection::vec((extreme(), extreme(), extreme(), extreme(), extreme(), any::<bool>()), 1..6),
        seq in prop_oneof![Just(u64::MAX), Just(u64::MAX - 1), any::<u64>()],
    ) {
        let syms = SymbolTable::from_names(["BTC/USD"]);
        let mut d = Decoder::new();
        let mut t = OrderTracker::new(TrackerConfig::default(), syms.len());
        for (i, (qty, px, cum, oqty, cost, snapshot)) in reports.into_iter().enumerate() {
            let kind = if snapshot { "snapshot" } else { "update" };
            let frame = format!(
                r#"{{"channel":"executions","type":"{kind}","data":[{{"order_id":"OK4GJX-KSTLS-7DZZO5","exec_id":"TX{i}","exec_type":"trade","symbol":"BTC/USD","side":"buy","last_qty":{qty},"last_price":{px},"cum_qty":{cum},"order_qty":{oqty},"cost":{cost},"order_status":"partially_filled","fees":[{{"asset":"USD","qty":{cost}}}]}}],"sequence":{seq}}}"#
            );
            if let Ok(Inbound::Executions { kind, .. }) = d.decode(frame.as_bytes(), &syms) {
                t.on_executions(kind, d.executions(), i as u64, &mut |_| {});
            }
        }
        let _ = t.positions().count();
    }

    /// Validation takes any quantity and price: a typed error or Ok, never a panic.
    #[test]
    fn validation_never_panics(qty in extreme(), px in extreme(), display in extreme(), inc in extreme(), min in extreme()) {
        let ins = Instrument {
            symbol: SymbolId(0),
            status: PairStatus::Online,
            price_increment: inc,
            qty_increment: inc,
            qty_min: min,
            cost_min: min,
        };
        let now = Timestamp(1_700_000_000_000_000);
        let _ = AddOrder::limit(SymbolId(0), Side::Buy, qty, px).validate(&ins, now);
        let _ = AddOrder::iceberg(SymbolId(0), Side::Sell, qty, px, display).validate(&ins, now);
    }
}
