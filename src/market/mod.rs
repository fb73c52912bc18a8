//! Market data from Kraken's public WebSocket v2 channels, sans-IO: the order book of each
//! pair, checked against Kraken's checksum on every frame.

pub mod book;

pub use book::{Applied, Book};
