//! The strategy's callbacks: what the engine tells it, on its own thread, from
//! [`Trader::poll`](crate::engine::Trader::poll).

use crate::engine::msg::ConnectionState;
use crate::error::DecodeError;
use crate::ids::{RequestId, SymbolId};
use crate::market::{Book, BookInvalid};
use crate::orders::{Fill, NotSent, RequestAck, RequestFailure, StatusChange};
use crate::protocol::encode::MarketChannel;
use crate::protocol::messages::{BalanceEntry, PublicTrade, Status, Ticker};

/// Callbacks of a strategy. Every method has an empty default.
///
/// The events' types implement `Default`, so a strategy's own unit tests can make them
/// without an engine:
///
/// ```
/// use kraken_exec::prelude::*;
/// use rust_decimal_macros::dec;
///
/// #[derive(Default)]
/// struct Inventory(Decimal);
/// impl Strategy for Inventory {
///     fn on_execution(&mut self, fill: &Fill) {
///         match fill.side {
///             Some(Side::Buy) => self.0 += fill.qty,
///             Some(Side::Sell) => self.0 -= fill.qty,
///             _ => {}
///         }
///     }
/// }
///
/// let mut fill = Fill::default();
/// fill.side = Some(Side::Sell);
/// fill.qty = dec!(0.25);
/// let mut s = Inventory::default();
/// s.on_execution(&fill);
/// assert_eq!(s.0, dec!(-0.25));
/// ```
#[allow(unused_variables)]
pub trait Strategy {
    /// A new fill (deduplicated).
    fn on_execution(&mut self, fill: &Fill) {}
    /// An order changed status.
    fn on_status_change(&mut self, change: &StatusChange) {}
    /// The exchange refused a request (by its id: `failure.req_id`).
    fn on_reject(&mut self, failure: &RequestFailure) {}
    /// The exchange accepted a request (by its id: `ack.req_id`). For an order this is the
    /// ack; fills and status changes follow from the executions stream.
    fn on_ack(&mut self, ack: &RequestAck) {}
    /// An accepted request never left the engine (shut down, or expired waiting for REST).
    fn on_not_sent(&mut self, not_sent: &NotSent) {}
    /// Recovery keeps failing (reading the trade history after a disconnect, or looking up an
    /// order whose outcome is unknown): fills or order states may be missing until it works.
    /// It goes on, backing off; `error` is the last failure (e.g. a key without the query
    /// permission, REST unreachable).
    fn on_recovery_failing(&mut self, error: &str) {}
    /// The strategy did not poll for so long that the event ring filled: the engine held the
    /// events (all follow this call, none lost) and paused reading the socket meanwhile.
    fn on_event_ring_full(&mut self) {}
    /// The connection changed state.
    fn on_connection(&mut self, state: ConnectionState) {}
    /// A request timed out; the engine is looking the order up.
    fn on_unknown_outcome(&mut self, req_id: RequestId) {}
    /// A balance or ledger entry.
    fn on_balance(&mut self, entry: &BalanceEntry) {}
    /// Exchange status.
    fn on_system_status(&mut self, status: &Status) {}
    /// A frame could not be decoded.
    fn on_decode_error(&mut self, error: DecodeError) {}
    /// A book changed (a frame applied and matching Kraken's checksum); `book` is in sync.
    /// Called once per frame, in arrival order with every other event.
    fn on_book(&mut self, symbol: SymbolId, book: &Book) {}
    /// A book is not to be trusted until its next snapshot (already asked for): it is not
    /// handed out meanwhile ([`Trader::book`](crate::engine::Trader::book) says `None`).
    fn on_book_invalid(&mut self, symbol: SymbolId, why: BookInvalid) {}
    /// A trade of the public tape (`snapshot`: one of the last trades before subscribing).
    fn on_trade(&mut self, trade: &PublicTrade, snapshot: bool) {}
    /// A pair's ticker.
    fn on_ticker(&mut self, ticker: &Ticker) {}
    /// The public (market-data) socket changed state.
    fn on_market_connection(&mut self, state: ConnectionState) {}
    /// A market-data subscription was acknowledged (`error` is `None`) or refused (asked
    /// again a few times, then given up: `gave_up`).
    fn on_market_subscription(
        &mut self,
        symbol: SymbolId,
        channel: MarketChannel,
        error: Option<&str>,
        gave_up: bool,
    ) {
    }
}

impl Strategy for () {}
