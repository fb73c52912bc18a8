//! kraken-async-rs as a latency peer.
//!
//! Usage: `kraken-async-rs-peer --ws-url ws://127.0.0.1:PORT/v2 --token T --n N --warmup W --out FILE`
//!
//! Connects to `--ws-url` (as the authenticated endpoint), then sends W+N `add_order`s one at a
//! time (limit buy 0.01 BTC/USD @ 30000.1, req_id = 1, 2, ...), waiting for each one's ack before
//! sending the next, and writes the last N add -> ack round trips (ns, one per line) to FILE.
//! Other messages (executions `pending_new`/`new`, heartbeats, status, frames the crate fails
//! to parse) are skipped while waiting.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use kraken_async_rs::crypto::secrets::Token;
use kraken_async_rs::response_types::{BuySell, OrderType};
use kraken_async_rs::wss::errors::WSSError;
use kraken_async_rs::wss::{AddOrderParams, KrakenWSSClient, Message, MethodMessage, WssMessage};
use rust_decimal::Decimal;
use tokio_stream::StreamExt;

struct Args {
    ws_url: String,
    token: String,
    n: usize,
    warmup: usize,
    out: String,
}

const USAGE: &str =
    "usage: kraken-async-rs-peer --ws-url URL --token T --n N --warmup W --out FILE";

fn parse_args() -> Result<Args, String> {
    let (mut ws_url, mut token, mut n, mut warmup, mut out) = (None, None, None, None, None);
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--ws-url" => ws_url = Some(val()?),
            "--token" => token = Some(val()?),
            "--n" => n = Some(val()?.parse::<usize>().map_err(|e| format!("--n: {e}"))?),
            "--warmup" => {
                warmup = Some(val()?.parse::<usize>().map_err(|e| format!("--warmup: {e}"))?)
            }
            "--out" => out = Some(val()?),
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    let miss = |f: &str| format!("missing {f}\n{USAGE}");
    Ok(Args {
        ws_url: ws_url.ok_or_else(|| miss("--ws-url"))?,
        token: token.ok_or_else(|| miss("--token"))?,
        n: n.ok_or_else(|| miss("--n"))?,
        warmup: warmup.unwrap_or(0),
        out: out.ok_or_else(|| miss("--out"))?,
    })
}

fn add_order(token: &Token, req_id: i64) -> Message<AddOrderParams> {
    Message {
        method: "add_order".into(),
        params: AddOrderParams {
            order_type: OrderType::Limit,
            side: BuySell::Buy,
            symbol: "BTC/USD".into(),
            limit_price: Some(Decimal::new(300_001, 1)), // 30000.1
            limit_price_type: None,
            triggers: None,
            time_in_force: None,
            order_quantity: Decimal::new(1, 2), // 0.01
            margin: None,
            post_only: None,
            reduce_only: None,
            expire_time: None,
            deadline: None,
            effective_time: None,
            client_order_id: None,
            order_user_ref: None,
            conditional: None,
            display_quantity: None,
            fee_preference: None,
            no_market_price_protection: None,
            stp_type: None,
            cash_order_quantity: None,
            validate: None,
            sender_sub_id: None,
            token: token.clone(),
        },
        req_id,
    }
}

async fn run(a: Args) -> Result<(), String> {
    let mut client = KrakenWSSClient::new_with_urls(&a.ws_url, &a.ws_url);
    let mut stream = client
        .connect_auth::<WssMessage>()
        .await
        .map_err(|e| format!("connect {}: {e:?}", a.ws_url))?;
    let token = Token::new(a.token);
    let total = a.warmup + a.n;
    let mut rtts = Vec::with_capacity(total);
    let mut unparsed = 0u64; // frames the crate's WssMessage could not deserialize
    for i in 0..total {
        let req_id = i as i64 + 1;
        // Built before the clock starts: the crate's API has us build the typed message and it
        // serializes it inside send(), which is timed.
        let msg = add_order(&token, req_id);
        let t0 = Instant::now();
        stream.send(&msg).await.map_err(|e| format!("send {req_id}: {e:?}"))?;
        loop {
            // The crate's stream returns Pending forever on a closed socket, so bound the wait.
            let next = tokio::time::timeout(Duration::from_secs(10), stream.next())
                .await
                .map_err(|_| {
                    format!("no ack for req_id {req_id} within 10 s ({unparsed} unparsed frames so far)")
                })?;
            match next {
                Some(Ok(WssMessage::Method(MethodMessage::AddOrder(r)))) if r.req_id == req_id => {
                    let rtt = t0.elapsed();
                    if !r.success {
                        return Err(format!("add_order {req_id} rejected: {:?}", r.error));
                    }
                    rtts.push(rtt.as_nanos() as u64);
                    break;
                }
                Some(Ok(_)) => continue, // executions, heartbeat, status, other acks
                Some(Err(WSSError::Serde(_))) => unparsed += 1,
                Some(Err(e)) => return Err(format!("receive: {e:?}")),
                None => return Err("connection closed".into()),
            }
        }
    }
    let mut body = String::with_capacity(a.n * 8);
    for ns in &rtts[a.warmup..] {
        body.push_str(&ns.to_string());
        body.push('\n');
    }
    if unparsed > 0 {
        eprintln!("kraken-async-rs-peer: note: {unparsed} frames did not parse as WssMessage");
    }
    std::fs::write(&a.out, body).map_err(|e| format!("write {}: {e}", a.out))
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    // A current_thread runtime: the peer's best case on the harness's 2-core box (no cross-thread
    // wakeups, no work stealing; the whole client runs on the thread that polls the socket).
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match rt.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kraken-async-rs-peer: {e}");
            ExitCode::FAILURE
        }
    }
}
