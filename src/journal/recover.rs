//! What a journal says an earlier process left behind: the fills it delivered, the orders it
//! left live, and the orders whose add was in flight when it stopped (no outcome on record).
//!
//! Request ids are a process's own: a [`Entry::Start`] record begins each process's share of
//! the journal, and an add with no outcome when the next one starts (or when the journal ends)
//! was in flight at a crash. It may or may not have reached the exchange: it is recovered as
//! [`OrderStatus::Unknown`] and looked up, never sent again.

use std::collections::HashMap;

use rust_decimal::Decimal;

use super::{Entry, FillEntry, Replay};
use crate::ids::{ClOrdId, OrderId, RequestId, SymbolId};
use crate::protocol::messages::Method;
use crate::time::Timestamp;
use crate::types::{OrderStatus, Side};

/// An order the journal leaves live (or unknown).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecoveredOrder {
    /// Its client id.
    pub cl_ord_id: Option<ClOrdId>,
    /// Its Kraken id, once acknowledged.
    pub order_id: Option<OrderId>,
    /// The pair.
    pub symbol: SymbolId,
    /// Side, when its add is on record.
    pub side: Option<Side>,
    /// Quantity asked, when its add is on record.
    pub qty: Option<Decimal>,
    /// Limit price, when its add is on record.
    pub price: Option<Decimal>,
    /// What its journaled fills add up to.
    pub filled: Decimal,
    /// Its last journaled status, or `Unknown` for an add in flight at a crash.
    pub status: OrderStatus,
    /// The deadline its add carried: the exchange cannot have opened it later.
    pub deadline: Option<Timestamp>,
}

/// See the module documentation.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct Recovery {
    /// Every journaled fill, oldest first.
    pub fills: Vec<FillEntry>,
    /// Orders live or unknown when the journal ends, oldest first.
    pub orders: Vec<RecoveredOrder>,
    /// Requests of any kind left without an outcome by an earlier process.
    pub in_flight: usize,
    /// The journal's first record's time.
    pub first_record: Option<Timestamp>,
    /// The journal's last record's time.
    pub last_record: Option<Timestamp>,
    /// The exchange time of the newest journaled fill.
    pub last_fill: Option<Timestamp>,
    /// Positions: the last carried over (a segment's start), plus the fills after it.
    pub positions: Vec<(SymbolId, crate::orders::Position)>,
    /// Fills at risk since then and not yet read back when the journal ends (a process died
    /// during a recovery): the next reads from there.
    pub at_risk: Option<Timestamp>,
}

#[derive(Default)]
struct Model {
    next: u32,
    orders: HashMap<u32, RecoveredOrder>,
    by_id: HashMap<OrderId, u32>,
    by_cl: HashMap<ClOrdId, u32>,
    /// This process's requests without an outcome yet: the orders they add (none for
    /// requests that add none; each of a batch's).
    waiting: HashMap<RequestId, Vec<u32>>,
}

impl Model {
    /// The order a record names: by Kraken id; else by client id, but only an order with
    /// no Kraken id yet when the record has one (a client id reused after its order closed
    /// names the newer order, never the records of the older).
    fn find(&self, id: Option<OrderId>, cl: Option<ClOrdId>) -> Option<u32> {
        if let Some(k) = id.and_then(|i| self.by_id.get(&i)) {
            return Some(*k);
        }
        let k = *cl.and_then(|c| self.by_cl.get(&c))?;
        let o = self.orders.get(&k)?;
        (id.is_none() || o.order_id.is_none()).then_some(k)
    }

    fn insert(&mut self, o: RecoveredOrder) -> u32 {
        let k = self.next;
        self.next += 1;
        if let Some(id) = o.order_id {
            self.by_id.insert(id, k);
        }
        if let Some(c) = o.cl_ord_id {
            self.by_cl.insert(c, k);
        }
        self.orders.insert(k, o);
        k
    }

    /// Sets what is known of order `k`; a closed order is forgotten (its client id is free).
    fn update(&mut self, k: u32, order_id: Option<OrderId>, status: Option<OrderStatus>) {
        let Some(o) = self.orders.get_mut(&k) else {
            return;
        };
        if let (None, Some(id)) = (o.order_id, order_id) {
            o.order_id = Some(id);
            self.by_id.insert(id, k);
        }
        if let Some(s) = status {
            o.status = s;
        }
        if !o.status.is_active() {
            let o = *o;
            self.orders.remove(&k);
            if let Some(id) = o.order_id
                && self.by_id.get(&id) == Some(&k)
            {
                self.by_id.remove(&id);
            }
            if let Some(c) = o.cl_ord_id
                && self.by_cl.get(&c) == Some(&k)
            {
                self.by_cl.remove(&c);
            }
        }
    }

    /// A process ended (a `Start` after it, or the journal's end): what it left in flight.
    fn end_process(&mut self) -> usize {
        let n = self.waiting.len();
        self.waiting.clear();
        // An add still only local when its process ended may or may not have reached the
        // exchange.
        for o in self.orders.values_mut() {
            if o.status == OrderStatus::Pending {
                o.status = OrderStatus::Unknown;
            }
        }
        n
    }
}

impl Replay {
    /// What the journal leaves behind (see the module documentation).
    pub fn recover(&self) -> Recovery {
        let mut m = Model::default();
        let mut r = Recovery {
            first_record: self.entries.first().map(|e| Timestamp(e.1)),
            last_record: self.entries.last().map(|e| Timestamp(e.1)),
            ..Recovery::default()
        };
        let mut positions: std::collections::BTreeMap<u16, crate::orders::Position> =
            Default::default();
        let mut seen = std::collections::HashSet::new();
        for (_, _, e) in &self.entries {
            match *e {
                Entry::Header(_) | Entry::Checkpoint { .. } => {}
                Entry::AtRisk { since } => r.at_risk = since,
                Entry::Position { symbol, position } => {
                    positions.insert(symbol.0, position);
                }
                Entry::Start { .. } => r.in_flight += m.end_process(),
                Entry::Intent {
                    req_id,
                    method,
                    cl_ord_id,
                    order_id,
                    symbol,
                    side,
                    qty,
                    price,
                    deadline,
                    validate,
                    ..
                } => {
                    // A validate-only add places nothing: it has an outcome, never an order.
                    // A batch is journaled an intent per order, under the batch's request.
                    let adds = matches!(method, Method::AddOrder | Method::BatchAdd);
                    // Request 0: an order carried over into a new segment (see
                    // `Journal::take_rotated`), not a request; known already if its own
                    // records are still here.
                    let carried = req_id == RequestId(0);
                    let known = carried && m.find(order_id, cl_ord_id).is_some();
                    let order = (adds && !validate && !known).then(|| {
                        m.insert(RecoveredOrder {
                            cl_ord_id,
                            order_id: order_id.filter(|_| carried),
                            symbol,
                            side,
                            qty,
                            price,
                            filled: Decimal::ZERO,
                            status: OrderStatus::Pending,
                            deadline,
                        })
                    });
                    if !carried {
                        m.waiting.entry(req_id).or_default().extend(order);
                    }
                }
                Entry::Ack {
                    req_id,
                    order_id,
                    cl_ord_id,
                } => {
                    // The order of the request it answers: by client id (a batch's answer
                    // names each), or the request's only one.
                    let ks = m.waiting.get(&req_id).cloned().unwrap_or_default();
                    let k = match cl_ord_id {
                        Some(c) => ks
                            .iter()
                            .copied()
                            .find(|k| m.orders.get(k).is_some_and(|o| o.cl_ord_id == Some(c))),
                        None if ks.len() == 1 => ks.first().copied(),
                        None => None,
                    };
                    if let Some(k) = k {
                        let pending = m
                            .orders
                            .get(&k)
                            .is_some_and(|o| o.status == OrderStatus::Pending);
                        m.update(k, order_id, pending.then_some(OrderStatus::PendingNew));
                    }
                    if let Some(rest) = m.waiting.get_mut(&req_id) {
                        rest.retain(|x| Some(*x) != k);
                        if rest.is_empty() || k.is_none() {
                            m.waiting.remove(&req_id);
                        }
                    }
                }
                Entry::Reject { req_id, .. } => {
                    // A refused batch places none of its orders.
                    for k in m.waiting.remove(&req_id).unwrap_or_default() {
                        m.update(k, None, Some(OrderStatus::Rejected));
                    }
                }
                Entry::Status {
                    order_id,
                    cl_ord_id,
                    symbol,
                    status,
                } => match m.find(order_id, cl_ord_id) {
                    Some(k) => m.update(k, order_id, Some(status)),
                    // An order first heard of by its status (a replacement, one another
                    // process placed): live ones the exchange named are kept.
                    None if status.is_active() && order_id.is_some() => {
                        m.insert(RecoveredOrder {
                            cl_ord_id,
                            order_id,
                            symbol,
                            side: None,
                            qty: None,
                            price: None,
                            filled: Decimal::ZERO,
                            status,
                            deadline: None,
                        });
                    }
                    None => {}
                },
                Entry::Fill(f) => {
                    // Carried over again at a segment's start (see `Journal::take_rotated`):
                    // counted once.
                    if !seen.insert(f.exec_id) {
                        continue;
                    }
                    // From before the records (delivered as historical): known, in no
                    // position.
                    if f.historical {
                        r.last_fill = r.last_fill.max(f.timestamp);
                        r.fills.push(f);
                        continue;
                    }
                    if let Some(k) = m.find(Some(f.order_id), f.cl_ord_id) {
                        m.update(k, Some(f.order_id), None);
                        if let Some(o) = m.orders.get_mut(&k) {
                            o.filled = o.filled.checked_add(f.qty).unwrap_or(o.filled);
                        }
                    }
                    if let Some(side) = f.side {
                        let _ = positions.entry(f.symbol.0).or_default().apply(
                            side,
                            f.qty,
                            f.price,
                            f.fee.unwrap_or_default(),
                        );
                    }
                    r.last_fill = r.last_fill.max(f.timestamp);
                    r.fills.push(f);
                }
            }
        }
        r.in_flight += m.end_process();
        let mut live: Vec<(u32, RecoveredOrder)> = m.orders.into_iter().collect();
        live.sort_unstable_by_key(|(k, _)| *k);
        r.orders = live.into_iter().map(|(_, o)| o).collect();
        r.positions = positions
            .into_iter()
            .map(|(s, p)| (SymbolId(s), p))
            .collect();
        r
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;
    use crate::ids::{AssetCode, ExecId, InlineStr};

    fn cl(s: &str) -> ClOrdId {
        ClOrdId::new(s).unwrap()
    }
    fn oid(s: &str) -> OrderId {
        OrderId::new(s).unwrap()
    }
    fn add(req_id: u64, c: &str) -> Entry {
        Entry::Intent {
            req_id: RequestId(req_id),
            method: Method::AddOrder,
            cl_ord_id: Some(cl(c)),
            order_id: None,
            symbol: SymbolId(0),
            side: Some(Side::Buy),
            qty: Some(dec!(1)),
            price: Some(dec!(100)),
            deadline: Some(Timestamp(5_000)),
            validate: false,
        }
    }
    fn ack(req_id: u64, id: &str) -> Entry {
        Entry::Ack {
            req_id: RequestId(req_id),
            order_id: Some(oid(id)),
            cl_ord_id: None,
        }
    }
    fn status(id: &str, s: OrderStatus) -> Entry {
        Entry::Status {
            order_id: Some(oid(id)),
            cl_ord_id: None,
            symbol: SymbolId(0),
            status: s,
        }
    }
    fn fill(exec: &str, id: &str, qty: Decimal, t: i64) -> Entry {
        Entry::Fill(FillEntry {
            exec_id: ExecId::new(exec).unwrap(),
            order_id: oid(id),
            cl_ord_id: None,
            symbol: SymbolId(0),
            side: Some(Side::Buy),
            qty,
            price: dec!(100),
            fee: None,
            fee_asset: AssetCode::default(),
            liquidity: None,
            timestamp: Some(Timestamp(t)),
            historical: false,
        })
    }
    fn replay(entries: Vec<Entry>) -> Replay {
        Replay {
            entries: entries
                .into_iter()
                .enumerate()
                .map(|(i, e)| (i as u64 + 1, 1_000 + i as i64, e))
                .collect(),
            torn: None,
        }
    }

    /// Two processes' records: what is live, what was in flight at each crash, what closed.
    #[test]
    fn live_orders_and_adds_in_flight_at_a_crash_are_recovered() {
        let r = replay(vec![
            Entry::Start { instance: 1 },
            add(1, "a"), // acked, partly filled: live
            ack(1, "O-A"),
            status("O-A", OrderStatus::Open),
            fill("T-1", "O-A", dec!(0.25), 900),
            status("O-A", OrderStatus::PartiallyFilled),
            add(2, "b"), // acked, filled: closed
            ack(2, "O-B"),
            fill("T-2", "O-B", dec!(1), 950),
            status("O-B", OrderStatus::Filled),
            add(3, "c"), // refused: never live
            Entry::Reject {
                req_id: RequestId(3),
                error: InlineStr::truncating("EOrder:Insufficient funds"),
            },
            add(4, "d"), // in flight when the first process died
            Entry::Intent {
                req_id: RequestId(5),
                method: Method::CancelOrder,
                cl_ord_id: None,
                order_id: Some(oid("O-A")),
                symbol: SymbolId::UNKNOWN,
                side: None,
                qty: None,
                price: None,
                deadline: None,
                validate: false,
            },
            // The second process: its request 1 is not the first one's.
            Entry::Start { instance: 2 },
            add(1, "e"),
            ack(1, "O-E"),
            Entry::Status {
                order_id: None,
                cl_ord_id: Some(cl("d")),
                symbol: SymbolId(0),
                status: OrderStatus::Canceled,
            },
            add(2, "f"), // in flight when the second died
        ]);
        let rec = r.recover();
        let got: Vec<(Option<&str>, Option<&str>, OrderStatus, Decimal)> = rec
            .orders
            .iter()
            .map(|o| {
                (
                    o.cl_ord_id.as_ref().map(ClOrdId::as_str),
                    o.order_id.as_ref().map(|i| i.as_str()),
                    o.status,
                    o.filled,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    Some("a"),
                    Some("O-A"),
                    OrderStatus::PartiallyFilled,
                    dec!(0.25)
                ),
                (Some("e"), Some("O-E"), OrderStatus::PendingNew, dec!(0)),
                (Some("f"), None, OrderStatus::Unknown, dec!(0)),
            ]
        );
        assert_eq!(rec.orders[2].deadline, Some(Timestamp(5_000)));
        // "d" and the cancel were in flight at the first crash, "f" at the second.
        assert_eq!(rec.in_flight, 3);
        assert_eq!(rec.fills.len(), 2);
        assert_eq!(rec.last_fill, Some(Timestamp(950)));
        assert_eq!(
            (rec.first_record, rec.last_record),
            (Some(Timestamp(1_000)), Some(Timestamp(1_000 + 18)))
        );
    }

    /// A validate-only add places nothing: accepted, it leaves no order (its client id is
    /// not taken). (The crash fault of the deterministic simulation found it restored live.)
    #[test]
    fn a_validate_only_add_leaves_no_order() {
        let mut v = add(1, "v");
        if let Entry::Intent { validate, .. } = &mut v {
            *validate = true;
        }
        let rec = replay(vec![
            v,
            Entry::Ack {
                req_id: RequestId(1),
                order_id: None,
                cl_ord_id: Some(cl("v")),
            },
            add(2, "w"),
        ]);
        let rec = rec.recover();
        assert_eq!(rec.orders.len(), 1);
        assert_eq!(rec.orders[0].cl_ord_id, Some(cl("w")));
    }

    /// A batch is on record an intent per order under its one request: its answer names each
    /// order by client id; a refused batch places none; a batch without an answer when its
    /// process died leaves each of its orders to be looked up.
    #[test]
    fn a_batchs_orders_are_recovered_one_by_one() {
        let batch = |req_id, c: &str| Entry::Intent {
            req_id,
            method: Method::BatchAdd,
            cl_ord_id: Some(cl(c)),
            order_id: None,
            symbol: SymbolId(0),
            side: Some(Side::Buy),
            qty: Some(dec!(1)),
            price: Some(dec!(100)),
            deadline: Some(Timestamp(5_000)),
            validate: false,
        };
        let rec = replay(vec![
            batch(RequestId(1), "a1"),
            batch(RequestId(1), "a2"),
            Entry::Ack {
                req_id: RequestId(1),
                order_id: Some(oid("O-A2")),
                cl_ord_id: Some(cl("a2")),
            },
            Entry::Ack {
                req_id: RequestId(1),
                order_id: Some(oid("O-A1")),
                cl_ord_id: Some(cl("a1")),
            },
            batch(RequestId(2), "b1"),
            batch(RequestId(2), "b2"),
            Entry::Reject {
                req_id: RequestId(2),
                error: InlineStr::truncating("EOrder:Insufficient funds"),
            },
            batch(RequestId(3), "c1"),
            batch(RequestId(3), "c2"),
        ])
        .recover();
        let got: Vec<(&str, Option<OrderId>, OrderStatus)> = rec
            .orders
            .iter()
            .map(|o| {
                (
                    o.cl_ord_id.as_ref().map_or("", ClOrdId::as_str),
                    o.order_id,
                    o.status,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("a1", Some(oid("O-A1")), OrderStatus::PendingNew),
                ("a2", Some(oid("O-A2")), OrderStatus::PendingNew),
                ("c1", None, OrderStatus::Unknown),
                ("c2", None, OrderStatus::Unknown),
            ]
        );
        assert_eq!(rec.in_flight, 1);
    }

    /// A segment's carry (each live order as request 0, the last fills again, each position) restores the same state whether the segments before it are still there or
    /// not: fills carried again are counted once, positions are what was carried plus the
    /// fills after.
    #[test]
    fn a_carry_recovers_the_same_state_with_or_without_what_came_before() {
        let mut before = vec![
            add(1, "live"),
            ack(1, "O-LIVE"),
            status("O-LIVE", OrderStatus::Open),
            fill("T-1", "O-LIVE", dec!(0.25), 900),
        ];
        let mut p = crate::orders::Position::default();
        p.apply(Side::Buy, dec!(0.25), dec!(100), dec!(0));
        let carry = vec![
            Entry::Intent {
                req_id: RequestId(0),
                method: Method::AddOrder,
                cl_ord_id: Some(cl("live")),
                order_id: Some(oid("O-LIVE")),
                symbol: SymbolId(0),
                side: Some(Side::Buy),
                qty: Some(dec!(1)),
                price: Some(dec!(100)),
                deadline: None,
                validate: false,
            },
            status("O-LIVE", OrderStatus::PartiallyFilled),
            fill("T-1", "O-LIVE", dec!(0.25), 900),
            Entry::Position {
                symbol: SymbolId(0),
                position: p,
            },
            fill("T-2", "O-LIVE", dec!(0.5), 950),
        ];
        before.extend(carry.clone());
        for entries in [before, carry] {
            let rec = replay(entries).recover();
            assert_eq!(rec.fills.len(), 2);
            assert_eq!(rec.positions.len(), 1);
            assert_eq!(rec.positions[0].1.qty, dec!(0.75));
            assert_eq!(rec.orders.len(), 1);
            let o = rec.orders[0];
            assert_eq!(
                (o.order_id, o.status, o.filled),
                (
                    Some(oid("O-LIVE")),
                    OrderStatus::PartiallyFilled,
                    dec!(0.75)
                )
            );
            assert_eq!(rec.in_flight, 0);
        }
    }

    /// A fill delivered as historical (from before the journal began) is known but in no
    /// position; a recovery left unfinished by a crash (at risk, never cleared) is reported.
    #[test]
    fn historical_fills_stay_out_of_positions_and_an_unfinished_recovery_is_kept() {
        let mut old = fill("T-OLD", "O-X", dec!(5), 100);
        if let Entry::Fill(f) = &mut old {
            f.historical = true;
        }
        let rec = replay(vec![
            old,
            fill("T-NEW", "O-Y", dec!(1), 200),
            Entry::AtRisk {
                since: Some(Timestamp(150)),
            },
        ])
        .recover();
        assert_eq!(rec.fills.len(), 2, "both known");
        assert_eq!(rec.positions[0].1.qty, dec!(1), "only the new one counts");
        assert_eq!(rec.at_risk, Some(Timestamp(150)));
        let cleared = replay(vec![
            Entry::AtRisk {
                since: Some(Timestamp(150)),
            },
            Entry::AtRisk { since: None },
        ])
        .recover();
        assert_eq!(cleared.at_risk, None);
    }

    /// A client id is free again once its order closed: a later order with it is its own.
    #[test]
    fn a_client_id_reused_after_its_order_closed_names_the_new_order() {
        let r = replay(vec![
            add(1, "x"),
            ack(1, "O-1"),
            status("O-1", OrderStatus::Canceled),
            add(2, "x"),
        ]);
        let rec = r.recover();
        assert_eq!(rec.orders.len(), 1);
        assert_eq!(
            (rec.orders[0].order_id, rec.orders[0].status),
            (None, OrderStatus::Unknown)
        );
    }
}
