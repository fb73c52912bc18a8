//! Typed errors. Every refusal names what was wrong; none allocates, so the refusal path is as
//! cheap as the accept path.

use rust_decimal::Decimal;

use crate::types::{OrderType, PairStatus};

/// Why a string is not a valid `cl_ord_id`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClOrdIdError {
    /// Empty string.
    #[error("cl_ord_id is empty")]
    Empty,
    /// Contains non-ASCII bytes.
    #[error("cl_ord_id must be ASCII")]
    NotAscii,
    /// Contains a control character.
    #[error("cl_ord_id free text must be printable ASCII")]
    ControlChar,
    /// 36 characters but not a UUID (8-4-4-4-12 hex digits).
    #[error("a 36-character cl_ord_id must be a UUID (8-4-4-4-12 hex digits)")]
    BadUuid,
    /// Longer than 18 characters and not a 32-hex or 36-character UUID.
    #[error("cl_ord_id must be a UUID (36 chars), 32 hex digits, or at most 18 ASCII characters")]
    TooLong,
}

/// The request field a refusal is about (Kraken v2 spelling).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Field {
    /// `symbol`: the pair.
    Symbol,
    /// `order_type`: the order's type.
    OrderType,
    /// `order_qty`: the quantity in the base asset.
    OrderQty,
    /// `limit_price`: the limit price (for trailing-stop-limit, the limit offset).
    LimitPrice,
    /// `limit_price_type`: how `limit_price` is expressed.
    LimitPriceType,
    /// `triggers`: the trigger of a stop, take-profit or trailing order.
    Triggers,
    /// `triggers.price`: the trigger price or offset.
    TriggerPrice,
    /// `time_in_force`: GTC, GTD, IOC or FOK.
    TimeInForce,
    /// `post_only`: refuse the order if it would take liquidity.
    PostOnly,
    /// `reduce_only`: the order may only reduce a position.
    ReduceOnly,
    /// `margin`: a margin order.
    Margin,
    /// `effective_time`: the order's scheduled start.
    EffectiveTime,
    /// `expire_time`: the expiry of a GTD order.
    ExpireTime,
    /// `deadline`: the time after which the matching engine refuses the request.
    Deadline,
    /// `cl_ord_id`: the client order id.
    ClOrdId,
    /// `order_userref`: the client's integer tag for orders.
    OrderUserref,
    /// `conditional`: the OTO close order attached to an add.
    Conditional,
    /// `display_qty`: the visible quantity of an iceberg order.
    DisplayQty,
    /// `fee_preference`: the currency fees are charged in.
    FeePreference,
    /// `cash_order_qty`: the quantity in the quote asset (market buys).
    CashOrderQty,
    /// `orders`: the orders of a batch or cancel request.
    Orders,
    /// `order_id`: Kraken's order id.
    OrderId,
    /// `timeout`: the `cancel_all_orders_after` timeout, in seconds.
    Timeout,
}

impl Field {
    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Field::Symbol => "symbol",
            Field::OrderType => "order_type",
            Field::OrderQty => "order_qty",
            Field::LimitPrice => "limit_price",
            Field::LimitPriceType => "limit_price_type",
            Field::Triggers => "triggers",
            Field::TriggerPrice => "triggers.price",
            Field::TimeInForce => "time_in_force",
            Field::PostOnly => "post_only",
            Field::ReduceOnly => "reduce_only",
            Field::Margin => "margin",
            Field::EffectiveTime => "effective_time",
            Field::ExpireTime => "expire_time",
            Field::Deadline => "deadline",
            Field::ClOrdId => "cl_ord_id",
            Field::OrderUserref => "order_userref",
            Field::Conditional => "conditional",
            Field::DisplayQty => "display_qty",
            Field::FeePreference => "fee_preference",
            Field::CashOrderQty => "cash_order_qty",
            Field::Orders => "orders",
            Field::OrderId => "order_id",
            Field::Timeout => "timeout",
        }
    }
}

impl std::fmt::Display for Field {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The rule a refused field broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Rule {
    /// Required by this order type.
    #[error("is required for {0} orders")]
    RequiredFor(OrderType),
    /// Not accepted with this order type.
    #[error("is not allowed for {0} orders")]
    NotAllowedFor(OrderType),
    /// Required by another field's value.
    #[error("is required when {0} is set")]
    RequiredWith(Field),
    /// Not accepted together with another field.
    #[error("cannot be combined with {0}")]
    ConflictsWith(Field),
    /// Must be greater than zero.
    #[error("must be greater than zero")]
    NotPositive,
    /// Must be a multiple of the instrument's increment.
    #[error("must be a multiple of {0}")]
    NotMultipleOf(Decimal),
    /// Below the instrument's minimum.
    #[error("is below the minimum {0}")]
    BelowMinimum(Decimal),
    /// Price times quantity is below the instrument's minimum cost.
    #[error("cost {cost} is below the minimum {min}")]
    CostBelowMinimum {
        /// price × qty
        cost: Decimal,
        /// the instrument's cost_min
        min: Decimal,
    },
    /// So large that price × quantity cannot be represented.
    #[error("is too large (price × quantity overflows)")]
    TooLarge,
    /// Iceberg display quantity below 1/15 of the order quantity.
    #[error("must be at least 1/15 of order_qty")]
    IcebergTooSmall,
    /// Iceberg display quantity above the order quantity.
    #[error("must not exceed order_qty")]
    ExceedsOrderQty,
    /// The pair does not accept this now.
    #[error("pair is {0}")]
    PairStatus(PairStatus),
    /// Wrong number of items.
    #[error("must hold {min}..={max} items, got {got}")]
    Count {
        /// fewest allowed
        min: usize,
        /// most allowed
        max: usize,
        /// what was given
        got: usize,
    },
    /// Batch orders must share one symbol.
    #[error("all orders of a batch must be on one symbol")]
    MixedSymbols,
    /// A duration Kraken takes in whole seconds was given with a fraction.
    #[error("must be whole seconds")]
    NotWholeSeconds,
    /// Value outside the accepted range.
    #[error("is out of range")]
    OutOfRange,
    /// A userref names every order carrying it; an amend names one order (by order id or
    /// client order id).
    #[error("names many orders; amend one by order_id or cl_ord_id")]
    NamesManyOrders,
    /// An amend or edit that changes nothing.
    #[error("nothing to change")]
    NothingToChange,
    /// The symbol has no instrument rules loaded.
    #[error("is not a known instrument")]
    UnknownInstrument,
    /// Set on a batch order, but it belongs to the batch.
    #[error("is set on the batch, not on its orders")]
    BatchLevelOnly,
    /// Duplicate identifier in one request.
    #[error("holds a duplicate")]
    Duplicate,
}

/// An order refused before it reached the wire: which field, which rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field} {rule}")]
pub struct OrderError {
    /// The offending field.
    pub field: Field,
    /// The rule it broke.
    pub rule: Rule,
}

impl OrderError {
    pub(crate) const fn new(field: Field, rule: Rule) -> Self {
        Self { field, rule }
    }
}

/// Why an inbound frame could not be decoded. The frame is counted and reported; the I/O loop
/// goes on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Text that is not JSON at all (e.g. `CloudFlare WebSocket proxy restarting`).
    #[error("frame is not JSON")]
    NotJson,
    /// JSON with a syntax error.
    #[error("malformed JSON")]
    Malformed,
    /// Valid JSON of a shape no Kraken message has.
    #[error("unrecognised message")]
    UnknownMessage,
    /// A required field is missing.
    #[error("missing field `{0}`")]
    MissingField(&'static str),
    /// A field has the wrong type or an unparsable value.
    #[error("invalid field `{0}`")]
    InvalidField(&'static str),
}

/// Kraken error strings, classified by prefix (Kraken appends free text after the category).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum KrakenErrorKind {
    /// `ESession:Invalid session`: Kraken no longer accepts the token (a session failure).
    InvalidSession,
    /// `Token(s) not found`: the token sent is not known (a session failure).
    TokenNotFound,
    /// `EGeneral:Permission denied`: the API key lacks a permission (query, trade or
    /// WebSocket).
    PermissionDenied,
    /// `EOrder:Rate limit exceeded`: the pair's trading rate counter is at its threshold.
    RateLimitExceeded,
    /// `EOrder:Orders limit exceeded`: too many open orders on the pair.
    OrdersLimitExceeded,
    /// `EOrder:Insufficient funds`.
    InsufficientFunds,
    /// `EOrder:Unknown order`.
    UnknownOrder,
    /// `EOrder:Invalid order`; REST `QueryOrders` also answers it for an id the account does
    /// not have.
    InvalidOrder,
    /// `EOrder:Invalid price`.
    InvalidPrice,
    /// `EOrder:Order minimum not met`: quantity below the pair's minimum.
    OrderMinimum,
    /// `EOrder:Cost minimum not met`: price × quantity below the pair's minimum cost.
    CostMinimum,
    /// `EOrder:Tick size check failed`: a price that is not a multiple of the pair's price
    /// increment.
    TickSize,
    /// `EOrder:Post only order`.
    PostOnly,
    /// `EOrder:Reduce only` (Kraken appends a detail, e.g. `:Non-PC`).
    ReduceOnly,
    /// `EGeneral:Invalid arguments` (Kraken appends the argument, e.g. `:volume`).
    InvalidArguments,
    /// An error ending `field must be a number_float` (e.g. `Cash_order_qty field must be a
    /// number_float`): a field that must be a number was not one.
    NotANumber,
    /// `EService:Unavailable`: the exchange is unavailable (a session failure).
    ServiceUnavailable,
    /// `EService:Market in cancel_only mode`: the market accepts only cancels.
    MarketCancelOnly,
    /// `EService:Market in post_only mode`: the market accepts only post-only orders.
    MarketPostOnly,
    /// `EService:Market in limit_only mode`: the market accepts only limit orders.
    MarketLimitOnly,
    /// `EService:Deadline elapsed`: the matching engine refused the request because its
    /// `deadline` had passed.
    DeadlineElapsed,
    /// `EGeneral:Internal error` (a session failure).
    InternalError,
    /// `EGeneral:Temporary lockout` (a session failure).
    TemporaryLockout,
    /// `EAPI:Invalid nonce` (REST; the nonce must strictly increase).
    InvalidNonce,
    /// `EAPI:Invalid key` (REST).
    InvalidKey,
    /// `EAPI:Invalid signature` (REST): Kraken did not accept the `API-Sign` header.
    InvalidSignature,
    /// `EAPI:Rate limit exceeded` (REST): the key's REST call counter is over its maximum.
    ApiRateLimit,
    /// `Unsupported field` (e.g. `params` on a `ping`).
    UnsupportedField,
    /// Any other error string.
    #[default]
    Other,
}

impl KrakenErrorKind {
    /// Classifies an error string from a WS ack or a REST envelope.
    pub fn classify(s: &str) -> Self {
        use KrakenErrorKind::*;
        const PREFIXES: &[(&str, KrakenErrorKind)] = &[
            ("ESession:Invalid session", InvalidSession),
            ("Token(s) not found", TokenNotFound),
            ("EGeneral:Permission denied", PermissionDenied),
            ("EOrder:Rate limit exceeded", RateLimitExceeded),
            ("EOrder:Orders limit exceeded", OrdersLimitExceeded),
            ("EOrder:Insufficient funds", InsufficientFunds),
            ("EOrder:Unknown order", UnknownOrder),
            ("EOrder:Invalid order", InvalidOrder),
            ("EOrder:Invalid price", InvalidPrice),
            ("EOrder:Order minimum not met", OrderMinimum),
            ("EOrder:Cost minimum not met", CostMinimum),
            ("EOrder:Tick size check failed", TickSize),
            ("EOrder:Post only order", PostOnly),
            ("EOrder:Reduce only", ReduceOnly),
            ("EGeneral:Invalid arguments", InvalidArguments),
            ("EService:Unavailable", ServiceUnavailable),
            ("EService:Market in cancel_only mode", MarketCancelOnly),
            ("EService:Market in post_only mode", MarketPostOnly),
            ("EService:Market in limit_only mode", MarketLimitOnly),
            ("EService:Deadline elapsed", DeadlineElapsed),
            ("EGeneral:Internal error", InternalError),
            ("EGeneral:Temporary lockout", TemporaryLockout),
            ("EAPI:Invalid nonce", InvalidNonce),
            ("EAPI:Invalid key", InvalidKey),
            ("EAPI:Invalid signature", InvalidSignature),
            ("EAPI:Rate limit exceeded", ApiRateLimit),
            ("Unsupported field", UnsupportedField),
        ];
        if s.ends_with(" field must be a number_float") {
            return NotANumber;
        }
        PREFIXES
            .iter()
            .find(|(p, _)| s.starts_with(p))
            .map_or(Other, |&(_, k)| k)
    }

    /// True for failures of the session or transport rather than of the order, which count
    /// towards the circuit breaker and justify the REST fallback.
    pub const fn is_session_failure(self) -> bool {
        matches!(
            self,
            KrakenErrorKind::InvalidSession
                | KrakenErrorKind::TokenNotFound
                | KrakenErrorKind::ServiceUnavailable
                | KrakenErrorKind::InternalError
                | KrakenErrorKind::TemporaryLockout
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_by_prefix() {
        assert_eq!(
            KrakenErrorKind::classify("EGeneral:Invalid arguments:volume"),
            KrakenErrorKind::InvalidArguments
        );
        assert_eq!(
            KrakenErrorKind::classify("Limit_price field must be a number_float"),
            KrakenErrorKind::NotANumber
        );
        assert_eq!(
            KrakenErrorKind::classify("EOrder:Reduce only:Non-PC"),
            KrakenErrorKind::ReduceOnly
        );
        assert_eq!(
            KrakenErrorKind::classify("something new"),
            KrakenErrorKind::Other
        );
    }

    #[test]
    fn order_error_names_field_and_rule() {
        let e = OrderError::new(Field::LimitPrice, Rule::RequiredFor(OrderType::Limit));
        assert_eq!(e.to_string(), "limit_price is required for limit orders");
        let e = OrderError::new(Field::OrderQty, Rule::NotMultipleOf(Decimal::new(1, 8)));
        assert_eq!(e.to_string(), "order_qty must be a multiple of 0.00000001");
    }
}
