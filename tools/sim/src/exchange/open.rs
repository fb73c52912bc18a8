//! The open-order index: which orders are open, and running sums over them (how many rest
//! per account and pair, what they hold per account and asset), kept as orders change.

use std::collections::HashMap;

use rust_decimal::Decimal;

use super::Exchange;
use super::orders::SimOrder;

/// Running sums over the open orders: how many rest per account and pair (Kraken's open-order
/// limit), and what they hold per account and asset (funds checks, `BalanceEx`). An order with
/// no limit price (a stop waiting to trigger as a market order) holds at the moving reference
/// price, so it is kept apart and priced when asked; there are few.
#[derive(Default)]
pub(super) struct OpenBook {
    count: HashMap<(usize, usize), usize>,
    hold: HashMap<(usize, String), Decimal>,
    unpriced: std::collections::BTreeSet<usize>,
    /// Per order, as last counted.
    counted: HashMap<usize, Counted>,
}

/// How an open order was counted: (account, pair, what it holds of which asset).
type Counted = (usize, usize, Option<(String, Decimal)>);

impl Exchange {
    pub(super) fn open_iter(&self) -> impl Iterator<Item = &SimOrder> {
        self.open.iter().map(|&i| &self.orders[i])
    }

    /// Opens or closes order `idx` in the open set, and counts it.
    pub(super) fn set_open(&mut self, idx: usize, open: bool) {
        if open {
            self.open.insert(idx);
        } else {
            self.open.remove(&idx);
        }
        self.sync_open(idx);
    }

    /// Brings the running sums up to date with order `idx` as it is now (after it opened,
    /// closed, filled, or had its quantity or price changed).
    pub(super) fn sync_open(&mut self, idx: usize) {
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
    pub(super) fn open_count(&self, acct: usize, pair: usize) -> usize {
        self.held.count.get(&(acct, pair)).copied().unwrap_or(0)
    }

    /// The open order of `acct` with client id `c`, if any.
    pub(super) fn open_by_cl_ord_id(&self, acct: usize, c: &str) -> Option<usize> {
        self.by_cl_ord_id
            .get(c)?
            .iter()
            .rev()
            .copied()
            .find(|&i| self.orders[i].account == acct && self.open.contains(&i))
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
}
