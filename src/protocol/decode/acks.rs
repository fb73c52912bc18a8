//! Acknowledgements of requests: the `result` of each method.

use simd_json::Node;

use crate::error::DecodeError;
use crate::ids::{ClOrdId, SymbolId, SymbolTable};
use crate::protocol::messages::*;
use crate::time::Timestamp;

use super::Outputs;
use super::R;
use super::tape::*;

/// Counts a `warnings` array (advisory texts are not kept) and skips it.
pub(super) fn add_warnings<'de>(c: &mut Cursor<'_, 'de>, v: Val<'de>, warnings: &mut u8) -> R<()> {
    if let Node::Array { len, .. } = v.node {
        *warnings = warnings.saturating_add(len.min(255) as u8);
    }
    c.skip(v)
}

pub(super) fn order_ack<'de>(
    c: &mut Cursor<'_, 'de>,
    v: Val<'de>,
    warnings: &mut u8,
) -> R<BatchItem> {
    let mut item = BatchItem::default();
    c.object(v, "result", |c, k, v| {
        match k {
            "order_id" => item.order_id = c.inline_id(v, "order_id")?,
            "cl_ord_id" => {
                item.cl_ord_id = Some(
                    ClOrdId::from_wire(c.str(v, "cl_ord_id")?)
                        .ok_or(DecodeError::InvalidField("cl_ord_id"))?,
                )
            }
            "order_userref" => item.order_userref = Some(c.i64(v, "order_userref")?),
            "error" => item.error = Some(Text::truncating(c.str(v, "error")?)),
            "warnings" => add_warnings(c, v, warnings)?,
            _ => c.skip(v)?,
        }
        Ok(())
    })?;
    Ok(item)
}

pub(super) fn ack_result<'de>(
    c: &mut Cursor<'_, 'de>,
    v: Val<'de>,
    method: Method,
    symbols: &SymbolTable,
    out: &mut Outputs<'_>,
    warnings: &mut u8,
) -> R<AckResult> {
    match method {
        Method::BatchAdd => {
            out.batch.clear();
            if let Node::Array { .. } = v.node {
                c.array(v, "result", |c, e| {
                    let item = order_ack(c, e, warnings)?;
                    out.batch.push(item);
                    Ok(())
                })?;
            } else {
                // Seen only in a synthetic fixture: {"orders":[...]}. Accepted all the same.
                c.object(v, "result", |c, k, v| {
                    if k == "orders" {
                        c.array(v, "orders", |c, e| {
                            let item = order_ack(c, e, warnings)?;
                            out.batch.push(item);
                            Ok(())
                        })
                    } else {
                        c.skip(v)
                    }
                })?;
            }
            Ok(AckResult::Batch {
                len: out.batch.len(),
            })
        }
        Method::AddOrder | Method::CancelOrder => {
            let i = order_ack(c, v, warnings)?;
            Ok(AckResult::Order {
                order_id: i.order_id,
                cl_ord_id: i.cl_ord_id,
                order_userref: i.order_userref,
            })
        }
        Method::AmendOrder => {
            let (mut amend_id, mut order_id, mut cl_ord_id) = (None, None, None);
            c.object(v, "result", |c, k, v| {
                match k {
                    "amend_id" => amend_id = Some(c.inline(v, "amend_id")?),
                    "order_id" => order_id = c.inline_id(v, "order_id")?,
                    "cl_ord_id" => {
                        cl_ord_id = ClOrdId::from_wire(c.str(v, "cl_ord_id")?);
                    }
                    "warnings" => add_warnings(c, v, warnings)?,
                    _ => c.skip(v)?,
                }
                Ok(())
            })?;
            Ok(AckResult::Amend {
                amend_id,
                order_id,
                cl_ord_id,
            })
        }
        Method::EditOrder => {
            let (mut order_id, mut original_order_id) = (None, None);
            c.object(v, "result", |c, k, v| {
                match k {
                    "order_id" => order_id = c.inline_id(v, "order_id")?,
                    "original_order_id" => {
                        original_order_id = Some(c.inline(v, "original_order_id")?)
                    }
                    _ => c.skip(v)?,
                }
                Ok(())
            })?;
            Ok(AckResult::Edit {
                order_id,
                original_order_id,
            })
        }
        Method::CancelAll | Method::BatchCancel => {
            let mut count = 0;
            c.object(v, "result", |c, k, v| {
                match k {
                    "count" => count = c.u64(v, "count")?,
                    _ => c.skip(v)?,
                }
                Ok(())
            })?;
            Ok(AckResult::Count(count))
        }
        Method::CancelAllOrdersAfter => {
            let (mut current_time, mut trigger_time) = (None, None);
            c.object(v, "result", |c, k, v| {
                match k {
                    // "0" or another non-time value when disarmed: not an error.
                    "currentTime" => {
                        current_time = Timestamp::parse_rfc3339(c.str(v, "time").unwrap_or(""))
                    }
                    "triggerTime" => {
                        trigger_time = Timestamp::parse_rfc3339(c.str(v, "time").unwrap_or(""))
                    }
                    _ => {}
                }
                c.skip(v)
            })?;
            Ok(AckResult::CancelAfter {
                current_time,
                trigger_time,
            })
        }
        Method::Subscribe | Method::Unsubscribe => {
            let (mut channel, mut maxratecount, mut symbol) = (Channel::Other, None, None);
            c.object(v, "result", |c, k, v| {
                match k {
                    "channel" => channel = Channel::from_wire(c.str(v, "channel")?),
                    "maxratecount" => {
                        maxratecount = Some(
                            u32::try_from(c.u64(v, "maxratecount")?)
                                .map_err(|_| DecodeError::InvalidField("maxratecount"))?,
                        )
                    }
                    "symbol" => {
                        symbol = Some(
                            symbols
                                .get(c.str(v, "symbol")?)
                                .unwrap_or(SymbolId::UNKNOWN),
                        )
                    }
                    "warnings" => add_warnings(c, v, warnings)?,
                    _ => c.skip(v)?,
                }
                Ok(())
            })?;
            Ok(AckResult::Subscription {
                channel,
                maxratecount,
                symbol,
            })
        }
        Method::Pong | Method::Other => {
            c.skip(v)?;
            Ok(AckResult::None)
        }
    }
}
