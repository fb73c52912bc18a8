//! The REST pieces a WS trading client needs: `API-Sign`, form (and JSON) bodies for the
//! trading and query endpoints, and decoding of `{"error":[],"result":{}}` envelopes.
//!
//! This is the cold path (token refresh, fallback, reconciliation): bodies are written into a
//! reused buffer, but decoded results own their strings.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use rust_decimal::Decimal;
use sha2::{Digest, Sha256, Sha512};
use simd_json::BorrowedValue;
use simd_json::prelude::*;

use crate::error::KrakenErrorKind;
use crate::order::{
    AddOrder, AmendOrder, BatchAdd, BatchCancel, ClientTag, EditOrder, OrderRef, Quantity,
};
use crate::protocol::write;
use crate::time::{RFC3339_LEN, Timestamp};
use crate::types::{OrderType, PriceType, Side, TimeInForce, TriggerReference};

/// A Kraken API secret, decoded from base64. Its `Debug` never shows it.
#[derive(Clone)]
pub struct ApiSecret(Vec<u8>);

impl ApiSecret {
    /// Decodes the base64 secret Kraken issues.
    pub fn from_base64(s: &str) -> Result<Self, RestError> {
        B64.decode(s.trim())
            .map(Self)
            .map_err(|_| RestError::BadSecret)
    }
}

impl fmt::Debug for ApiSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiSecret(<redacted>)")
    }
}

/// API key and secret. `Debug` shows neither.
#[derive(Clone)]
pub struct Credentials {
    /// The public API key (sent as `API-Key`).
    pub key: String,
    /// The secret.
    pub secret: ApiSecret,
}

impl Credentials {
    /// An API key and its secret as Kraken issues it (base64).
    ///
    /// ```
    /// use kraken_exec::Credentials;
    /// let creds = Credentials::new("my-key", "c2VjcmV0").unwrap();
    /// assert_eq!(format!("{creds:?}"), r#"Credentials { key: "<redacted>", secret: ApiSecret(<redacted>) }"#);
    /// assert!(Credentials::new("my-key", "not base64!").is_err());
    /// ```
    pub fn new(key: impl Into<String>, secret_base64: &str) -> Result<Self, RestError> {
        Ok(Self {
            key: key.into(),
            secret: ApiSecret::from_base64(secret_base64)?,
        })
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("key", &"<redacted>")
            .field("secret", &self.secret)
            .finish()
    }
}

/// `API-Sign` = base64(HMAC-SHA512(secret, path ‖ SHA256(nonce ‖ body))).
pub fn sign(path: &str, nonce: u64, body: &[u8], secret: &ApiSecret) -> String {
    let mut sha = Sha256::new();
    sha.update(itoa::Buffer::new().format(nonce).as_bytes());
    sha.update(body);
    let digest = sha.finalize();
    let mut mac = Hmac::<Sha512>::new_from_slice(&secret.0).expect("HMAC takes any key length");
    mac.update(path.as_bytes());
    mac.update(&digest);
    B64.encode(mac.finalize().into_bytes())
}

/// Errors of the REST layer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RestError {
    /// The secret is not valid base64.
    #[error("API secret is not valid base64")]
    BadSecret,
    /// Kraken answered with errors.
    #[error("kraken: {}", .0.join(", "))]
    Kraken(Vec<String>),
    /// The body is not a Kraken envelope.
    #[error("malformed response: {0}")]
    Malformed(&'static str),
    /// No answer: the connection failed, timed out or was reset.
    #[error("no answer: {0}")]
    Transport(String),
    /// Not sent: Kraken's REST call counter (as modelled) has no room for it yet.
    #[error("not sent: the REST call counter needs {wait_ms} ms")]
    Throttled {
        /// How long until it would fit.
        wait_ms: u64,
    },
}

impl RestError {
    /// Whether Kraken itself answered with an error. Only that is a rejection: a transport
    /// failure, a 5xx page or an unreadable body says nothing of whether the call executed.
    pub fn is_exchange_error(&self) -> bool {
        matches!(self, RestError::Kraken(_))
    }

    /// The first Kraken error, classified.
    pub fn kind(&self) -> Option<KrakenErrorKind> {
        match self {
            RestError::Kraken(e) => e.first().map(|s| KrakenErrorKind::classify(s)),
            _ => None,
        }
    }
}

/// Writes `application/x-www-form-urlencoded` bodies, `nonce` first.
pub(crate) struct Form<'a> {
    out: &'a mut Vec<u8>,
}

impl<'a> Form<'a> {
    /// Clears `out` and writes `nonce=<nonce>`.
    pub fn new(out: &'a mut Vec<u8>, nonce: u64) -> Self {
        out.clear();
        out.extend_from_slice(b"nonce=");
        write::int(out, nonce);
        Self { out }
    }

    fn key(&mut self, k: &str) -> &mut Vec<u8> {
        self.out.push(b'&');
        write::form_value(self.out, k.as_bytes());
        self.out.push(b'=');
        self.out
    }

    /// `&k=v`
    pub fn str(&mut self, k: &str, v: &str) -> &mut Self {
        let o = self.key(k);
        write::form_value(o, v.as_bytes());
        self
    }

    /// `&k=<decimal>`
    pub fn dec(&mut self, k: &str, v: Decimal) -> &mut Self {
        let o = self.key(k);
        write::decimal(o, v);
        self
    }

    /// `&k=<int>`
    pub fn int<I: itoa::Integer>(&mut self, k: &str, v: I) -> &mut Self {
        let o = self.key(k);
        write::int(o, v);
        self
    }

    /// `&k=<RFC 3339>`
    pub fn time(&mut self, k: &str, t: Timestamp) -> &mut Self {
        let mut b = [0u8; RFC3339_LEN];
        t.write_rfc3339(&mut b);
        let o = self.key(k);
        write::form_value(o, &b);
        self
    }
}

/// REST's rendering of a v2 price with its type: `quote` offsets as `+X`, `pct` as `X%`.
fn rest_price(v: Decimal, t: PriceType, trailing: bool) -> String {
    match t {
        PriceType::Static if trailing => format!("+{v}"),
        PriceType::Static => v.to_string(),
        PriceType::Quote if v.is_sign_negative() => v.to_string(),
        PriceType::Quote => format!("+{v}"),
        PriceType::Pct => format!("{v}%"),
    }
}

/// The order parameters common to `AddOrder` and `AddOrderBatch` elements, as `(name, value)`.
fn order_params(a: &AddOrder) -> Vec<(&'static str, String)> {
    let t = a.order_type;
    let mut p: Vec<(&'static str, String)> = vec![
        ("ordertype", t.as_str().into()),
        ("type", a.side.as_str().into()),
    ];
    let mut oflags: Vec<&str> = Vec::new();
    match a.qty {
        Quantity::Base(q) => p.push(("volume", q.to_string())),
        Quantity::Quote(q) => {
            p.push(("volume", q.to_string()));
            oflags.push("viqc");
        }
    }
    // REST puts the trigger in `price` and the limit in `price2` for triggered types.
    match (&a.triggers, a.limit_price) {
        (Some(tr), lp) => {
            p.push((
                "price",
                rest_price(tr.price, tr.price_type, t.is_trailing()),
            ));
            if let Some(lp) = lp {
                let lt = a.limit_price_type.unwrap_or(PriceType::Quote);
                let s = if t.is_trailing() {
                    rest_price(lp, lt, false)
                } else {
                    lp.to_string()
                };
                p.push(("price2", s));
            }
            if tr.reference == TriggerReference::Index {
                p.push(("trigger", "index".into()));
            }
        }
        (None, Some(lp)) => p.push(("price", lp.to_string())),
        (None, None) => {}
    }
    if a.post_only {
        oflags.push("post");
    }
    match a.fee_preference {
        Some(crate::types::FeePreference::Base) => oflags.push("fcib"),
        Some(crate::types::FeePreference::Quote) => oflags.push("fciq"),
        None => {}
    }
    if !oflags.is_empty() {
        p.push(("oflags", oflags.join(",")));
    }
    if a.time_in_force != TimeInForce::Gtc {
        p.push(("timeinforce", a.time_in_force.as_str().to_ascii_uppercase()));
    }
    if let Some(t) = a.effective_time {
        p.push(("starttm", t.secs().to_string()));
    }
    if let Some(t) = a.expire_time {
        p.push(("expiretm", t.secs().to_string()));
    }
    if a.reduce_only {
        p.push(("reduce_only", "true".into()));
    }
    if a.margin {
        // Kraken's REST margin flag is a leverage; v2's `margin` means maximum leverage.
        p.push(("leverage", "5".into()));
    }
    if let Some(s) = a.stp_type {
        p.push(("stptype", s.rest_str().into()));
    }
    if let Some(d) = a.display_qty {
        p.push(("displayvol", d.to_string()));
    }
    match a.tag {
        ClientTag::None => {}
        ClientTag::ClOrdId(c) => p.push(("cl_ord_id", c.as_str().into())),
        ClientTag::UserRef(r) => p.push(("userref", r.to_string())),
    }
    if let Some(c) = &a.conditional {
        p.push(("close[ordertype]", c.order_type.as_str().into()));
        let trailing = c.order_type.is_trailing();
        match (c.trigger_price, c.limit_price) {
            (Some(tp), lp) => {
                p.push((
                    "close[price]",
                    rest_price(
                        tp,
                        c.trigger_price_type.unwrap_or(PriceType::Static),
                        trailing,
                    ),
                ));
                if let Some(lp) = lp {
                    p.push((
                        "close[price2]",
                        rest_price(lp, c.limit_price_type.unwrap_or(PriceType::Static), false),
                    ));
                }
            }
            (None, Some(lp)) => p.push(("close[price]", lp.to_string())),
            (None, None) => {}
        }
    }
    p
}

/// `AddOrder` body. `pair` is the REST pair name (e.g. `XBTUSD`), from `AssetPairs`.
pub fn add_order_form(out: &mut Vec<u8>, nonce: u64, a: &AddOrder, pair: &str) {
    let mut f = Form::new(out, nonce);
    for (k, v) in order_params(a) {
        f.str(k, &v);
    }
    f.str("pair", pair);
    if let Some(d) = a.deadline {
        f.time("deadline", d);
    }
    if a.validate {
        f.str("validate", "true");
    }
}

/// `AddOrderBatch` body (JSON, as Kraken requires for nested arrays).
pub fn add_order_batch_json(out: &mut Vec<u8>, nonce: u64, b: &BatchAdd, pair: &str) {
    out.clear();
    let mut o = write::ObjectWriter::open(out);
    let v = o.key("nonce");
    write::json_str(v, itoa::Buffer::new().format(nonce));
    let v = o.key("orders");
    v.push(b'[');
    for (i, a) in b.orders.iter().enumerate() {
        if i > 0 {
            v.push(b',');
        }
        let mut e = write::ObjectWriter::open(v);
        for (k, val) in order_params(a) {
            e.str(k, &val);
        }
        e.close();
    }
    v.push(b']');
    o.str("pair", pair);
    if let Some(d) = b.deadline {
        o.str("deadline", &d.to_string());
    }
    if b.validate {
        o.bool("validate", true);
    }
    o.close();
}

/// `AmendOrder` body.
pub fn amend_order_form(out: &mut Vec<u8>, nonce: u64, a: &AmendOrder) {
    let mut f = Form::new(out, nonce);
    match &a.target {
        OrderRef::OrderId(id) => f.str("txid", id.as_str()),
        OrderRef::ClOrdId(c) => f.str("cl_ord_id", c.as_str()),
        // Validation refuses it (an amend names one order); written as is, Kraken refuses it.
        OrderRef::UserRef(u) => f.int("userref", *u),
    };
    if let Some(q) = a.order_qty {
        f.dec("order_qty", q);
    }
    if let Some(q) = a.display_qty {
        f.dec("display_qty", q);
    }
    if let Some(p) = a.limit_price {
        f.str(
            "limit_price",
            &rest_price(p, a.limit_price_type.unwrap_or(PriceType::Static), false),
        );
    }
    if let Some(p) = a.trigger_price {
        f.str(
            "trigger_price",
            &rest_price(p, a.trigger_price_type.unwrap_or(PriceType::Static), false),
        );
    }
    if a.post_only {
        f.str("post_only", "true");
    }
    if let Some(d) = a.deadline {
        f.time("deadline", d);
    }
}

/// `EditOrder` body.
pub fn edit_order_form(out: &mut Vec<u8>, nonce: u64, e: &EditOrder, pair: &str) {
    let mut f = Form::new(out, nonce);
    f.str("txid", e.order_id.as_str()).str("pair", pair);
    if let Some(q) = e.order_qty {
        f.dec("volume", q);
    }
    if let Some(q) = e.display_qty {
        f.dec("displayvol", q);
    }
    match (&e.triggers, e.limit_price) {
        (Some(t), lp) => {
            f.str("price", &rest_price(t.price, t.price_type, false));
            if let Some(lp) = lp {
                f.dec("price2", lp);
            }
        }
        (None, Some(lp)) => {
            f.dec("price", lp);
        }
        (None, None) => {}
    }
    let mut oflags: Vec<&str> = Vec::new();
    if e.post_only == Some(true) {
        oflags.push("post");
    }
    match e.fee_preference {
        Some(crate::types::FeePreference::Base) => oflags.push("fcib"),
        Some(crate::types::FeePreference::Quote) => oflags.push("fciq"),
        None => {}
    }
    if !oflags.is_empty() {
        f.str("oflags", &oflags.join(","));
    }
    if let Some(r) = e.order_userref {
        f.int("userref", r);
    }
    if let Some(d) = e.deadline {
        f.time("deadline", d);
    }
    if e.validate {
        f.str("validate", "true");
    }
}

/// `CancelOrder` body for one order (REST cancels one id, or every order of a userref).
pub fn cancel_order_form(out: &mut Vec<u8>, nonce: u64, r: &OrderRef) {
    let mut f = Form::new(out, nonce);
    match r {
        OrderRef::OrderId(id) => f.str("txid", id.as_str()),
        OrderRef::ClOrdId(c) => f.str("cl_ord_id", c.as_str()),
        OrderRef::UserRef(u) => f.int("txid", *u),
    };
}

/// `CancelOrderBatch` body (JSON).
pub fn cancel_order_batch_json(out: &mut Vec<u8>, nonce: u64, b: &BatchCancel) {
    out.clear();
    let mut o = write::ObjectWriter::open(out);
    let v = o.key("nonce");
    write::json_str(v, itoa::Buffer::new().format(nonce));
    let ids: Vec<String> = b
        .refs
        .iter()
        .filter_map(|r| match r {
            OrderRef::OrderId(id) => Some(id.as_str().to_string()),
            OrderRef::UserRef(u) => Some(u.to_string()),
            OrderRef::ClOrdId(_) => None,
        })
        .collect();
    let cls: Vec<&str> = b
        .refs
        .iter()
        .filter_map(|r| match r {
            OrderRef::ClOrdId(c) => Some(c.as_str()),
            _ => None,
        })
        .collect();
    for (key, list) in [
        ("orders", ids.iter().map(String::as_str).collect::<Vec<_>>()),
        ("cl_ord_ids", cls),
    ] {
        if list.is_empty() {
            continue;
        }
        let v = o.key(key);
        v.push(b'[');
        for (i, s) in list.iter().enumerate() {
            if i > 0 {
                v.push(b',');
            }
            write::json_str(v, s);
        }
        v.push(b']');
    }
    o.close();
}

/// `CancelAll` / `GetWebSocketsToken` / `Balance` body: just the nonce.
pub fn nonce_form(out: &mut Vec<u8>, nonce: u64) {
    Form::new(out, nonce);
}

/// `CancelAllOrdersAfter` body.
pub fn cancel_all_after_form(out: &mut Vec<u8>, nonce: u64, timeout_secs: u32) {
    Form::new(out, nonce).int("timeout", timeout_secs);
}

/// `OpenOrders` body, optionally filtered by client order id.
pub fn open_orders_form(out: &mut Vec<u8>, nonce: u64, cl_ord_id: Option<&str>) {
    let mut f = Form::new(out, nonce);
    f.str("trades", "true");
    if let Some(c) = cl_ord_id {
        f.str("cl_ord_id", c);
    }
}

/// `ClosedOrders` body: the orders opened after `start` (exclusive; `closetime=open`), from
/// offset `ofs`, optionally only the one with client order id `cl_ord_id`.
pub fn closed_orders_since_form(
    out: &mut Vec<u8>,
    nonce: u64,
    start: Timestamp,
    end: Option<Timestamp>,
    ofs: u64,
    cl_ord_id: Option<&str>,
) {
    let mut f = Form::new(out, nonce);
    f.int("start", start.0.div_euclid(1_000_000));
    if let Some(e) = end {
        // Whole seconds, rounded up: the window only widens.
        f.int("end", (e.0 + 999_999).div_euclid(1_000_000));
    }
    f.int("ofs", ofs).str("closetime", "open");
    if let Some(c) = cl_ord_id {
        f.str("cl_ord_id", c);
    }
}

/// `QueryOrders` body for up to 50 ids.
pub fn query_orders_form(out: &mut Vec<u8>, nonce: u64, txids: &[&str]) {
    let mut f = Form::new(out, nonce);
    f.str("trades", "true").str("txid", &txids.join(","));
}

/// `TradesHistory` body: trades after `start` (exclusive), from offset `ofs`.
pub fn trades_history_form(
    out: &mut Vec<u8>,
    nonce: u64,
    start: Timestamp,
    end: Option<Timestamp>,
    ofs: u64,
) {
    let mut f = Form::new(out, nonce);
    // Kraken documents `start` and `end` as integer seconds: rounded outwards, the window
    // only widens. A fixed `end` keeps the window's pages stable, so a read can resume at an
    // offset. `consolidate_taker=false`: one trade per fill, as the executions channel
    // reports them.
    f.int("start", start.0.div_euclid(1_000_000));
    if let Some(e) = end {
        f.int("end", (e.0 + 999_999).div_euclid(1_000_000));
    }
    f.int("ofs", ofs).str("consolidate_taker", "false");
}

/// Splits an envelope into its `result`, or the errors.
pub fn envelope<'v, 'de>(v: &'v BorrowedValue<'de>) -> Result<&'v BorrowedValue<'de>, RestError> {
    let errors = v
        .get("error")
        .ok_or(RestError::Malformed("no error field"))?;
    let errors = errors
        .as_array()
        .ok_or(RestError::Malformed("error is not an array"))?;
    if !errors.is_empty() {
        return Err(RestError::Kraken(
            errors
                .iter()
                .map(|e| e.as_str().unwrap_or("?").to_string())
                .collect(),
        ));
    }
    v.get("result").ok_or(RestError::Malformed("no result"))
}

fn parse(body: &mut [u8]) -> Result<BorrowedValue<'_>, RestError> {
    simd_json::to_borrowed_value(body).map_err(|_| RestError::Malformed("not JSON"))
}

fn str_field<'v>(v: &'v BorrowedValue<'_>, k: &'static str) -> Result<&'v str, RestError> {
    v.get(k)
        .and_then(|x| x.as_str())
        .ok_or(RestError::Malformed(k))
}

fn dec_field(v: &BorrowedValue<'_>, k: &'static str) -> Result<Decimal, RestError> {
    match v.get(k) {
        None => Ok(Decimal::ZERO),
        Some(x) => match x.as_str() {
            Some(s) => Decimal::from_str(s).map_err(|_| RestError::Malformed(k)),
            None => x
                .as_f64()
                .and_then(rust_decimal::prelude::FromPrimitive::from_f64)
                .ok_or(RestError::Malformed(k)),
        },
    }
}

/// A WebSocket token. `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct WsToken {
    /// The token.
    pub token: String,
    /// Seconds it may be used for before a private subscription holds it.
    pub expires_secs: u64,
}

impl fmt::Debug for WsToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WsToken")
            .field("token", &"<redacted>")
            .field("expires_secs", &self.expires_secs)
            .finish()
    }
}

/// `GetWebSocketsToken` response.
pub fn parse_token(body: &mut [u8]) -> Result<WsToken, RestError> {
    let v = parse(body)?;
    let r = envelope(&v)?;
    Ok(WsToken {
        token: str_field(r, "token")?.to_string(),
        expires_secs: r.get("expires").and_then(|x| x.as_u64()).unwrap_or(900),
    })
}

/// `AddOrder` response: the new order ids.
pub fn parse_add_order(body: &mut [u8]) -> Result<Vec<String>, RestError> {
    let v = parse(body)?;
    let r = envelope(&v)?;
    let txid = r.get("txid").ok_or(RestError::Malformed("txid"))?;
    Ok(match txid.as_array() {
        Some(a) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        None => txid
            .as_str()
            .map(|s| vec![s.to_string()])
            .unwrap_or_default(),
    })
}

/// `AddOrderBatch` response: per order, its id or its error.
pub fn parse_add_order_batch(body: &mut [u8]) -> Result<Vec<Result<String, String>>, RestError> {
    let v = parse(body)?;
    let r = envelope(&v)?;
    let orders = r
        .get("orders")
        .and_then(|o| o.as_array())
        .ok_or(RestError::Malformed("orders"))?;
    Ok(orders
        .iter()
        .map(
            |o| match (o.get("txid").and_then(|t| t.as_str()), o.get("error")) {
                (Some(t), _) => Ok(t.to_string()),
                (None, Some(e)) => Err(e.as_str().unwrap_or("error").to_string()),
                (None, None) => Err("no txid".to_string()),
            },
        )
        .collect())
}

/// `CancelOrder`, `CancelAll`, `CancelOrderBatch` responses: the count.
pub fn parse_count(body: &mut [u8]) -> Result<u64, RestError> {
    let v = parse(body)?;
    let r = envelope(&v)?;
    r.get("count")
        .and_then(|c| c.as_u64())
        .ok_or(RestError::Malformed("count"))
}

/// `AmendOrder` response: the amend id.
pub fn parse_amend(body: &mut [u8]) -> Result<String, RestError> {
    let v = parse(body)?;
    Ok(str_field(envelope(&v)?, "amend_id")?.to_string())
}

/// `EditOrder` response: `(new txid, original txid)`.
pub fn parse_edit(body: &mut [u8]) -> Result<(String, String), RestError> {
    let v = parse(body)?;
    let r = envelope(&v)?;
    Ok((
        str_field(r, "txid")?.to_string(),
        str_field(r, "originaltxid")?.to_string(),
    ))
}

/// `CancelAllOrdersAfter` response: `(currentTime, triggerTime)`.
pub fn parse_cancel_after(
    body: &mut [u8],
) -> Result<(Option<Timestamp>, Option<Timestamp>), RestError> {
    let v = parse(body)?;
    let r = envelope(&v)?;
    let t = |k| {
        r.get(k)
            .and_then(|x| x.as_str())
            .and_then(Timestamp::parse_rfc3339)
    };
    Ok((t("currentTime"), t("triggerTime")))
}

/// REST order status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestOrderStatus {
    /// `pending`: not yet open (the engine reads it as pending new).
    Pending,
    /// `open`: live (partially filled if `vol_exec` is above zero).
    Open,
    /// `closed`: the engine reads it as filled.
    Closed,
    /// `canceled`.
    Canceled,
    /// `expired`.
    Expired,
}

/// An order from `OpenOrders` or `QueryOrders`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestOrder {
    /// Kraken's id.
    pub txid: String,
    /// Status.
    pub status: RestOrderStatus,
    /// Client order id, if any.
    pub cl_ord_id: Option<String>,
    /// Userref (0 when none).
    pub userref: i64,
    /// REST pair name.
    pub pair: String,
    /// Side.
    pub side: Option<Side>,
    /// Type.
    pub order_type: Option<OrderType>,
    /// Order quantity.
    pub vol: Decimal,
    /// Filled quantity.
    pub vol_exec: Decimal,
    /// Filled cost.
    pub cost: Decimal,
    /// Fees paid.
    pub fee: Decimal,
    /// Average fill price.
    pub avg_price: Decimal,
    /// Limit price.
    pub limit_price: Decimal,
    /// Ids of the order's trades (when asked for).
    pub trades: Vec<String>,
    /// When it was opened (`opentm`), if given.
    pub opentm: Option<Timestamp>,
}

/// One pair of the public `AssetPairs` response: how REST names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssetPair {
    /// The key (`XXBTZUSD`): what `TradesHistory` and `ClosedOrders` report.
    pub key: String,
    /// `altname` (`XBTUSD`): what orders may name.
    pub altname: String,
    /// `wsname` (`XBT/USD`), if listed.
    pub wsname: Option<String>,
    /// Base asset key (`XXBT`).
    pub base: String,
    /// Quote asset key (`ZUSD`).
    pub quote: String,
}

/// `AssetPairs` (public) response.
pub fn parse_asset_pairs(body: &mut [u8]) -> Result<Vec<AssetPair>, RestError> {
    let v = parse(body)?;
    let obj = envelope(&v)?
        .as_object()
        .ok_or(RestError::Malformed("pairs"))?;
    let text =
        |p: &BorrowedValue<'_>, k: &str| p.get(k).and_then(|a| a.as_str()).map(str::to_string);
    Ok(obj
        .iter()
        .map(|(key, p)| AssetPair {
            key: key.to_string(),
            altname: text(p, "altname").unwrap_or_else(|| key.to_string()),
            wsname: text(p, "wsname"),
            base: text(p, "base").unwrap_or_default(),
            quote: text(p, "quote").unwrap_or_default(),
        })
        .collect())
}

/// An asset as WebSocket v2 names it, from any of Kraken's REST spellings: legacy 4-letter
/// keys drop their `X`/`Z` class prefix (`XXBT`, `ZUSD`), and the two assets whose REST code
/// differs from their v2 code are renamed (`XBT` is `BTC`, `XDG` is `DOGE`).
pub fn v2_asset(rest: &str) -> String {
    let up = rest.to_ascii_uppercase();
    let legacy = up.len() == 4
        && (up.starts_with('X') || up.starts_with('Z'))
        && matches!(
            &up[1..],
            "XBT"
                | "XDG"
                | "ETH"
                | "LTC"
                | "XRP"
                | "XLM"
                | "XMR"
                | "ZEC"
                | "ETC"
                | "MLN"
                | "REP"
                | "USD"
                | "EUR"
                | "GBP"
                | "JPY"
                | "CAD"
                | "AUD"
                | "CHF"
        );
    let code = if legacy { &up[1..] } else { &up[..] };
    match code {
        "XBT" => "BTC".into(),
        "XDG" => "DOGE".into(),
        c => c.into(),
    }
}

/// The REST pair of a v2 symbol (`BTC/USD`): the pair whose `wsname`, or else whose base and
/// quote assets, name the same assets once spelled as v2 spells them. Never derived from the
/// symbol's text alone: Kraken's REST names are not the v2 names without a slash.
pub fn rest_pair_for<'p>(symbol: &str, pairs: &'p [AssetPair]) -> Option<&'p AssetPair> {
    let (b, q) = symbol.split_once('/')?;
    let want = (v2_asset(b), v2_asset(q));
    let by_ws = pairs.iter().find(|p| {
        p.wsname
            .as_deref()
            .and_then(|w| w.split_once('/'))
            .is_some_and(|(wb, wq)| (v2_asset(wb), v2_asset(wq)) == want)
    });
    by_ws.or_else(|| {
        pairs
            .iter()
            .find(|p| (v2_asset(&p.base), v2_asset(&p.quote)) == want)
    })
}

/// A trade from `TradesHistory`. Its `txid` is the `exec_id` the executions channel reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestTrade {
    /// Trade id (`exec_id`).
    pub txid: String,
    /// The order it filled.
    pub order_txid: String,
    /// REST pair name.
    pub pair: String,
    /// Exchange time.
    pub time: Timestamp,
    /// Side.
    pub side: Option<Side>,
    /// Price.
    pub price: Decimal,
    /// Quantity.
    pub vol: Decimal,
    /// `price * vol`.
    pub cost: Decimal,
    /// Fee, in the quote currency.
    pub fee: Decimal,
    /// Numeric trade id, when given.
    pub trade_id: Option<u64>,
    /// Maker (`true`) or taker.
    pub maker: Option<bool>,
}

/// `TradesHistory` response (`{"trades":{txid:trade},"count":n}`): the page's trades, newest
/// first, and the total count.
pub fn parse_trades_history(body: &mut [u8]) -> Result<(Vec<RestTrade>, u64), RestError> {
    let v = parse(body)?;
    let r = envelope(&v)?;
    let count = r.get("count").and_then(|c| c.as_u64()).unwrap_or(0);
    let obj = r
        .get("trades")
        .and_then(|t| t.as_object())
        .ok_or(RestError::Malformed("trades"))?;
    let mut out = Vec::with_capacity(obj.len());
    for (txid, t) in obj.iter() {
        let time = t
            .get("time")
            .and_then(|x| x.as_f64())
            .ok_or(RestError::Malformed("time"))?;
        out.push(RestTrade {
            txid: txid.to_string(),
            order_txid: str_field(t, "ordertxid")?.to_string(),
            pair: str_field(t, "pair")?.to_string(),
            // f64 seconds hold microseconds exactly enough for ordering and display.
            time: Timestamp((time * 1e6).round() as i64),
            side: t
                .get("type")
                .and_then(|x| x.as_str())
                .and_then(Side::from_wire),
            price: dec_field(t, "price")?,
            vol: dec_field(t, "vol")?,
            cost: dec_field(t, "cost")?,
            fee: dec_field(t, "fee")?,
            trade_id: t.get("trade_id").and_then(|x| x.as_u64()),
            maker: t.get("maker").and_then(|x| x.as_bool()),
        });
    }
    out.sort_by(|a, b| b.time.cmp(&a.time).then_with(|| a.txid.cmp(&b.txid)));
    Ok((out, count))
}

/// A `ClosedOrders` page: its orders and the total `count`.
pub fn parse_orders_page(body: &mut [u8]) -> Result<(Vec<RestOrder>, u64), RestError> {
    let v = parse(body)?;
    let r = envelope(&v)?;
    let count = r.get("count").and_then(|c| c.as_u64()).unwrap_or(0);
    Ok((orders_of(r)?, count))
}

/// `OpenOrders` (`{"open":{txid:order}}`), `ClosedOrders` (`{"closed":{txid:order},"count":n}`)
/// or `QueryOrders` (`{txid:order}`) response.
pub fn parse_orders(body: &mut [u8]) -> Result<Vec<RestOrder>, RestError> {
    let v = parse(body)?;
    orders_of(envelope(&v)?)
}

fn orders_of(r: &BorrowedValue<'_>) -> Result<Vec<RestOrder>, RestError> {
    let map = r.get("open").or_else(|| r.get("closed")).unwrap_or(r);
    let obj = map.as_object().ok_or(RestError::Malformed("orders"))?;
    let mut out = Vec::with_capacity(obj.len());
    for (txid, o) in obj.iter() {
        let status = match o.get("status").and_then(|s| s.as_str()) {
            Some("pending") => RestOrderStatus::Pending,
            Some("open") => RestOrderStatus::Open,
            Some("closed") => RestOrderStatus::Closed,
            Some("canceled") => RestOrderStatus::Canceled,
            Some("expired") => RestOrderStatus::Expired,
            _ => return Err(RestError::Malformed("status")),
        };
        let descr = o.get("descr");
        let d = |k: &str| descr.and_then(|d| d.get(k)).and_then(|x| x.as_str());
        out.push(RestOrder {
            txid: txid.to_string(),
            status,
            cl_ord_id: o
                .get("cl_ord_id")
                .and_then(|x| x.as_str())
                .map(str::to_string),
            userref: o.get("userref").and_then(|x| x.as_i64()).unwrap_or(0),
            pair: d("pair").unwrap_or("").to_string(),
            side: d("type").and_then(Side::from_wire),
            order_type: d("ordertype").and_then(OrderType::from_wire),
            vol: dec_field(o, "vol")?,
            vol_exec: dec_field(o, "vol_exec")?,
            cost: dec_field(o, "cost")?,
            fee: dec_field(o, "fee")?,
            avg_price: dec_field(o, "price")?,
            limit_price: match descr {
                Some(d) => dec_field(d, "price")?,
                None => Decimal::ZERO,
            },
            trades: o
                .get("trades")
                .and_then(|t| t.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
            opentm: o
                .get("opentm")
                .and_then(|x| x.as_f64())
                .map(|t| Timestamp((t * 1e6).round() as i64)),
        });
    }
    out.sort_by(|a, b| a.txid.cmp(&b.txid));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_sign_matches_krakens_published_vector() {
        let secret = ApiSecret::from_base64(
            "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg==",
        )
        .unwrap();
        let body =
            b"nonce=1616492376594&ordertype=limit&pair=XBTUSD&price=37500&type=buy&volume=1.25";
        assert_eq!(
            sign("/0/private/AddOrder", 1616492376594, body, &secret),
            "4/dpxb3iT4tp/ZCVEwSnEsLxx0bqyhLpdfOpc6fn7OR8+UClSV5n9E6aSS8MPtnRfp32bAb0nmbRn6H8ndwLUQ=="
        );
    }

    #[test]
    fn secrets_never_show_in_debug() {
        let c = Credentials {
            key: "my-api-key".into(),
            secret: ApiSecret::from_base64("c2VjcmV0").unwrap(),
        };
        let s = format!("{c:?}");
        assert!(
            !s.contains("my-api-key") && !s.contains("c2VjcmV0") && !s.contains("secret\""),
            "{s}"
        );
        let t = WsToken {
            token: "tok+en/x".into(),
            expires_secs: 900,
        };
        assert!(!format!("{t:?}").contains("tok+en"));
        // And they still say what they are.
        assert_eq!(
            s,
            r#"Credentials { key: "<redacted>", secret: ApiSecret(<redacted>) }"#
        );
        assert_eq!(
            format!("{t:?}"),
            r#"WsToken { token: "<redacted>", expires_secs: 900 }"#
        );
        assert_eq!(
            ApiSecret::from_base64("***").unwrap_err(),
            RestError::BadSecret
        );
    }
}
