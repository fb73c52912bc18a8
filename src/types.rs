//! The vocabulary of orders: sides, order types, time in force, statuses. Each enum knows its
//! Kraken v2 spelling both ways.

use rust_decimal::Decimal;

macro_rules! wire_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $var:ident => $s:literal $(| $alt:literal)*),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vm])* #[doc = concat!("`", $s, "` on the wire.")] $var),+ }

        impl $name {
            /// Every variant.
            pub const ALL: &'static [$name] = &[$($name::$var),+];

            /// Kraken v2's spelling on requests.
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$var => $s),+ }
            }

            /// Parses Kraken's spelling (and the documented alternatives).
            pub fn from_wire(s: &str) -> Option<Self> {
                match s { $($s $(| $alt)* => Some($name::$var),)+ _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

wire_enum!(
    /// Buy or sell.
    Side { Buy => "buy", Sell => "sell" }
);

impl Side {
    /// +1 for buys, -1 for sells.
    pub fn sign(self) -> Decimal {
        match self {
            Side::Buy => Decimal::ONE,
            Side::Sell => Decimal::NEGATIVE_ONE,
        }
    }

    /// The other side.
    pub fn opposite(self) -> Side {
        match self {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        }
    }
}

wire_enum!(
    /// The ten order types Kraken v2 accepts.
    OrderType {
        Limit => "limit",
        Market => "market",
        Iceberg => "iceberg",
        StopLoss => "stop-loss",
        StopLossLimit => "stop-loss-limit",
        TakeProfit => "take-profit",
        TakeProfitLimit => "take-profit-limit",
        TrailingStop => "trailing-stop",
        TrailingStopLimit => "trailing-stop-limit",
        SettlePosition => "settle-position",
    }
);

impl OrderType {
    /// Types that need `limit_price`.
    pub const fn needs_limit_price(self) -> bool {
        matches!(
            self,
            OrderType::Limit
                | OrderType::Iceberg
                | OrderType::StopLossLimit
                | OrderType::TakeProfitLimit
                | OrderType::TrailingStopLimit
        )
    }

    /// Types that need `triggers`.
    pub const fn needs_triggers(self) -> bool {
        matches!(
            self,
            OrderType::StopLoss
                | OrderType::StopLossLimit
                | OrderType::TakeProfit
                | OrderType::TakeProfitLimit
                | OrderType::TrailingStop
                | OrderType::TrailingStopLimit
        )
    }

    /// Trailing types, whose trigger price is an offset.
    pub const fn is_trailing(self) -> bool {
        matches!(self, OrderType::TrailingStop | OrderType::TrailingStopLimit)
    }
}

wire_enum!(
    /// Time in force. Requests use lowercase; executions report uppercase, accepted too.
    TimeInForce { Gtc => "gtc" | "GTC", Gtd => "gtd" | "GTD", Ioc => "ioc" | "IOC", Fok => "fok" | "FOK" }
);

wire_enum!(
    /// How a price field is expressed.
    PriceType { Static => "static", Pct => "pct", Quote => "quote" }
);

wire_enum!(
    /// Which price triggers a stop or take-profit order.
    TriggerReference { Index => "index", Last => "last" }
);

wire_enum!(
    /// Which currency fees are charged in.
    FeePreference { Base => "base" | "fcib", Quote => "quote" | "fciq" }
);

wire_enum!(
    /// Self-trade prevention (v2 spells it with underscores).
    StpType { CancelNewest => "cancel_newest", CancelOldest => "cancel_oldest", CancelBoth => "cancel_both" }
);

impl StpType {
    /// REST's spelling (hyphens).
    pub const fn rest_str(self) -> &'static str {
        match self {
            StpType::CancelNewest => "cancel-newest",
            StpType::CancelOldest => "cancel-oldest",
            StpType::CancelBoth => "cancel-both",
        }
    }
}

wire_enum!(
    /// `exec_type` of an execution report.
    ExecType {
        PendingNew => "pending_new",
        New => "new",
        Trade => "trade",
        Filled => "filled",
        IcebergRefill => "iceberg_refill",
        Canceled => "canceled",
        Expired => "expired",
        Amended => "amended",
        Restated => "restated",
        Status => "status",
    }
);

wire_enum!(
    /// `order_status` as the exchange reports it.
    WireOrderStatus {
        PendingNew => "pending_new",
        New => "new",
        PartiallyFilled => "partially_filled",
        Filled => "filled",
        Canceled => "canceled",
        Expired => "expired",
    }
);

wire_enum!(
    /// Maker or taker.
    Liquidity { Maker => "m", Taker => "t" }
);

wire_enum!(
    /// Trigger state of a triggered order.
    TriggerStatus { Triggered => "triggered", Untriggered => "untriggered" }
);

wire_enum!(
    /// A pair's trading status from the `instrument` channel.
    PairStatus {
        Online => "online",
        CancelOnly => "cancel_only",
        PostOnly => "post_only",
        LimitOnly => "limit_only",
        ReduceOnly => "reduce_only",
        Maintenance => "maintenance",
        Delisted => "delisted",
        WorkInProgress => "work_in_progress",
    }
);

wire_enum!(
    /// The engine state from the `status` channel.
    SystemStatus {
        Online => "online",
        Maintenance => "maintenance",
        CancelOnly => "cancel_only",
        PostOnly => "post_only",
    }
);

/// Our view of an order's lifecycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum OrderStatus {
    /// Sent (or about to be); nothing heard back yet.
    #[default]
    Pending,
    /// The exchange validated it (`pending_new`), not yet live.
    PendingNew,
    /// Live on the book, nothing filled.
    Open,
    /// Live, some quantity filled.
    PartiallyFilled,
    /// Completely filled.
    Filled,
    /// Cancelled (by us, the exchange, or the dead man's switch), possibly after partial fills.
    Canceled,
    /// Expired (GTD, IOC remainder, deadline).
    Expired,
    /// Refused by the exchange.
    Rejected,
    /// The request timed out: it may or may not be live. Resolve by lookup, never by resending.
    Unknown,
}

impl OrderStatus {
    /// In words, as Kraken spells its statuses (`partially_filled`) and ours beside them
    /// (`pending`, `rejected`, `unknown`): for logs, the CLI and journals.
    pub const fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Pending => "pending",
            OrderStatus::PendingNew => "pending_new",
            OrderStatus::Open => "open",
            OrderStatus::PartiallyFilled => "partially_filled",
            OrderStatus::Filled => "filled",
            OrderStatus::Canceled => "canceled",
            OrderStatus::Expired => "expired",
            OrderStatus::Rejected => "rejected",
            OrderStatus::Unknown => "unknown",
        }
    }

    /// True once nothing more can happen to the order.
    pub const fn is_terminal(self) -> bool {
        matches!(
            self,
            OrderStatus::Filled
                | OrderStatus::Canceled
                | OrderStatus::Expired
                | OrderStatus::Rejected
        )
    }

    /// True while the order may still trade.
    pub const fn is_active(self) -> bool {
        !self.is_terminal()
    }
}

impl From<WireOrderStatus> for OrderStatus {
    fn from(s: WireOrderStatus) -> Self {
        match s {
            WireOrderStatus::PendingNew => OrderStatus::PendingNew,
            WireOrderStatus::New => OrderStatus::Open,
            WireOrderStatus::PartiallyFilled => OrderStatus::PartiallyFilled,
            WireOrderStatus::Filled => OrderStatus::Filled,
            WireOrderStatus::Canceled => OrderStatus::Canceled,
            WireOrderStatus::Expired => OrderStatus::Expired,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_spellings_round_trip() {
        for &t in OrderType::ALL {
            assert_eq!(OrderType::from_wire(t.as_str()), Some(t));
        }
        for &t in ExecType::ALL {
            assert_eq!(ExecType::from_wire(t.as_str()), Some(t));
        }
        assert_eq!(TimeInForce::from_wire("GTC"), Some(TimeInForce::Gtc));
        assert_eq!(FeePreference::from_wire("fciq"), Some(FeePreference::Quote));
        assert_eq!(OrderType::from_wire("LIMIT"), None);
        assert_eq!(OrderType::ALL.len(), 10);
        assert_eq!(StpType::CancelBoth.rest_str(), "cancel-both");
    }

    #[test]
    fn type_requirements() {
        assert!(OrderType::Limit.needs_limit_price());
        assert!(!OrderType::Market.needs_limit_price());
        assert!(OrderType::TrailingStopLimit.needs_triggers());
        assert!(OrderType::TrailingStopLimit.needs_limit_price());
        assert!(!OrderType::Iceberg.needs_triggers());
    }
}
