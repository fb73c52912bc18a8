//! The sans-IO Kraken protocol: WS v2 encoding and decoding, and the REST pieces (signing, form
//! bodies, envelopes). No sockets, no clocks: bytes in, typed values out, and back.

pub mod decode;
pub mod encode;
pub mod messages;
pub mod rest;
pub(crate) mod write;

pub use decode::Decoder;
pub use encode::{MarketChannel, Subscription};
pub use messages::*;
