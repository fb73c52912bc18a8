//! # kraken-exec
//!
//! A low-latency execution engine for Kraken's Spot WebSocket API v2.
//!
//! This crate's core is sans-IO: the [`protocol`] codec (WS v2 encode/decode, REST signing and
//! bodies), the order model ([`order`], [`validate`]) and the [`OrderTracker`] are plain
//! deterministic types with no sockets, threads or clocks inside. Time is passed in.
//!
//! ```
//! use kraken_exec::{AddOrder, ClOrdId, Side, SymbolTable, Timestamp};
//! use kraken_exec::protocol::{encode, Decoder, Inbound};
//! use rust_decimal_macros::dec;
//!
//! let symbols = SymbolTable::from_names(["BTC/USD"]);
//! let btc = symbols.get("BTC/USD").unwrap();
//! let order = AddOrder::limit(btc, Side::Buy, dec!(0.01), dec!(65000.1))
//!     .post_only()
//!     .cl_ord_id(ClOrdId::new("mm-bid-1").unwrap());
//! order.check_shape(Timestamp(0)).unwrap();
//!
//! let mut buf = Vec::with_capacity(512);
//! encode::add_order(&mut buf, &order, &symbols, "token", 7);
//! assert!(std::str::from_utf8(&buf).unwrap().contains(r#""limit_price":65000.1"#));
//!
//! let mut decoder = Decoder::new();
//! let ack = br#"{"method":"add_order","req_id":7,"result":{"order_id":"OK4GJX-KSTLS-7DZZO5","cl_ord_id":"mm-bid-1"},"success":true,"time_in":"2023-09-21T14:15:07.197274Z","time_out":"2023-09-21T14:15:07.205301Z"}"#;
//! match decoder.decode(ack, &symbols).unwrap() {
//!     Inbound::Response(r) => assert_eq!(r.req_id, Some(7)),
//!     other => panic!("{other:?}"),
//! }
//! ```
#![deny(missing_docs)]

pub mod engine;
pub mod error;
pub mod ids;
pub mod journal;
pub mod market;
pub mod order;
pub mod orders;
pub mod protocol;
pub mod risk;
mod swar;
pub mod time;
pub mod types;
pub mod validate;

pub use error::{ClOrdIdError, DecodeError, Field, KrakenErrorKind, OrderError, Rule};
pub use ids::{AssetCode, ClOrdId, ExecId, InlineStr, OrderId, RequestId, SymbolId, SymbolTable};
pub use order::{
    AddOrder, AmendOrder, BatchAdd, BatchCancel, CancelAllAfter, CancelOrder, ClientTag,
    Conditional, EditOrder, OrderRef, Quantity, Request, Triggers,
};

pub use engine::{EngineConfig, Strategy, Trader, start};
pub use orders::{OrderTracker, TrackerConfig, TrackerEvent};
pub use protocol::rest::{ApiSecret, Credentials};
pub use time::Timestamp;
pub use types::*;
pub use validate::Instrument;

/// What a first program needs, in one import: `use kraken_exec::prelude::*;`.
///
/// ```
/// use kraken_exec::prelude::*;
///
/// struct Quiet;
/// impl Strategy for Quiet {
///     fn on_execution(&mut self, fill: &Fill) {
///         let _ = (fill.qty, fill.price);
///     }
/// }
/// let creds = Credentials::new("key", "c2VjcmV0").unwrap();
/// let mut cfg = EngineConfig::new(creds, &["BTC/USD"]);
/// cfg.threading = Threading::SameThread;
/// let _order = |btc: SymbolId| AddOrder::limit(btc, Side::Buy, Decimal::ONE, Decimal::ONE_HUNDRED);
/// ```
pub mod prelude {
    pub use crate::engine::{
        self, ConnectionState, EngineConfig, IdleStrategy, Statistics, Strategy, Threading,
        TradeError, Trader, start,
    };
    pub use crate::error::DecodeError;
    pub use crate::ids::{ClOrdId, OrderId, RequestId, SymbolId};
    pub use crate::market::{Book, BookInvalid};
    pub use crate::order::{
        AddOrder, AmendOrder, BatchAdd, BatchCancel, CancelOrder, EditOrder, OrderRef,
    };
    pub use crate::orders::{Fill, NotSent, Order, RequestAck, RequestFailure, StatusChange};
    pub use crate::protocol::MarketChannel;
    pub use crate::protocol::messages::{BalanceEntry, PublicTrade, Status, Ticker};
    pub use crate::protocol::rest::{ApiSecret, Credentials};
    pub use crate::risk::Tier;
    pub use crate::types::{OrderStatus, OrderType, Side, TimeInForce};
    pub use rust_decimal::Decimal;
}

/// The engine's internal types, for this repository's benches, command-line tool and latency
/// harness only: not part of the API, no stability promise.
#[doc(hidden)]
pub mod internals {
    pub use crate::engine::clock::now_ns;
    pub use crate::engine::msg::{
        BookChunk, Command, ConnectionState, Event, Issued, LargeCommand, MarketCommand,
        OrderCommand,
    };
    pub use crate::engine::stats::EngineStats;
    pub use crate::engine::transport::{WsUrl, client_tls_config, frame_into};
    pub use crate::market::books::{BookOutcome, Books};
    pub use crate::market::feed::{Feed, Read};
    pub use crate::market::session::{MarketConfig, MarketSession, Transmit};
}

/// The README's example, compiled as a doctest (`no_run`: it needs Kraken and credentials) so
/// it cannot rot.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
