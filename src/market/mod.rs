//! Market data from Kraken's public WebSocket v2 channels, sans-IO: the order book of each
//! pair, checked against Kraken's checksum on every frame.

pub mod book;
pub mod books;
pub mod feed;
pub mod session;

pub use book::{Applied, Book};
pub use books::{BookInvalid, BookOutcome, Books};
pub use session::{MarketConfig, MarketSession};
