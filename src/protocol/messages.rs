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
#[allow(missing_docs)]
#[non_exhaustive]
pub struct ExecutionReport {
    pub order_id: OrderId,
    /// `None` for an `exec_type` this version does not know (forward compatibility).
    pub exec_type: Option<ExecType>,
    pub order_status: Option<WireOrderStatus>,
    pub timestamp: Option<Timestamp>,
    /// [`SymbolId::UNKNOWN`] when the frame names a symbol the table lacks.
    pub symbol: Option<SymbolId>,
    pub side: Option<Side>,
    pub order_type: Option<OrderType>,
    pub order_qty: Option<Decimal>,
    pub cash_order_qty: Option<Decimal>,
    pub display_qty: Option<Decimal>,
    pub limit_price: Option<Decimal>,
    pub limit_price_type: Option<PriceType>,
    pub time_in_force: Option<TimeInForce>,
    pub post_only: Option<bool>,
    pub reduce_only: Option<bool>,
    pub margin: Option<bool>,
    pub cl_ord_id: Option<ClOrdId>,
    /// `0` is Kraken's "none".
    pub order_userref: Option<i64>,
    pub effective_time: Option<Timestamp>,
    pub expire_time: Option<Timestamp>,
    pub cum_qty: Option<Decimal>,
    pub cum_cost: Option<Decimal>,
    pub avg_price: Option<Decimal>,
    pub fee_usd_equiv: Option<Decimal>,
    pub exec_id: Option<ExecId>,
    pub trade_id: Option<u64>,
    pub last_qty: Option<Decimal>,
    pub last_price: Option<Decimal>,
    pub cost: Option<Decimal>,
    pub liquidity: Option<Liquidity>,
    /// Fees of a fill; only the first `fee_count` are set.
    pub fees: [Fee; MAX_FEES],
    pub fee_count: u8,
    pub reason: Option<Text>,
    pub amended: Option<bool>,
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
#[allow(missing_docs)]
#[non_exhaustive]
pub struct BalanceEntry {
    pub asset: AssetCode,
    /// Balance after the change (snapshot: the total across wallets, spot and earn: not what
    /// is spendable; see [`BalanceEntry::spot`]).
    pub balance: Option<Decimal>,
    /// Change (updates).
    pub amount: Option<Decimal>,
    pub fee: Option<Decimal>,
    pub ledger_id: Option<InlineStr<32>>,
    /// The trade (or other) reference shared by both legs of a trade.
    pub ref_id: Option<InlineStr<32>>,
    /// Ledger type (`trade`, `deposit`, ...).
    pub kind: Option<InlineStr<16>>,
    pub timestamp: Option<Timestamp>,
    /// Snapshot: the balance of each wallet (the first `wallet_count`).
    pub wallets: [WalletBalance; MAX_WALLETS],
    pub wallet_count: u8,
    /// Update: the wallet the change was in (`spot`, `earn`) and its id (`main`, `flex`, ...).
    pub wallet_type: Option<InlineStr<8>>,
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
#[allow(missing_docs)]
pub struct InstrumentPair {
    pub symbol: InlineStr<32>,
    pub base: AssetCode,
    pub quote: AssetCode,
    pub status: Option<PairStatus>,
    pub price_increment: Option<Decimal>,
    pub qty_increment: Option<Decimal>,
    pub qty_min: Option<Decimal>,
    pub cost_min: Option<Decimal>,
    pub price_precision: Option<u32>,
    pub qty_precision: Option<u32>,
}

/// An asset from the `instrument` channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[allow(missing_docs)]
pub struct AssetInfo {
    pub id: AssetCode,
    pub status: InlineStr<24>,
    pub precision: Option<u32>,
}

/// The method a response answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[allow(missing_docs)]
#[non_exhaustive]
pub enum Method {
    AddOrder,
    AmendOrder,
    EditOrder,
    CancelOrder,
    CancelAll,
    CancelAllOrdersAfter,
    BatchAdd,
    BatchCancel,
    Subscribe,
    Unsubscribe,
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
#[allow(missing_docs)]
#[non_exhaustive]
pub enum Channel {
    Executions,
    Balances,
    Instrument,
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
}
