//! Trading requests: what a strategy asks for, before it is encoded. All are `Copy` values
//! with no heap pointers, so they can cross the command ring.
//!
//! Constructors make the common invalid combinations unrepresentable (a `cl_ord_id` and a
//! userref at once, a limit order without a price, a quote quantity on a sell); the
//! [`validate`](crate::validate) step checks the rest against the shape rules and the
//! instrument's rules.

use arrayvec::ArrayVec;
use rust_decimal::Decimal;

use crate::ids::{ClOrdId, OrderId, SymbolId};
use crate::time::Timestamp;
use crate::types::{
    FeePreference, OrderType, PriceType, Side, StpType, TimeInForce, TriggerReference,
};

/// Trigger parameters of stop, take-profit and trailing orders.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Triggers {
    /// Which price triggers the order (default `last`).
    pub reference: TriggerReference,
    /// The trigger price, or for trailing types the (positive) reversion offset.
    pub price: Decimal,
    /// How `price` is expressed (default `static`).
    pub price_type: PriceType,
}

impl Triggers {
    /// A static trigger price on the last trade price.
    pub fn at(price: Decimal) -> Self {
        Self {
            reference: TriggerReference::Last,
            price,
            price_type: PriceType::Static,
        }
    }

    /// A trigger `offset` away, expressed as `price_type` (`pct` or `quote`), e.g. trailing stops.
    pub fn offset(offset: Decimal, price_type: PriceType) -> Self {
        Self {
            reference: TriggerReference::Last,
            price: offset,
            price_type,
        }
    }

    /// The same trigger on the index price.
    pub fn on_index(mut self) -> Self {
        self.reference = TriggerReference::Index;
        self
    }
}

/// An OTO close order attached to an add (`conditional`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conditional {
    /// One of limit, stop-loss(-limit), take-profit(-limit), trailing-stop(-limit).
    pub order_type: OrderType,
    /// For types with a limit price.
    pub limit_price: Option<Decimal>,
    /// How `limit_price` is expressed (trailing-stop-limit).
    pub limit_price_type: Option<PriceType>,
    /// For triggered types.
    pub trigger_price: Option<Decimal>,
    /// How `trigger_price` is expressed.
    pub trigger_price_type: Option<PriceType>,
}

/// How an order is tagged by the client: by `cl_ord_id` or by `order_userref`, never both.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ClientTag {
    /// Untagged.
    #[default]
    None,
    /// A unique client order id.
    ClOrdId(ClOrdId),
    /// A non-unique integer tag.
    UserRef(i32),
}

impl ClientTag {
    /// The `cl_ord_id`, if that is the tag.
    pub fn cl_ord_id(&self) -> Option<ClOrdId> {
        match self {
            ClientTag::ClOrdId(c) => Some(*c),
            _ => None,
        }
    }
}

/// Quantity of an add: in the base asset (`order_qty`) or, for market buys, in the quote asset
/// (`cash_order_qty`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quantity {
    /// `order_qty`, base units.
    Base(Decimal),
    /// `cash_order_qty`, quote units (market buys without margin only).
    Quote(Decimal),
}

/// `add_order`: every parameter Kraken v2 documents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "a request does nothing until it is handed to the Trader"]
#[non_exhaustive]
pub struct AddOrder {
    /// Interned symbol.
    pub symbol: SymbolId,
    /// Buy or sell.
    pub side: Side,
    /// One of the ten types.
    pub order_type: OrderType,
    /// Base or quote quantity.
    pub qty: Quantity,
    /// Limit price (or, for trailing-stop-limit, the limit offset).
    pub limit_price: Option<Decimal>,
    /// trailing-stop-limit only.
    pub limit_price_type: Option<PriceType>,
    /// Triggered types only.
    pub triggers: Option<Triggers>,
    /// Default GTC.
    pub time_in_force: TimeInForce,
    /// Reject if it would take liquidity.
    pub post_only: bool,
    /// Only reduce a position.
    pub reduce_only: bool,
    /// Margin order.
    pub margin: bool,
    /// Scheduled start.
    pub effective_time: Option<Timestamp>,
    /// GTD expiry.
    pub expire_time: Option<Timestamp>,
    /// No matching after this time.
    pub deadline: Option<Timestamp>,
    /// `cl_ord_id` or `order_userref`.
    pub tag: ClientTag,
    /// OTO close order.
    pub conditional: Option<Conditional>,
    /// Iceberg visible quantity.
    pub display_qty: Option<Decimal>,
    /// Fee currency.
    pub fee_preference: Option<FeePreference>,
    /// Self-trade prevention.
    pub stp_type: Option<StpType>,
    /// Validate only, do not place.
    pub validate: bool,
}

impl AddOrder {
    fn base(symbol: SymbolId, side: Side, order_type: OrderType, qty: Quantity) -> Self {
        Self {
            symbol,
            side,
            order_type,
            qty,
            limit_price: None,
            limit_price_type: None,
            triggers: None,
            time_in_force: TimeInForce::Gtc,
            post_only: false,
            reduce_only: false,
            margin: false,
            effective_time: None,
            expire_time: None,
            deadline: None,
            tag: ClientTag::None,
            conditional: None,
            display_qty: None,
            fee_preference: None,
            stp_type: None,
            validate: false,
        }
    }

    /// A limit order.
    pub fn limit(symbol: SymbolId, side: Side, qty: Decimal, price: Decimal) -> Self {
        let mut o = Self::base(symbol, side, OrderType::Limit, Quantity::Base(qty));
        o.limit_price = Some(price);
        o
    }

    /// A market order for `qty` base units.
    pub fn market(symbol: SymbolId, side: Side, qty: Decimal) -> Self {
        Self::base(symbol, side, OrderType::Market, Quantity::Base(qty))
    }

    /// A market buy spending `quote_qty` of the quote currency (`cash_order_qty`).
    pub fn market_buy_quote(symbol: SymbolId, quote_qty: Decimal) -> Self {
        Self::base(
            symbol,
            Side::Buy,
            OrderType::Market,
            Quantity::Quote(quote_qty),
        )
    }

    /// An iceberg showing `display_qty` at a time.
    pub fn iceberg(
        symbol: SymbolId,
        side: Side,
        qty: Decimal,
        price: Decimal,
        display_qty: Decimal,
    ) -> Self {
        let mut o = Self::base(symbol, side, OrderType::Iceberg, Quantity::Base(qty));
        o.limit_price = Some(price);
        o.display_qty = Some(display_qty);
        o
    }

    /// A triggered order without a limit price: stop-loss, take-profit or trailing-stop.
    pub fn triggered(
        symbol: SymbolId,
        side: Side,
        order_type: OrderType,
        qty: Decimal,
        triggers: Triggers,
    ) -> Self {
        let mut o = Self::base(symbol, side, order_type, Quantity::Base(qty));
        o.triggers = Some(triggers);
        o
    }

    /// A triggered order with a limit price: stop-loss-limit, take-profit-limit or
    /// trailing-stop-limit (where `limit_price` is an offset of `limit_price_type`).
    pub fn triggered_limit(
        symbol: SymbolId,
        side: Side,
        order_type: OrderType,
        qty: Decimal,
        triggers: Triggers,
        limit_price: Decimal,
    ) -> Self {
        let mut o = Self::triggered(symbol, side, order_type, qty, triggers);
        o.limit_price = Some(limit_price);
        o
    }

    /// Settles a margin position.
    pub fn settle_position(symbol: SymbolId, side: Side, qty: Decimal) -> Self {
        let mut o = Self::base(symbol, side, OrderType::SettlePosition, Quantity::Base(qty));
        o.margin = true;
        o
    }

    /// Tags the order with a client order id.
    pub fn cl_ord_id(mut self, id: ClOrdId) -> Self {
        self.tag = ClientTag::ClOrdId(id);
        self
    }

    /// Tags the order with a userref.
    pub fn userref(mut self, r: i32) -> Self {
        self.tag = ClientTag::UserRef(r);
        self
    }

    /// Post-only.
    pub fn post_only(mut self) -> Self {
        self.post_only = true;
        self
    }

    /// Reduce-only.
    pub fn reduce_only(mut self) -> Self {
        self.reduce_only = true;
        self
    }

    /// Margin.
    pub fn margin(mut self) -> Self {
        self.margin = true;
        self
    }

    /// Time in force (use [`AddOrder::good_till`] for GTD).
    pub fn time_in_force(mut self, tif: TimeInForce) -> Self {
        self.time_in_force = tif;
        self
    }

    /// GTD with its expiry.
    pub fn good_till(mut self, expire: Timestamp) -> Self {
        self.time_in_force = TimeInForce::Gtd;
        self.expire_time = Some(expire);
        self
    }

    /// Scheduled start.
    pub fn effective_at(mut self, t: Timestamp) -> Self {
        self.effective_time = Some(t);
        self
    }

    /// Deadline for matching.
    pub fn deadline(mut self, t: Timestamp) -> Self {
        self.deadline = Some(t);
        self
    }

    /// Attaches an OTO close order.
    pub fn with_conditional(mut self, c: Conditional) -> Self {
        self.conditional = Some(c);
        self
    }

    /// The price type of a trailing-stop-limit's limit offset.
    pub fn limit_price_type(mut self, t: PriceType) -> Self {
        self.limit_price_type = Some(t);
        self
    }

    /// Fee currency.
    pub fn fee_preference(mut self, f: FeePreference) -> Self {
        self.fee_preference = Some(f);
        self
    }

    /// Self-trade prevention.
    pub fn stp(mut self, s: StpType) -> Self {
        self.stp_type = Some(s);
        self
    }

    /// Validate only (the exchange checks, nothing is placed).
    pub fn validate_only(mut self) -> Self {
        self.validate = true;
        self
    }

    /// Base quantity, or zero for a quote-quantity order.
    pub fn base_qty(&self) -> Decimal {
        match self.qty {
            Quantity::Base(q) => q,
            Quantity::Quote(_) => Decimal::ZERO,
        }
    }
}

/// `amend_order`: change in place, keeping the order id and queue priority where possible.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "a request does nothing until it is handed to the Trader"]
#[non_exhaustive]
pub struct AmendOrder {
    /// The order.
    pub target: OrderRef,
    /// New total quantity.
    pub order_qty: Option<Decimal>,
    /// New iceberg display quantity.
    pub display_qty: Option<Decimal>,
    /// New limit price.
    pub limit_price: Option<Decimal>,
    /// trailing-stop-limit only.
    pub limit_price_type: Option<PriceType>,
    /// Refuse a price change that would take liquidity.
    pub post_only: bool,
    /// New trigger price.
    pub trigger_price: Option<Decimal>,
    /// How `trigger_price` is expressed.
    pub trigger_price_type: Option<PriceType>,
    /// Deadline.
    pub deadline: Option<Timestamp>,
    /// Only for non-crypto pairs.
    pub symbol: Option<SymbolId>,
}

impl AmendOrder {
    /// An amend of `target` that changes nothing yet; set the fields to change.
    pub fn new(target: OrderRef) -> Self {
        Self {
            target,
            order_qty: None,
            display_qty: None,
            limit_price: None,
            limit_price_type: None,
            post_only: false,
            trigger_price: None,
            trigger_price_type: None,
            deadline: None,
            symbol: None,
        }
    }

    /// Sets the new limit price.
    pub fn price(mut self, p: Decimal) -> Self {
        self.limit_price = Some(p);
        self
    }

    /// Sets the new total quantity.
    pub fn qty(mut self, q: Decimal) -> Self {
        self.order_qty = Some(q);
        self
    }
}

/// `edit_order`: legacy cancel-and-replace; the order gets a new id and loses its priority.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "a request does nothing until it is handed to the Trader"]
#[non_exhaustive]
pub struct EditOrder {
    /// The order (edit does not accept `cl_ord_id`).
    pub order_id: OrderId,
    /// Its symbol (required, cannot change).
    pub symbol: SymbolId,
    /// New quantity.
    pub order_qty: Option<Decimal>,
    /// New limit price.
    pub limit_price: Option<Decimal>,
    /// New iceberg display quantity.
    pub display_qty: Option<Decimal>,
    /// New fee currency.
    pub fee_preference: Option<FeePreference>,
    /// Userref of the new order.
    pub order_userref: Option<i32>,
    /// Post-only for the replacement. `None`: as the order is now. Kraken does not carry
    /// flags across an edit, so the engine sends the order's current flag again; `Some(false)`
    /// drops it.
    pub post_only: Option<bool>,
    /// Reduce-only for the replacement; `None` as for `post_only`.
    pub reduce_only: Option<bool>,
    /// New triggers.
    pub triggers: Option<Triggers>,
    /// Deadline.
    pub deadline: Option<Timestamp>,
    /// Validate only.
    pub validate: bool,
}

impl EditOrder {
    /// An edit of `order_id` that changes nothing yet.
    pub fn new(order_id: OrderId, symbol: SymbolId) -> Self {
        Self {
            order_id,
            symbol,
            order_qty: None,
            limit_price: None,
            display_qty: None,
            fee_preference: None,
            order_userref: None,
            post_only: None,
            reduce_only: None,
            triggers: None,
            deadline: None,
            validate: false,
        }
    }
}

/// Which order a cancel, an amend or a lookup is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OrderRef {
    /// Kraken's order id.
    OrderId(OrderId),
    /// Our client order id.
    ClOrdId(ClOrdId),
    /// Every order with this userref (cancels only: an amend names one order, and is refused
    /// with [`Rule::NamesManyOrders`](crate::error::Rule::NamesManyOrders)).
    UserRef(i32),
}

impl OrderRef {
    /// The order id or the client order id it names (neither for a userref).
    pub fn ids(&self) -> (Option<OrderId>, Option<ClOrdId>) {
        match *self {
            OrderRef::OrderId(id) => (Some(id), None),
            OrderRef::ClOrdId(c) => (None, Some(c)),
            OrderRef::UserRef(_) => (None, None),
        }
    }
}

impl From<OrderId> for OrderRef {
    fn from(id: OrderId) -> Self {
        OrderRef::OrderId(id)
    }
}

impl From<ClOrdId> for OrderRef {
    fn from(c: ClOrdId) -> Self {
        OrderRef::ClOrdId(c)
    }
}

/// Most orders one `cancel_order` names (our limit; Kraken documents none).
pub const CANCEL_MAX: usize = 16;
/// Fewest and most orders of a `batch_add`.
pub const BATCH_ADD_RANGE: (usize, usize) = (2, 15);
/// Fewest and most orders of a `batch_cancel`.
pub const BATCH_CANCEL_RANGE: (usize, usize) = (2, 50);

/// `cancel_order` of one or more orders.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
#[must_use = "a request does nothing until it is handed to the Trader"]
pub struct CancelOrder {
    /// The orders.
    pub refs: ArrayVec<OrderRef, CANCEL_MAX>,
}

impl CancelOrder {
    /// A cancel of one order.
    pub fn one(r: OrderRef) -> Self {
        let mut refs = ArrayVec::new();
        refs.push(r);
        Self { refs }
    }
}

/// `cancel_all_orders_after`: the dead man's switch, as Kraken's wire has it (`0` disarms; see
/// [`CancelAllAfter::of`] for the typed form).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CancelAllAfter {
    /// Seconds, below 86400; 0 disarms.
    pub timeout_secs: u32,
}

impl CancelAllAfter {
    /// Arms the switch for `timeout` (whole seconds, 1 s to under a day), or disarms it
    /// (`None`). A zero, fractional or too long timeout is refused.
    pub fn of(timeout: Option<std::time::Duration>) -> Result<Self, crate::error::OrderError> {
        use crate::error::{Field, OrderError, Rule};
        let bad = |rule| OrderError {
            field: Field::Timeout,
            rule,
        };
        let timeout_secs = match timeout {
            None => 0,
            Some(d) if d.subsec_nanos() != 0 => return Err(bad(Rule::NotWholeSeconds)),
            Some(d) if d.as_secs() == 0 => return Err(bad(Rule::OutOfRange)),
            Some(d) => u32::try_from(d.as_secs()).map_err(|_| bad(Rule::OutOfRange))?,
        };
        let c = Self { timeout_secs };
        c.validate()?;
        Ok(c)
    }
}

/// `batch_add`: 2 to 15 orders on one symbol.
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use = "a request does nothing until it is handed to the Trader"]
pub struct BatchAdd {
    /// The shared symbol.
    pub symbol: SymbolId,
    /// The orders; their own `deadline` and `validate` must be unset (they are batch-level).
    pub orders: ArrayVec<AddOrder, 15>,
    /// Batch deadline.
    pub deadline: Option<Timestamp>,
    /// Validate only.
    pub validate: bool,
}

impl BatchAdd {
    /// An empty batch on `symbol`; push 2 to 15 orders on it into `orders`.
    pub fn new(symbol: SymbolId) -> Self {
        Self {
            symbol,
            orders: ArrayVec::new(),
            deadline: None,
            validate: false,
        }
    }
}

/// `batch_cancel`: 2 to 50 orders.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
#[must_use = "a request does nothing until it is handed to the Trader"]
pub struct BatchCancel {
    /// The orders.
    pub refs: ArrayVec<OrderRef, 50>,
}

/// Every trading request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request<'a> {
    /// `add_order`
    Add(&'a AddOrder),
    /// `amend_order`
    Amend(&'a AmendOrder),
    /// `edit_order`
    Edit(&'a EditOrder),
    /// `cancel_order`
    Cancel(&'a CancelOrder),
    /// `cancel_all`
    CancelAll,
    /// `cancel_all_orders_after`
    CancelAllAfter(CancelAllAfter),
    /// `batch_add`
    BatchAdd(&'a BatchAdd),
    /// `batch_cancel`
    BatchCancel(&'a BatchCancel),
}
