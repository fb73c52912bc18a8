//! The journal's append cost per record (issue 13: ≤ 100 ns, no allocation), beside the
//! copy alone (what a record costs without its CRC) in the same run.
//!
//! `cargo bench --bench journal`

use criterion::{Criterion, criterion_group, criterion_main};
use kraken_exec::journal::{Entry, FillEntry, Journal, JournalConfig, RECORD_LEN};
use kraken_exec::{AssetCode, ClOrdId, ExecId, OrderId, Side, SymbolId, Timestamp};
use rust_decimal_macros::dec;

fn fill() -> Entry {
    Entry::Fill(FillEntry {
        exec_id: ExecId::new("TZX2WP-XSEOP-FJP7PL").unwrap(),
        order_id: OrderId::new("OAVY7T-MV5VK-KHDF5X").unwrap(),
        cl_ord_id: Some(ClOrdId::new("mm-bid-000001").unwrap()),
        symbol: SymbolId(0),
        side: Some(Side::Buy),
        qty: dec!(0.5),
        price: dec!(64999.9),
        fee: Some(dec!(0.0845)),
        fee_asset: AssetCode::new("USD").unwrap(),
        liquidity: None,
        timestamp: Some(Timestamp(1_735_689_600_123_456)),
    })
}

fn bench(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("kxj-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // Segments of 256 MiB: a million records between rotations, so the figure is the append.
    let cfg = JournalConfig {
        segment_bytes: 256 << 20,
        max_segments: 2,
        ..JournalConfig::new(&dir)
    };
    let (mut j, _) = Journal::open(cfg, "bench").unwrap();
    let f = fill();
    let mut g = c.benchmark_group("journal");
    g.bench_function("append a fill", |b| {
        let mut t = 0i64;
        b.iter(|| {
            t += 1;
            j.append(std::hint::black_box(&f), t, 0).unwrap()
        })
    });
    g.bench_function("encode a fill (no copy into the map)", |b| {
        let mut out = [0u8; RECORD_LEN];
        b.iter(|| std::hint::black_box(&f).encode(1, 1, &mut out))
    });
    g.finish();
    drop(j);
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, bench);
criterion_main!(benches);
