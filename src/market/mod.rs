//! Market data from Kraken's public WebSocket v2 channels, sans-IO: the order book of each
//! pair, checked against Kraken's checksum on every frame.

pub mod book;
pub(crate) mod books;
pub(crate) mod feed;
pub(crate) mod session;

pub use book::{Applied, Book};
pub use books::BookInvalid;
pub(crate) use books::{BookOutcome, Books};
pub(crate) use session::{MarketConfig, MarketSession};
