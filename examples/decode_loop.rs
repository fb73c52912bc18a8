//! Decodes the documented `trade` update in a loop: a target for profilers
//! (`valgrind --tool=callgrind target/release/examples/decode_loop 100000`).

use kraken_exec::SymbolTable;
use kraken_exec::protocol::Decoder;

const TRADE: &str = r#"{"channel":"executions","type":"update","data":[{"order_id":"OK4GJX-KSTLS-7DZZO5","order_userref":3,"exec_id":"TGBB7L-HT5LX-J3BZ4A","exec_type":"trade","trade_id":62887576,"symbol":"BTC/USD","side":"sell","last_qty":0.005,"last_price":26599.9,"liquidity_ind":"t","cost":132.9995,"order_type":"limit","timestamp":"2023-09-22T10:33:05.709993Z","order_status":"partially_filled","cum_qty":0.005,"cum_cost":132.9995,"avg_price":26599.9,"fee_usd_equiv":0.3458,"fees":[{"asset":"USD","qty":0.3458}]}],"sequence":10}"#;

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let syms = SymbolTable::from_names(["BTC/USD", "ETH/USD"]);
    let mut d = Decoder::new();
    let mut acc = 0usize;
    let t = std::time::Instant::now();
    for _ in 0..n {
        d.decode(std::hint::black_box(TRADE.as_bytes()), &syms)
            .unwrap();
        acc += d.executions().len();
    }
    let el = t.elapsed();
    println!(
        "{n} decodes, {:.1} ns each ({acc})",
        el.as_nanos() as f64 / n as f64
    );
}
