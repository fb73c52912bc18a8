//! The tradable pairs: their rules, Kraken's names for them and their assets, and the
//! default set the simulator lists.

use std::str::FromStr;

use rust_decimal::Decimal;

use super::Exchange;

/// A tradable pair and its rules.
#[derive(Clone, Debug)]
pub struct Pair {
    /// `BTC/USD`
    pub symbol: String,
    /// REST name (Kraken's `altname`), `XBTUSD`.
    pub rest_name: String,
    /// Kraken's pair key, `XXBTZUSD`: what `AssetPairs` is keyed by and `TradesHistory`
    /// reports.
    pub key: String,
    /// Base asset.
    pub base: String,
    /// Quote asset.
    pub quote: String,
    /// Price tick.
    pub price_increment: Decimal,
    /// Quantity step.
    pub qty_increment: Decimal,
    /// Minimum quantity.
    pub qty_min: Decimal,
    /// Minimum cost.
    pub cost_min: Decimal,
    /// Decimals of prices.
    pub price_precision: u32,
    /// Decimals of quantities.
    pub qty_precision: u32,
    /// Reference (last/index) price of the synthetic market.
    pub ref_price: Decimal,
}

/// An asset's REST key as Kraken's `AssetPairs` and `Balance` name it: the legacy assets
/// carry an `X` (crypto) or `Z` (fiat) prefix, and BTC is `XBT`, DOGE is `XDG`.
pub fn rest_asset(v2: &str) -> String {
    match v2 {
        "BTC" => "XXBT".into(),
        "DOGE" => "XXDG".into(),
        "ETH" | "LTC" | "XRP" | "XLM" | "XMR" | "ZEC" | "ETC" => format!("X{v2}"),
        "USD" | "EUR" | "GBP" | "JPY" | "CAD" => format!("Z{v2}"),
        other => other.into(),
    }
}

impl Pair {
    /// Kraken's `wsname` for the pair: the v1 WebSocket's name, with REST's asset codes
    /// (`XBT/USD`), not v2's `BTC/USD`.
    pub fn rest_wsname(&self) -> String {
        let code = |a: &str| match a {
            "BTC" => "XBT".to_string(),
            "DOGE" => "XDG".to_string(),
            a => a.to_string(),
        };
        format!("{}/{}", code(&self.base), code(&self.quote))
    }
}

/// The default pairs, with realistic increments.
pub fn default_pairs() -> Vec<Pair> {
    let p =
        |s: &str, r: &str, b: &str, q: &str, pi: &str, pp: u32, qm: &str, cm: &str, px: &str| {
            Pair {
                symbol: s.into(),
                rest_name: r.into(),
                key: match r {
                    "XBTUSD" => "XXBTZUSD",
                    "ETHUSD" => "XETHZUSD",
                    "ETHXBT" => "XETHXXBT",
                    other => other,
                }
                .into(),
                base: b.into(),
                quote: q.into(),
                price_increment: Decimal::from_str(pi).unwrap(),
                qty_increment: Decimal::new(1, 8),
                qty_min: Decimal::from_str(qm).unwrap(),
                cost_min: Decimal::from_str(cm).unwrap(),
                price_precision: pp,
                qty_precision: 8,
                ref_price: Decimal::from_str(px).unwrap(),
            }
        };
    vec![
        p(
            "BTC/USD", "XBTUSD", "BTC", "USD", "0.1", 1, "0.0001", "0.5", "65000.0",
        ),
        p(
            "ETH/USD", "ETHUSD", "ETH", "USD", "0.01", 2, "0.001", "0.5", "3200.00",
        ),
        p(
            "SOL/USD", "SOLUSD", "SOL", "USD", "0.01", 2, "0.02", "0.5", "150.00",
        ),
        p(
            "ETH/BTC", "ETHXBT", "ETH", "BTC", "0.00001", 5, "0.002", "0.00002", "0.04900",
        ),
    ]
}

impl Exchange {
    pub(super) fn pair_of(&self, symbol: &str) -> Option<usize> {
        self.pairs
            .iter()
            .position(|p| p.symbol == symbol || p.rest_name == symbol || p.key == symbol)
    }
}
