//! The `executions` and `balances` channels: one report or balance per entry.

use crate::error::DecodeError;
use crate::ids::{ClOrdId, InlineStr, SymbolId, SymbolTable};
use crate::protocol::messages::*;
use crate::types::*;

use super::R;
use super::tape::*;

pub(super) fn execution<'de>(
    c: &mut Cursor<'_, 'de>,
    v: Val<'de>,
    symbols: &SymbolTable,
    r: &mut ExecutionReport,
) -> R<()> {
    let mut has_id = false;
    let mut has_type = false;
    let mut unknown = Unknowns::default();
    let u = &mut unknown;
    c.object(v, "data", |c, k, v| {
        if is_null(&v) {
            return Ok(());
        }
        match k {
            "order_id" => {
                r.order_id = c.inline(v, "order_id")?;
                has_id = true;
            }
            "exec_type" => {
                r.exec_type = c.lenient(v, "exec_type", ExecType::from_wire, u)?;
                has_type = true;
            }
            "order_status" => {
                r.order_status = c.lenient(v, "order_status", WireOrderStatus::from_wire, u)?
            }
            "timestamp" => r.timestamp = c.lenient_time(v, "timestamp", u)?,
            "symbol" => {
                r.symbol = Some(
                    symbols
                        .get(c.str(v, "symbol")?)
                        .unwrap_or(SymbolId::UNKNOWN),
                )
            }
            "side" => r.side = c.lenient(v, "side", Side::from_wire, u)?,
            "order_type" => r.order_type = c.lenient(v, "order_type", OrderType::from_wire, u)?,
            "order_qty" => r.order_qty = Some(c.decimal(v, "order_qty")?),
            "cash_order_qty" => r.cash_order_qty = Some(c.decimal(v, "cash_order_qty")?),
            "display_qty" => r.display_qty = Some(c.decimal(v, "display_qty")?),
            "limit_price" => r.limit_price = Some(c.decimal(v, "limit_price")?),
            "limit_price_type" => {
                r.limit_price_type = c.lenient(v, "limit_price_type", PriceType::from_wire, u)?
            }
            "time_in_force" => {
                r.time_in_force = c.lenient(v, "time_in_force", TimeInForce::from_wire, u)?
            }
            "post_only" => r.post_only = Some(c.bool(v, "post_only")?),
            "reduce_only" => r.reduce_only = Some(c.bool(v, "reduce_only")?),
            "margin" => r.margin = Some(c.bool(v, "margin")?),
            "cl_ord_id" => {
                r.cl_ord_id = Some(
                    ClOrdId::from_wire(c.str(v, "cl_ord_id")?)
                        .ok_or(DecodeError::InvalidField("cl_ord_id"))?,
                )
            }
            "order_userref" => r.order_userref = Some(c.i64(v, "order_userref")?),
            "effective_time" => r.effective_time = c.lenient_time(v, "effective_time", u)?,
            "expire_time" => r.expire_time = c.lenient_time(v, "expire_time", u)?,
            "cum_qty" => r.cum_qty = Some(c.decimal(v, "cum_qty")?),
            "cum_cost" => r.cum_cost = Some(c.decimal(v, "cum_cost")?),
            "avg_price" => r.avg_price = Some(c.decimal(v, "avg_price")?),
            "fee_usd_equiv" => r.fee_usd_equiv = Some(c.decimal(v, "fee_usd_equiv")?),
            "exec_id" => r.exec_id = Some(c.inline(v, "exec_id")?),
            "trade_id" => r.trade_id = Some(c.u64(v, "trade_id")?),
            "last_qty" => r.last_qty = Some(c.decimal(v, "last_qty")?),
            "last_price" => r.last_price = Some(c.decimal(v, "last_price")?),
            "cost" => r.cost = Some(c.decimal(v, "cost")?),
            "liquidity_ind" => {
                r.liquidity = c.lenient(v, "liquidity_ind", Liquidity::from_wire, u)?
            }
            "fees" => c.array(v, "fees", |c, e| {
                let mut fee = Fee::default();
                c.object(e, "fees", |c, k, v| {
                    match k {
                        "asset" => fee.asset = c.inline(v, "fees.asset")?,
                        "qty" => fee.qty = c.decimal(v, "fees.qty")?,
                        _ => c.skip(v)?,
                    }
                    Ok(())
                })?;
                if let Some(slot) = r.fees.get_mut(usize::from(r.fee_count)) {
                    *slot = fee;
                    r.fee_count += 1;
                }
                Ok(())
            })?,
            "reason" => r.reason = Some(Text::truncating(c.str(v, "reason")?)),
            // Deprecated duplicate of `reason`, used only when `reason` is absent.
            "cancel_reason" => {
                let s = c.str(v, "cancel_reason")?;
                r.reason.get_or_insert(Text::truncating(s));
            }
            "amended" => r.amended = Some(c.bool(v, "amended")?),
            "triggers" => {
                let mut t = TriggerInfo::default();
                c.object(v, "triggers", |c, k, v| {
                    if is_null(&v) {
                        return Ok(());
                    }
                    match k {
                        "reference" => {
                            t.reference =
                                c.lenient(v, "triggers.reference", TriggerReference::from_wire, u)?
                        }
                        "price" => t.price = Some(c.decimal(v, "triggers.price")?),
                        "price_type" => {
                            t.price_type =
                                c.lenient(v, "triggers.price_type", PriceType::from_wire, u)?
                        }
                        "status" => {
                            t.status =
                                c.lenient(v, "triggers.status", TriggerStatus::from_wire, u)?
                        }
                        "last_price" => t.last_price = Some(c.decimal(v, "triggers.last_price")?),
                        _ => c.skip(v)?,
                    }
                    Ok(())
                })?;
                r.triggers = Some(t);
            }
            _ => c.skip(v)?,
        }
        Ok(())
    })?;
    if !has_id {
        return Err(DecodeError::MissingField("order_id"));
    }
    if !has_type {
        return Err(DecodeError::MissingField("exec_type"));
    }
    r.unknown = unknown.first;
    r.unknown_count = unknown.count;
    Ok(())
}

pub(super) fn balance<'de>(c: &mut Cursor<'_, 'de>, v: Val<'de>) -> R<BalanceEntry> {
    let mut b = BalanceEntry::default();
    c.object(v, "data", |c, k, v| {
        if is_null(&v) {
            return Ok(());
        }
        match k {
            "asset" => b.asset = c.inline(v, "asset")?,
            "balance" => b.balance = Some(c.decimal(v, "balance")?),
            "amount" => b.amount = Some(c.decimal(v, "amount")?),
            "fee" => b.fee = Some(c.decimal(v, "fee")?),
            "ledger_id" => b.ledger_id = Some(c.inline(v, "ledger_id")?),
            "ref_id" => b.ref_id = Some(c.inline(v, "ref_id")?),
            "type" => b.kind = Some(InlineStr::truncating(c.str(v, "type")?)),
            "timestamp" => {
                b.timestamp = c.lenient_time(v, "timestamp", &mut Unknowns::default())?
            }
            "wallet_type" => b.wallet_type = Some(InlineStr::truncating(c.str(v, "wallet_type")?)),
            "wallet_id" => b.wallet_id = Some(InlineStr::truncating(c.str(v, "wallet_id")?)),
            "wallets" => c.array(v, "wallets", |c, e| {
                let mut w = WalletBalance::default();
                c.object(e, "wallets", |c, k, v| {
                    match k {
                        "type" => w.kind = InlineStr::truncating(c.str(v, "wallets.type")?),
                        "id" => w.id = InlineStr::truncating(c.str(v, "wallets.id")?),
                        "balance" => w.balance = c.decimal(v, "wallets.balance")?,
                        _ => c.skip(v)?,
                    }
                    Ok(())
                })?;
                if let Some(slot) = b.wallets.get_mut(usize::from(b.wallet_count)) {
                    *slot = w;
                    b.wallet_count += 1;
                }
                Ok(())
            })?,
            _ => c.skip(v)?,
        }
        Ok(())
    })?;
    Ok(b)
}
