//! Order state: the [`OrderTracker`] that turns acks, rejects and execution reports into
//! per-order lifecycle, fills, positions and statistics.

mod dedup;
mod position;
mod tracker;

pub use dedup::ExecIdSet;
pub use position::Position;
pub use tracker::{
    Fill, FillOrigin, NotSent, NotSentReason, Order, OrderTracker, RequestAck, RequestFailure,
    StatusChange, TrackerConfig, TrackerEvent, TrackerStats,
};
