//! The `instrument` channel: pairs and assets.

use crate::ids::InlineStr;
use crate::protocol::messages::*;
use crate::types::*;

use super::Outputs;
use super::R;
use super::tape::*;

pub(super) fn instrument<'de>(
    c: &mut Cursor<'_, 'de>,
    v: Val<'de>,
    out: &mut Outputs<'_>,
) -> R<()> {
    c.object(v, "data", |c, k, v| match k {
        "pairs" => c.array(v, "pairs", |c, e| {
            let mut p = InstrumentPair::default();
            c.object(e, "pairs", |c, k, v| {
                if is_null(&v) {
                    return Ok(());
                }
                match k {
                    "symbol" => p.symbol = c.inline(v, "symbol")?,
                    "base" => p.base = c.inline(v, "base")?,
                    "quote" => p.quote = c.inline(v, "quote")?,
                    "status" => p.status = PairStatus::from_wire(c.str(v, "status")?),
                    "price_increment" => p.price_increment = Some(c.decimal(v, "price_increment")?),
                    "qty_increment" => p.qty_increment = Some(c.decimal(v, "qty_increment")?),
                    "qty_min" => p.qty_min = Some(c.decimal(v, "qty_min")?),
                    "cost_min" => p.cost_min = Some(c.decimal(v, "cost_min")?),
                    "price_precision" => {
                        p.price_precision =
                            Some(c.u64(v, "price_precision")?.min(u32::MAX.into()) as u32)
                    }
                    "qty_precision" => {
                        p.qty_precision =
                            Some(c.u64(v, "qty_precision")?.min(u32::MAX.into()) as u32)
                    }
                    _ => c.skip(v)?,
                }
                Ok(())
            })?;
            out.pairs.push(p);
            Ok(())
        }),
        "assets" => c.array(v, "assets", |c, e| {
            let mut a = AssetInfo::default();
            c.object(e, "assets", |c, k, v| {
                if is_null(&v) {
                    return Ok(());
                }
                match k {
                    "id" => a.id = c.inline(v, "id")?,
                    "status" => a.status = InlineStr::truncating(c.str(v, "status")?),
                    "precision" => {
                        a.precision = Some(c.u64(v, "precision")?.min(u32::MAX.into()) as u32)
                    }
                    _ => c.skip(v)?,
                }
                Ok(())
            })?;
            out.assets.push(a);
            Ok(())
        }),
        _ => c.skip(v),
    })
}
