//! What the decoder produces: typed, `Copy`, owning no heap memory and borrowing nothing past
//! the decode call.

use rust_decimal::Decimal;

use crate::error::KrakenErrorKind;
use crate::ids::{AssetCode, ClOrdId, ExecId, InlineStr, OrderId, SymbolId};
use crate::time::Timestamp;
use crate::types::{
    ExecType, Liquidity, OrderType, PairStatus, PriceType, Side, SystemStatus, TimeInForce,
    TriggerReference, TriggerStatus, WireOrderStatus,
};

/// Free text kept for display (error messages, cancel reasons); truncated if longer.
pub type Text = InlineStr<96>;

/// One fee of a fill.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Fee {
    /// Asset charged.
    pub asset: AssetCode,
    /// Amount.
    pub qty: Decimal,
}

/// Most fees kept per fill (Kraken charges one, in the quote currency, today).
pub const MAX_FEES: usize = 2;

/// Trigger details of a triggered order, as reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TriggerInfo {
    /// Reference price.
    pub reference: Option<TriggerReference>,
    /// Trigger price or offset.
    pub price: Option<Decimal>,
    /// How `price` is expressed.
    pub price_type: Option<PriceType>,
    /// Triggered yet?
    pub status: Option<TriggerStatus>,
    /// Last reference price seen.
    pub last_price: Option<Decimal>,
}

/// One element of an `executions` frame. Delta frames carry only what changed, so nearly every
/// field is optional; join them to the order by `order_id`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ExecutionReport {
    /// Kraken's order id; the decoder refuses a report without one.
    pub order_id: OrderId,
    /// `None` for an `exec_type` this version does not know (forward compatibility).
    pub exec_type: Option<ExecType>,
    /// The order's status as reported (a trade can say `partially_filled` even when it
    /// completes the order; see `docs/kraken-protocol.md` §4).
    pub order_status: Option<WireOrderStatus>,
    /// Exchange time of the event.
    pub timestamp: Option<Timestamp>,
    /// [`SymbolId::UNKNOWN`] when the frame names a symbol the table lacks.
    pub symbol: Option<SymbolId>,
    /// Buy or sell.
    pub side: Option<Side>,
    /// Order type.
    pub order_type: Option<OrderType>,
    /// Order quantity, base units (the new one after an amend).
    pub order_qty: Option<Decimal>,
    /// Order quantity in quote units (`cash_order_qty`), when given so.
    pub cash_order_qty: Option<Decimal>,
    /// Iceberg visible quantity.
    pub display_qty: Option<Decimal>,
    /// Limit price (the new one after an amend).
    pub limit_price: Option<Decimal>,
    /// How `limit_price` is expressed.
    pub limit_price_type: Option<PriceType>,
    /// Time in force.
    pub time_in_force: Option<TimeInForce>,
    /// Post-only flag.
    pub post_only: Option<bool>,
    /// Reduce-only flag.
    pub reduce_only: Option<bool>,
    /// Margin order flag.
    pub margin: Option<bool>,
    /// Client order id, if the order has one (delta frames often omit it).
    pub cl_ord_id: Option<ClOrdId>,
    /// `0` is Kraken's "none".
    pub order_userref: Option<i64>,
    /// Scheduled start.
    pub effective_time: Option<Timestamp>,
    /// GTD expiry.
    pub expire_time: Option<Timestamp>,
    /// Quantity filled so far (cumulative, base units).
    pub cum_qty: Option<Decimal>,
    /// Value of the fills so far (cumulative, quote units).
    pub cum_cost: Option<Decimal>,
    /// Average fill price so far; the tracker ignores a zero.
    pub avg_price: Option<Decimal>,
    /// Kraken's `fee_usd_equiv`: the fee in USD equivalent. Decoded, not used by the engine
    /// (which takes fees from `fees`).
    pub fee_usd_equiv: Option<Decimal>,
    /// Kraken's `exec_id`: the fill's execution id; fills are deduplicated by it.
    pub exec_id: Option<ExecId>,
    /// Kraken's `trade_id`: the fill's per-pair trade id.
    pub trade_id: Option<u64>,
    /// This fill's quantity (base units).
    pub last_qty: Option<Decimal>,
    /// This fill's price.
    pub last_price: Option<Decimal>,
    /// This fill's value (quote units); when absent the tracker uses
    /// `last_qty × last_price`.
    pub cost: Option<Decimal>,
    /// Kraken's `liquidity_ind`: maker or taker on this fill.
    pub liquidity: Option<Liquidity>,
    /// Fees of a fill; only the first `fee_count` are set.
    pub fees: [Fee; MAX_FEES],
    /// Number of entries of `fees` set; fees beyond [`MAX_FEES`] are dropped.
    pub fee_count: u8,
    /// Kraken's `reason` (or, without it, the deprecated `cancel_reason`), truncated to fit.
    pub reason: Option<Text>,
    /// Kraken's `amended`: `true` on the report of an amend.
    pub amended: Option<bool>,
    /// Trigger details of a triggered order type.
    pub triggers: Option<TriggerInfo>,
    /// The first value this version does not know (an enum word or a time it cannot read):
    /// that field is left `None` and the rest of the report is kept.
    pub unknown: Option<UnknownValue>,
    /// How many such values the report held.
    pub unknown_count: u8,
}

/// A field value the decoder did not know, kept as the exchange wrote it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnknownValue {
    /// The field (`order_status`, `liquidity_ind`, `triggers.status`, `time_in`, ...).
    pub field: &'static str,
    /// Its raw text.
    pub raw: Text,
}

impl ExecutionReport {
    /// The fees of this report.
    pub fn fees(&self) -> &[Fee] {
        &self.fees[..usize::from(self.fee_count).min(MAX_FEES)]
    }

    /// True for a report that carries a fill.
    pub fn is_fill(&self) -> bool {
        self.exec_id.is_some() && self.last_qty.is_some()
    }
}

/// A `balances` element: a snapshot balance or a ledger update.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct BalanceEntry {
    /// The asset (v2 code, e.g. `BTC`).
    pub asset: AssetCode,
    /// Balance after the change (snapshot: the total across wallets, spot and earn: not what
    /// is spendable; see [`BalanceEntry::spot`]).
    pub balance: Option<Decimal>,
    /// Change (updates).
    pub amount: Option<Decimal>,
    /// Fee of the ledger entry (updates).
    pub fee: Option<Decimal>,
    /// Id of the ledger entry (updates).
    pub ledger_id: Option<InlineStr<32>>,
    /// The trade (or other) reference shared by both legs of a trade.
    pub ref_id: Option<InlineStr<32>>,
    /// Ledger type (`trade`, `deposit`, ...).
    pub kind: Option<InlineStr<16>>,
    /// Time of the ledger entry (updates).
    pub timestamp: Option<Timestamp>,
    /// Snapshot: the balance of each wallet (the first `wallet_count`).
    pub wallets: [WalletBalance; MAX_WALLETS],
    /// Number of entries of `wallets` set; wallets beyond [`MAX_WALLETS`] are dropped.
    pub wallet_count: u8,
    /// Update: the wallet the change was in (`spot`, `earn`) and its id (`main`, `flex`, ...).
    pub wallet_type: Option<InlineStr<8>>,
    /// Update: the id of the wallet the change was in (see `wallet_type`).
    pub wallet_id: Option<InlineStr<16>>,
}

/// Wallets kept per balance entry.
pub const MAX_WALLETS: usize = 4;

/// One wallet's balance of an asset (`balances` snapshot).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct WalletBalance {
    /// `spot` or `earn`.
    pub kind: InlineStr<8>,
    /// `main`, `flex`, `bonded`, ...
    pub id: InlineStr<16>,
    /// Its balance.
    pub balance: Decimal,
}

impl BalanceEntry {
    /// The wallets of a snapshot entry.
    pub fn wallets(&self) -> &[WalletBalance] {
        &self.wallets[..usize::from(self.wallet_count).min(MAX_WALLETS)]
    }

    /// What is in the spot wallet (what trading can spend): from a snapshot's wallets, or
    /// the balance of an update in the spot wallet. `None` when the entry does not say.
    pub fn spot(&self) -> Option<Decimal> {
        if self.wallet_count > 0 {
            return Some(
                self.wallets()
                    .iter()
                    .filter(|w| w.kind.as_str() == "spot")
                    .map(|w| w.balance)
                    .sum(),
            );
        }
        match self.wallet_type {
            Some(t) if t.as_str() == "spot" => self.balance,
            _ => None,
        }
    }
}

/// A pair from the `instrument` channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct InstrumentPair {
    /// The pair as v2 names it (`BTC/USD`).
    pub symbol: InlineStr<32>,
    /// Base asset.
    pub base: AssetCode,
    /// Quote asset.
    pub quote: AssetCode,
    /// Trading status; `None` when absent or a word this version does not know (the engine
    /// then takes the pair as online).
    pub status: Option<PairStatus>,
    /// Prices must be multiples of this.
    pub price_increment: Option<Decimal>,
    /// Quantities must be multiples of this.
    pub qty_increment: Option<Decimal>,
    /// Minimum order quantity (base units).
    pub qty_min: Option<Decimal>,
    /// Minimum price × quantity (quote units).
    pub cost_min: Option<Decimal>,
    /// Kraken's `price_precision`: decimal places of prices. Decoded, not used by the engine.
    pub price_precision: Option<u32>,
    /// Kraken's `qty_precision`: decimal places of quantities. Decoded, not used by the engine.
    pub qty_precision: Option<u32>,
}

/// An asset from the `instrument` channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct AssetInfo {
    /// The asset (v2 code, e.g. `BTC`).
    pub id: AssetCode,
    /// Kraken's `status` word, as sent (not parsed), truncated to fit.
    pub status: InlineStr<24>,
    /// Kraken's `precision`: decimal places of the asset's amounts. Decoded, not used by the
    /// engine.
    pub precision: Option<u32>,
}

/// The method a response answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Method {
    /// `add_order`: place an order.
    AddOrder,
    /// `amend_order`: change an order in place (same id, queue priority kept).
    AmendOrder,
    /// `edit_order`: cancel and replace an order (new id).
    EditOrder,
    /// `cancel_order`: cancel orders by id, client id or userref.
    CancelOrder,
    /// `cancel_all`: cancel every open order.
    CancelAll,
    /// `cancel_all_orders_after`: the dead man's switch.
    CancelAllOrdersAfter,
    /// `batch_add`: place 2 to 15 orders on one pair.
    BatchAdd,
    /// `batch_cancel`: cancel several orders.
    BatchCancel,
    /// `subscribe` to a channel.
    Subscribe,
    /// `unsubscribe` from a channel.
    Unsubscribe,
    /// `pong`: the answer to a `ping`.
    Pong,
    /// A method this version does not know.
    #[default]
    Other,
}

impl Method {
    /// Kraken's spelling (`add_order`); `other` for one this version does not know.
    pub const fn as_str(self) -> &'static str {
        match self {
            Method::AddOrder => "add_order",
            Method::AmendOrder => "amend_order",
            Method::EditOrder => "edit_order",
            Method::CancelOrder => "cancel_order",
            Method::CancelAll => "cancel_all",
            Method::CancelAllOrdersAfter => "cancel_all_orders_after",
            Method::BatchAdd => "batch_add",
            Method::BatchCancel => "batch_cancel",
            Method::Subscribe => "subscribe",
            Method::Unsubscribe => "unsubscribe",
            Method::Pong => "pong",
            Method::Other => "other",
        }
    }

    pub(crate) fn from_wire(s: &str) -> Self {
        match s {
            "add_order" => Method::AddOrder,
            "amend_order" => Method::AmendOrder,
            "edit_order" => Method::EditOrder,
            "cancel_order" => Method::CancelOrder,
            "cancel_all" => Method::CancelAll,
            "cancel_all_orders_after" => Method::CancelAllOrdersAfter,
            "batch_add" => Method::BatchAdd,
            "batch_cancel" => Method::BatchCancel,
            "subscribe" => Method::Subscribe,
            "unsubscribe" => Method::Unsubscribe,
            "pong" => Method::Pong,
            _ => Method::Other,
        }
    }
}

/// A channel name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Channel {
    /// `executions`: the account's order and fill reports.
    Executions,
    /// `balances`: the account's balances and ledger changes.
    Balances,
    /// `instrument`: pairs and assets with their trading rules.
    Instrument,
    /// Any other channel, or none named.
    Other,
}

impl Channel {
    pub(crate) fn from_wire(s: &str) -> Self {
        match s {
            "executions" => Channel::Executions,
            "balances" => Channel::Balances,
            "instrument" => Channel::Instrument,
            _ => Channel::Other,
        }
    }
}

/// The `result` of a successful response, by method. Fields Kraken echoes only sometimes are
/// optional.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AckResult {
    /// No result (errors, pong).
    #[default]
    None,
    /// `add_order`, one `cancel_order` response, one `batch_add` element.
    Order {
        /// Kraken's id.
        order_id: Option<OrderId>,
        /// Echoed client id.
        cl_ord_id: Option<ClOrdId>,
        /// Echoed userref.
        order_userref: Option<i64>,
    },
    /// `amend_order`.
    Amend {
        /// Id of the amend.
        amend_id: Option<InlineStr<32>>,
        /// Echoed order id.
        order_id: Option<OrderId>,
        /// Echoed client id.
        cl_ord_id: Option<ClOrdId>,
    },
    /// `edit_order`: the replacement's id and the original's.
    Edit {
        /// New id.
        order_id: Option<OrderId>,
        /// Replaced id.
        original_order_id: Option<OrderId>,
    },
    /// `cancel_all` and `batch_cancel` (either observed shape).
    Count(u64),
    /// `cancel_all_orders_after`.
    CancelAfter {
        /// Exchange time.
        current_time: Option<Timestamp>,
        /// When everything is cancelled unless refreshed.
        trigger_time: Option<Timestamp>,
    },
    /// `batch_add`: the elements are in [`crate::protocol::Decoder::batch`].
    Batch {
        /// Number of elements.
        len: usize,
    },
    /// `subscribe`/`unsubscribe`.
    Subscription {
        /// Channel.
        channel: Channel,
        /// The account's rate-counter threshold (executions ack).
        maxratecount: Option<u32>,
        /// Symbol of a per-symbol ack.
        symbol: Option<SymbolId>,
    },
}

/// A response to a request (a method ack or error).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Response {
    /// The method answered.
    pub method: Method,
    /// Echoed only when the request had one.
    pub req_id: Option<u64>,
    /// `false` with `error` set on failure. Pongs carry no `success`; they count as success.
    pub success: bool,
    /// The error text, truncated to fit.
    pub error: Option<Text>,
    /// The error, classified.
    pub error_kind: Option<KrakenErrorKind>,
    /// What succeeded.
    pub result: AckResult,
    /// Number of advisory warnings.
    pub warnings: u8,
    /// When the exchange received the request.
    pub time_in: Option<Timestamp>,
    /// When it answered.
    pub time_out: Option<Timestamp>,
}

/// One element of a `batch_add` result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct BatchItem {
    /// Kraken's id, when placed.
    pub order_id: Option<OrderId>,
    /// Echoed client id.
    pub cl_ord_id: Option<ClOrdId>,
    /// Echoed userref.
    pub order_userref: Option<i64>,
    /// A per-order rejection (shape undocumented; accepted when present).
    pub error: Option<Text>,
}

/// `status` channel update.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Status {
    /// Engine state.
    pub system: Option<SystemStatus>,
    /// Connection id (a u64 beyond i64).
    pub connection_id: Option<u64>,
}

/// Whether a channel frame is a snapshot or an update.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameKind {
    /// Full state.
    Snapshot,
    /// Changes.
    Update,
}

/// A decoded inbound message. Variable-length payloads are left in the decoder's reused buffers
/// (see [`crate::protocol::Decoder`]) and only counted here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
// Boxing the large variant would put a heap pointer on the event path; it stays inline.
#[allow(clippy::large_enum_variant)]
#[non_exhaustive]
pub enum Inbound {
    /// A response to a request.
    Response(Response),
    /// An `executions` frame; reports in `Decoder::executions()`.
    Executions {
        /// Snapshot or update.
        kind: FrameKind,
        /// Subscription sequence number.
        sequence: Option<u64>,
        /// Number of reports.
        len: usize,
    },
    /// A `balances` frame; entries in `Decoder::balances()`.
    Balances {
        /// Snapshot or update.
        kind: FrameKind,
        /// Subscription sequence number.
        sequence: Option<u64>,
        /// Number of entries.
        len: usize,
    },
    /// An `instrument` frame; pairs and assets in `Decoder::pairs()`/`assets()`.
    Instrument {
        /// Snapshot or update.
        kind: FrameKind,
        /// Number of pairs.
        pairs: usize,
        /// Number of assets.
        assets: usize,
    },
    /// A `book` frame (one pair's levels); levels in `Decoder::book_bids()`/`book_asks()`,
    /// in the frame's order.
    Book {
        /// Snapshot or update.
        kind: FrameKind,
        /// The pair (`SymbolId::UNKNOWN` if not interned).
        symbol: SymbolId,
        /// Kraken's CRC32 of the top ten levels once the frame is applied.
        checksum: Option<u32>,
        /// Exchange time of an update.
        timestamp: Option<Timestamp>,
    },
    /// A `trade` frame (the public tape); trades in `Decoder::trades()`, oldest first.
    Trade {
        /// Snapshot (the last trades) or update.
        kind: FrameKind,
        /// Number of trades.
        len: usize,
    },
    /// A `ticker` frame; one entry per pair in `Decoder::tickers()`.
    Ticker {
        /// Snapshot or update.
        kind: FrameKind,
        /// Number of entries.
        len: usize,
    },
    /// `status` channel.
    Status(Status),
    /// `heartbeat` channel.
    Heartbeat,
}

/// A trade of the public tape (`trade` channel).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PublicTrade {
    /// The pair (`SymbolId::UNKNOWN` if not interned).
    pub symbol: SymbolId,
    /// The taker's side.
    pub side: Option<Side>,
    /// Price.
    pub price: Decimal,
    /// Quantity.
    pub qty: Decimal,
    /// The taker's order type.
    pub ord_type: Option<OrderType>,
    /// Kraken's trade id (sequential per pair).
    pub trade_id: Option<u64>,
    /// Exchange time.
    pub timestamp: Option<Timestamp>,
}

/// A pair's level 1 data (`ticker` channel): the best bid and offer and the day's trading.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Ticker {
    /// The pair (`SymbolId::UNKNOWN` if not interned).
    pub symbol: SymbolId,
    /// Best bid.
    pub bid: Option<Decimal>,
    /// Quantity at the best bid.
    pub bid_qty: Option<Decimal>,
    /// Best ask.
    pub ask: Option<Decimal>,
    /// Quantity at the best ask.
    pub ask_qty: Option<Decimal>,
    /// Last trade's price.
    pub last: Option<Decimal>,
    /// 24 h volume (base).
    pub volume: Option<Decimal>,
    /// 24 h volume-weighted average price.
    pub vwap: Option<Decimal>,
    /// 24 h low.
    pub low: Option<Decimal>,
    /// 24 h high.
    pub high: Option<Decimal>,
    /// 24 h change.
    pub change: Option<Decimal>,
    /// 24 h change, %.
    pub change_pct: Option<Decimal>,
    /// Exchange time, where sent.
    pub timestamp: Option<Timestamp>,
}

/// One price level of a `book` frame: its price and quantity with the frame's own digits
/// (scale kept: Kraken's checksum is over them). A quantity of zero removes the level.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BookLevel {
    /// Price.
    pub price: Decimal,
    /// Quantity at that price.
    pub qty: Decimal,
}

#[cfg(test)]
mod tests {
    use super::Method;

    #[test]
    fn method_spellings_round_trip() {
        for m in [
            Method::AddOrder,
            Method::AmendOrder,
            Method::EditOrder,
            Method::CancelOrder,
            Method::CancelAll,
            Method::CancelAllOrdersAfter,
            Method::BatchAdd,
            Method::BatchCancel,
            Method::Subscribe,
            Method::Unsubscribe,
            Method::Pong,
        ] {
            assert_eq!(Method::from_wire(m.as_str()), m);
        }
        assert_eq!(Method::from_wire("other"), Method::Other);
    }

    #[test]
    fn channel_names() {
        use super::Channel;
        for (s, c) in [
            ("executions", Channel::Executions),
            ("balances", Channel::Balances),
            ("instrument", Channel::Instrument),
            ("book", Channel::Other),
        ] {
            assert_eq!(Channel::from_wire(s), c, "{s}");
        }
    }

    /// A fill is a report with both an execution id and a quantity.
    #[test]
    fn a_fill_has_an_exec_id_and_a_quantity() {
        use super::ExecutionReport;
        use crate::ids::ExecId;
        use rust_decimal::Decimal;
        let id = ExecId::new("TGBB7L-HT5LX-J3BZ4A");
        for (exec_id, last_qty, fill) in [
            (id, Some(Decimal::ONE), true),
            (id, None, false),
            (None, Some(Decimal::ONE), false),
            (None, None, false),
        ] {
            let r = ExecutionReport {
                exec_id,
                last_qty,
                ..ExecutionReport::default()
            };
            assert_eq!(r.is_fill(), fill, "{exec_id:?} {last_qty:?}");
        }
    }

    /// `wallets()` is the entries set, never more than are kept.
    #[test]
    fn wallets_are_the_entries_set() {
        use super::{BalanceEntry, MAX_WALLETS, WalletBalance};
        use rust_decimal::Decimal;
        let mut b = BalanceEntry::default();
        assert!(b.wallets().is_empty());
        b.wallets[0] = WalletBalance {
            balance: Decimal::TWO,
            ..WalletBalance::default()
        };
        b.wallet_count = 1;
        assert_eq!(b.wallets(), &b.wallets[..1]);
        assert_eq!(b.wallets()[0].balance, Decimal::TWO);
        b.wallet_count = 200;
        assert_eq!(b.wallets().len(), MAX_WALLETS);
    }

    /// What trading can spend: the spot wallets of a snapshot (earn left out), or an
    /// update's balance when the change was in the spot wallet; otherwise unknown.
    #[test]
    fn spot_is_the_spot_wallets_only() {
        use super::{BalanceEntry, WalletBalance};
        use crate::ids::InlineStr;
        use rust_decimal::Decimal;
        let wallet = |kind: &str, balance: i64| WalletBalance {
            kind: InlineStr::new(kind).unwrap(),
            balance: Decimal::from(balance),
            ..WalletBalance::default()
        };
        let mut snap = BalanceEntry::default();
        snap.wallets[0] = wallet("spot", 2);
        snap.wallets[1] = wallet("earn", 5);
        snap.wallets[2] = wallet("spot", 1);
        snap.wallet_count = 3;
        snap.balance = Some(Decimal::from(8));
        assert_eq!(snap.spot(), Some(Decimal::from(3)));
        let mut update = BalanceEntry {
            balance: Some(Decimal::from(7)),
            wallet_type: InlineStr::new("spot"),
            ..BalanceEntry::default()
        };
        assert_eq!(update.spot(), Some(Decimal::from(7)));
        update.wallet_type = InlineStr::new("earn");
        assert_eq!(update.spot(), None);
        update.wallet_type = None;
        assert_eq!(update.spot(), None);
    }
}
