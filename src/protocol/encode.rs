//! Encoding of WS v2 requests into a caller-owned, reused buffer.
//!
//! Each function clears `out` and writes one complete JSON message. Quantities and prices are
//! JSON numbers written from the decimal's own digits. Nothing allocates once `out` has grown to
//! the largest message (a few KiB for a full batch).

use crate::ids::SymbolTable;
use crate::order::{
    AddOrder, AmendOrder, BatchAdd, BatchCancel, CancelOrder, ClientTag, EditOrder, OrderRef,
    Quantity, Request, Triggers,
};
use crate::protocol::write::{self, ObjectWriter};
use crate::time::{RFC3339_LEN, Timestamp};

/// A channel subscription.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subscription {
    /// `executions` (private).
    Executions {
        /// Open orders in the snapshot.
        snap_orders: bool,
        /// The last 50 fills in the snapshot.
        snap_trades: bool,
        /// Every status transition (false: only new/filled/canceled/expired).
        order_status: bool,
        /// Stream the rate counter.
        ratecounter: bool,
    },
    /// `balances` (private).
    Balances {
        /// Send a snapshot first.
        snapshot: bool,
    },
    /// `instrument` (public).
    Instrument {
        /// Send a snapshot first.
        snapshot: bool,
    },
}

impl Subscription {
    /// The channel name.
    pub const fn channel(&self) -> &'static str {
        match self {
            Subscription::Executions { .. } => "executions",
            Subscription::Balances { .. } => "balances",
            Subscription::Instrument { .. } => "instrument",
        }
    }

    /// Whether the channel needs the token.
    pub const fn is_private(&self) -> bool {
        !matches!(self, Subscription::Instrument { .. })
    }
}

fn time(o: &mut ObjectWriter<'_>, k: &str, t: Option<Timestamp>) {
    if let Some(t) = t {
        let mut b = [0u8; RFC3339_LEN];
        t.write_rfc3339(&mut b);
        let v = o.key(k);
        v.push(b'"');
        v.extend_from_slice(&b);
        v.push(b'"');
    }
}

fn triggers(o: &mut ObjectWriter<'_>, t: &Triggers) {
    let mut tr = ObjectWriter::open(o.key("triggers"));
    tr.str("reference", t.reference.as_str());
    tr.dec("price", t.price);
    tr.str("price_type", t.price_type.as_str());
    tr.close();
}

fn begin<'a>(out: &'a mut Vec<u8>, method: &str) -> ObjectWriter<'a> {
    out.clear();
    out.extend_from_slice(b"{\"method\":\"");
    out.extend_from_slice(method.as_bytes());
    out.extend_from_slice(b"\",\"params\":");
    ObjectWriter::open(out)
}

fn end(out: &mut Vec<u8>, req_id: u64) {
    out.extend_from_slice(b",\"req_id\":");
    write::int(out, req_id);
    out.push(b'}');
}

/// The fields of one order, shared by `add_order` and each element of `batch_add`.
fn order_fields(o: &mut ObjectWriter<'_>, a: &AddOrder) {
    o.str("order_type", a.order_type.as_str());
    o.str("side", a.side.as_str());
    match a.qty {
        Quantity::Base(q) => o.dec("order_qty", q),
        Quantity::Quote(q) => o.dec("cash_order_qty", q),
    }
    o.opt_dec("limit_price", a.limit_price);
    if let Some(t) = a.limit_price_type {
        o.str("limit_price_type", t.as_str());
    }
    if let Some(t) = &a.triggers {
        triggers(o, t);
    }
    // GTC is the default; leaving it out keeps the hot message short.
    if a.time_in_force != crate::types::TimeInForce::Gtc {
        o.str("time_in_force", a.time_in_force.as_str());
    }
    o.flag("margin", a.margin);
    o.flag("post_only", a.post_only);
    o.flag("reduce_only", a.reduce_only);
    time(o, "effective_time", a.effective_time);
    time(o, "expire_time", a.expire_time);
    match a.tag {
        ClientTag::None => {}
        ClientTag::ClOrdId(c) => o.str("cl_ord_id", c.as_str()),
        ClientTag::UserRef(r) => o.int("order_userref", r),
    }
    if let Some(c) = &a.conditional {
        let mut co = ObjectWriter::open(o.key("conditional"));
        co.str("order_type", c.order_type.as_str());
        co.opt_dec("limit_price", c.limit_price);
        if let Some(t) = c.limit_price_type {
            co.str("limit_price_type", t.as_str());
        }
        co.opt_dec("trigger_price", c.trigger_price);
        if let Some(t) = c.trigger_price_type {
            co.str("trigger_price_type", t.as_str());
        }
        co.close();
    }
    o.opt_dec("display_qty", a.display_qty);
    if let Some(f) = a.fee_preference {
        o.str("fee_preference", f.as_str());
    }
    if let Some(s) = a.stp_type {
        o.str("stp_type", s.as_str());
    }
}

/// `add_order`.
pub fn add_order(out: &mut Vec<u8>, a: &AddOrder, symbols: &SymbolTable, token: &str, req_id: u64) {
    let mut o = begin(out, "add_order");
    order_fields(&mut o, a);
    o.str("symbol", symbols.name(a.symbol));
    time(&mut o, "deadline", a.deadline);
    o.flag("validate", a.validate);
    o.str("token", token);
    o.close();
    end(out, req_id);
}

fn target(o: &mut ObjectWriter<'_>, t: &OrderRef) {
    match t {
        OrderRef::OrderId(id) => o.str("order_id", id.as_str()),
        OrderRef::ClOrdId(c) => o.str("cl_ord_id", c.as_str()),
        // Validation refuses it (an amend names one order); written as is, Kraken refuses it.
        OrderRef::UserRef(u) => o.int("order_userref", *u),
    }
}

/// `amend_order`. Writes what it is given: check it with [`AmendOrder::validate`] first (the
/// [`Trader`](crate::engine::Trader) always does), which refuses, among others, an amend that
/// names a userref (Kraken amends one order; written anyway, Kraken refuses it).
pub fn amend_order(
    out: &mut Vec<u8>,
    a: &AmendOrder,
    symbols: &SymbolTable,
    token: &str,
    req_id: u64,
) {
    let mut o = begin(out, "amend_order");
    target(&mut o, &a.target);
    o.opt_dec("order_qty", a.order_qty);
    o.opt_dec("display_qty", a.display_qty);
    o.opt_dec("limit_price", a.limit_price);
    if let Some(t) = a.limit_price_type {
        o.str("limit_price_type", t.as_str());
    }
    o.flag("post_only", a.post_only);
    o.opt_dec("trigger_price", a.trigger_price);
    if let Some(t) = a.trigger_price_type {
        o.str("trigger_price_type", t.as_str());
    }
    time(&mut o, "deadline", a.deadline);
    if let Some(s) = a.symbol {
        o.str("symbol", symbols.name(s));
    }
    o.str("token", token);
    o.close();
    end(out, req_id);
}

/// `edit_order`.
pub fn edit_order(
    out: &mut Vec<u8>,
    e: &EditOrder,
    symbols: &SymbolTable,
    token: &str,
    req_id: u64,
) {
    let mut o = begin(out, "edit_order");
    o.str("order_id", e.order_id.as_str());
    o.str("symbol", symbols.name(e.symbol));
    o.opt_dec("order_qty", e.order_qty);
    o.opt_dec("limit_price", e.limit_price);
    o.opt_dec("display_qty", e.display_qty);
    if let Some(f) = e.fee_preference {
        o.str("fee_preference", f.as_str());
    }
    if let Some(r) = e.order_userref {
        o.int("order_userref", r);
    }
    o.flag("post_only", e.post_only == Some(true));
    o.flag("reduce_only", e.reduce_only == Some(true));
    if let Some(t) = &e.triggers {
        triggers(&mut o, t);
    }
    time(&mut o, "deadline", e.deadline);
    o.flag("validate", e.validate);
    o.str("token", token);
    o.close();
    end(out, req_id);
}

/// Writes the refs `want` selects as a JSON array under `key`, if there are any.
fn ref_array(
    o: &mut ObjectWriter<'_>,
    key: &str,
    refs: &[OrderRef],
    want: impl Fn(&OrderRef) -> bool,
    write_one: impl Fn(&OrderRef, &mut Vec<u8>),
) {
    if !refs.iter().any(&want) {
        return;
    }
    let v = o.key(key);
    v.push(b'[');
    for (i, r) in refs.iter().filter(|r| want(r)).enumerate() {
        if i > 0 {
            v.push(b',');
        }
        write_one(r, v);
    }
    v.push(b']');
}

fn write_ref(r: &OrderRef, v: &mut Vec<u8>) {
    match r {
        OrderRef::OrderId(id) => write::json_str(v, id.as_str()),
        OrderRef::ClOrdId(c) => write::json_str(v, c.as_str()),
        OrderRef::UserRef(u) => write::int(v, *u),
    }
}

/// `cancel_order`: ids, client ids and userrefs in their own arrays.
pub fn cancel_order(out: &mut Vec<u8>, c: &CancelOrder, token: &str, req_id: u64) {
    let mut o = begin(out, "cancel_order");
    let refs = &c.refs;
    ref_array(
        &mut o,
        "order_id",
        refs,
        |r| matches!(r, OrderRef::OrderId(_)),
        write_ref,
    );
    ref_array(
        &mut o,
        "cl_ord_id",
        refs,
        |r| matches!(r, OrderRef::ClOrdId(_)),
        write_ref,
    );
    ref_array(
        &mut o,
        "order_userref",
        refs,
        |r| matches!(r, OrderRef::UserRef(_)),
        write_ref,
    );
    o.str("token", token);
    o.close();
    end(out, req_id);
}

/// `cancel_all`.
pub fn cancel_all(out: &mut Vec<u8>, token: &str, req_id: u64) {
    let mut o = begin(out, "cancel_all");
    o.str("token", token);
    o.close();
    end(out, req_id);
}

/// `cancel_all_orders_after`.
pub fn cancel_all_orders_after(out: &mut Vec<u8>, timeout_secs: u32, token: &str, req_id: u64) {
    let mut o = begin(out, "cancel_all_orders_after");
    o.int("timeout", timeout_secs);
    o.str("token", token);
    o.close();
    end(out, req_id);
}

/// `batch_add`: the token, symbol, deadline and validate at params level.
pub fn batch_add(out: &mut Vec<u8>, b: &BatchAdd, symbols: &SymbolTable, token: &str, req_id: u64) {
    let mut o = begin(out, "batch_add");
    o.str("symbol", symbols.name(b.symbol));
    let v = o.key("orders");
    v.push(b'[');
    for (i, a) in b.orders.iter().enumerate() {
        if i > 0 {
            v.push(b',');
        }
        let mut oo = ObjectWriter::open(v);
        order_fields(&mut oo, a);
        oo.close();
    }
    v.push(b']');
    time(&mut o, "deadline", b.deadline);
    o.flag("validate", b.validate);
    o.str("token", token);
    o.close();
    end(out, req_id);
}

/// `batch_cancel`: order ids and userrefs (as strings) in `orders`, client ids in `cl_ord_id`.
pub fn batch_cancel(out: &mut Vec<u8>, b: &BatchCancel, token: &str, req_id: u64) {
    let mut o = begin(out, "batch_cancel");
    let not_cl = |r: &OrderRef| !matches!(r, OrderRef::ClOrdId(_));
    ref_array(&mut o, "orders", &b.refs, not_cl, |r, v| match r {
        OrderRef::UserRef(u) => {
            v.push(b'"');
            write::int(v, *u);
            v.push(b'"');
        }
        r => write_ref(r, v),
    });
    ref_array(
        &mut o,
        "cl_ord_id",
        &b.refs,
        |r| matches!(r, OrderRef::ClOrdId(_)),
        write_ref,
    );
    o.str("token", token);
    o.close();
    end(out, req_id);
}

/// Any trading request.
pub fn request(out: &mut Vec<u8>, r: Request<'_>, symbols: &SymbolTable, token: &str, req_id: u64) {
    match r {
        Request::Add(a) => add_order(out, a, symbols, token, req_id),
        Request::Amend(a) => amend_order(out, a, symbols, token, req_id),
        Request::Edit(e) => edit_order(out, e, symbols, token, req_id),
        Request::Cancel(c) => cancel_order(out, c, token, req_id),
        Request::CancelAll => cancel_all(out, token, req_id),
        Request::CancelAllAfter(c) => cancel_all_orders_after(out, c.timeout_secs, token, req_id),
        Request::BatchAdd(b) => batch_add(out, b, symbols, token, req_id),
        Request::BatchCancel(b) => batch_cancel(out, b, token, req_id),
    }
}

fn subscription(
    out: &mut Vec<u8>,
    method: &str,
    s: &Subscription,
    token: Option<&str>,
    req_id: u64,
) {
    let mut o = begin(out, method);
    o.str("channel", s.channel());
    if method == "subscribe" {
        match *s {
            Subscription::Executions {
                snap_orders,
                snap_trades,
                order_status,
                ratecounter,
            } => {
                o.bool("snap_orders", snap_orders);
                o.bool("snap_trades", snap_trades);
                o.bool("order_status", order_status);
                o.flag("ratecounter", ratecounter);
            }
            Subscription::Balances { snapshot } | Subscription::Instrument { snapshot } => {
                o.bool("snapshot", snapshot);
            }
        }
    }
    if let (true, Some(t)) = (s.is_private(), token) {
        o.str("token", t);
    }
    o.close();
    end(out, req_id);
}

/// `subscribe`; `token` is required for private channels.
pub fn subscribe(out: &mut Vec<u8>, s: &Subscription, token: Option<&str>, req_id: u64) {
    subscription(out, "subscribe", s, token, req_id);
}

/// `unsubscribe`.
pub fn unsubscribe(out: &mut Vec<u8>, s: &Subscription, token: Option<&str>, req_id: u64) {
    subscription(out, "unsubscribe", s, token, req_id);
}

/// A public market-data channel of one pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MarketChannel {
    /// `book` at this depth (10, 25, 100, 500 or 1000).
    Book {
        /// Levels a side.
        depth: u16,
    },
    /// `trade` (the public tape).
    Trade,
    /// `ticker` (level 1, on every trade).
    Ticker,
}

impl MarketChannel {
    /// The channel name.
    pub const fn name(&self) -> &'static str {
        match self {
            MarketChannel::Book { .. } => "book",
            MarketChannel::Trade => "trade",
            MarketChannel::Ticker => "ticker",
        }
    }
}

/// `subscribe` (or `unsubscribe`) to a public channel of one pair, with a snapshot.
pub fn market_subscription(
    out: &mut Vec<u8>,
    subscribe: bool,
    channel: MarketChannel,
    symbol: &str,
    req_id: u64,
) {
    let mut o = begin(
        out,
        if subscribe {
            "subscribe"
        } else {
            "unsubscribe"
        },
    );
    o.str("channel", channel.name());
    {
        let v = o.key("symbol");
        v.push(b'[');
        write::json_str(v, symbol);
        v.push(b']');
    }
    if let MarketChannel::Book { depth } = channel {
        o.int("depth", depth);
    }
    if subscribe {
        o.bool("snapshot", true);
    }
    o.close();
    end(out, req_id);
}

/// Application-level `ping` (no params: Kraken rejects them).
pub fn ping(out: &mut Vec<u8>, req_id: u64) {
    out.clear();
    out.extend_from_slice(b"{\"method\":\"ping\",\"req_id\":");
    write::int(out, req_id);
    out.push(b'}');
}
