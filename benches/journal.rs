//! The journal's append cost per record (issue 13: ≤ 100 ns, no allocation), beside the
//! copy alone (what a record costs without its CRC) in the same run.
//!
//! `cargo bench --bench journal` (and `KXJ_BENCH_DIR=/dev/shm cargo bench --bench journal`)

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
        historical: false,
    })
}

fn bench(c: &mut Criterion) {
    // `KXJ_BENCH_DIR=/dev/shm` puts the segments in memory: the append without the page
    // faults a disk-backed mapping takes on the first write to each page.
    let base = std::env::var_os("KXJ_BENCH_DIR").map_or_else(std::env::temp_dir, Into::into);
    let dir = base.join(format!("kxj-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // The figure is the append alone: each sample runs inside one segment (64 MiB, 262,143
    // records), opened and populated outside the timing; a new one is started, untimed, when
    // the next sample would not fit. (Rotation costs a file, a map and its page faults once
    // per segment; it is not in this figure.)
    let mut cfg = JournalConfig::new(&dir);
    cfg.segment_bytes = 64 << 20;
    cfg.max_segments = 2;
    let per_segment = (64u64 << 20) / RECORD_LEN as u64 - 1;
    let fresh = || {
        let _ = std::fs::remove_dir_all(&dir);
        Journal::open(cfg.clone(), "bench", &["BTC/USD"]).unwrap().0
    };
    let mut j = fresh();
    let mut used = 0u64;
    let f = fill();
    let mut g = c.benchmark_group("journal");
    // Two cases. A segment opened recently: its pages were faulted in for writing when it was
    // opened. And the worst case: a segment whose pages the kernel has written back since (its
    // writeback interval is 30 s), forced here with a sync before timing: the first write to
    // each page faults again (a page holds 16 records).
    for (name, written_back) in [
        ("append a fill", false),
        ("append a fill, pages written back", true),
    ] {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = std::time::Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    if used == per_segment {
                        j = fresh();
                        used = 0;
                    }
                    if written_back {
                        j.sync().unwrap();
                    }
                    let n = left.min(per_segment - used);
                    let t0 = std::time::Instant::now();
                    for i in 0..n {
                        j.append(std::hint::black_box(&f), i as i64, 0).unwrap();
                    }
                    total += t0.elapsed();
                    used += n;
                    left -= n;
                }
                total
            })
        });
    }
    g.bench_function("encode a fill (no copy into the map)", |b| {
        let mut out = [0u8; RECORD_LEN];
        b.iter(|| std::hint::black_box(&f).encode(1, 1, &mut out))
    });
    g.bench_function("CRC-32C of a record's 252 bytes", |b| {
        let rec = [7u8; RECORD_LEN];
        b.iter(|| crc32c::crc32c(&std::hint::black_box(&rec)[4..]))
    });
    g.finish();
    drop(j);
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, bench);
criterion_main!(benches);
