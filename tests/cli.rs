//! The `kraken-exec` binary as a user runs it.

use std::io::Write;
use std::process::{Command, Stdio};

fn run(args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kraken-exec"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn decode_prints_exact_fields_and_flags_bad_frames() {
    let frames = concat!(
        r#"{"channel":"executions","type":"update","data":[{"order_id":"OK4GJX-KSTLS-7DZZO5","exec_id":"TGBB7L-HT5LX-J3BZ4A","exec_type":"trade","symbol":"BTC/USD","side":"sell","last_qty":0.00016000,"last_price":26599.9,"fees":[{"asset":"USD","qty":0.3458}]}],"sequence":10}"#,
        "\n\n",
        r#"{"method":"add_order","req_id":7,"result":{"order_id":"OPS23M-VS41G-DDE5Z2","cl_ord_id":"client-zero"},"success":true}"#,
        "\n",
        "CloudFlare WebSocket proxy restarting\n",
    );
    let (code, out, err) = run(&["decode"], frames);
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert_eq!(lines[0]["kind"], "executions");
    assert_eq!(lines[0]["sequence"], 10);
    let e = &lines[0]["data"][0];
    assert_eq!(e["last_qty"], "0.00016000", "decimals as exact strings");
    assert_eq!(e["symbol"], "BTC/USD");
    assert_eq!(e["fees"][0]["qty"], "0.3458");
    assert_eq!(lines[1]["kind"], "response");
    assert_eq!(lines[1]["result"]["cl_ord_id"], "client-zero");
    assert_eq!(lines[2]["error_kind"], "NotJson");
    assert_eq!(code, 1);
    assert!(err.contains("1 frame(s) did not decode"), "{err}");

    let (code, _, _) = run(&["decode"], r#"{"channel":"heartbeat"}"#);
    assert_eq!(code, 0);
}

#[test]
fn bad_usage_is_a_clear_error_not_a_panic() {
    let (code, _, err) = run(&["no-such-command"], "");
    assert_eq!(code, 2);
    assert!(err.contains("unrecognized subcommand"), "{err}");
    assert!(!err.contains("panicked"));
}

#[test]
fn demo_trades_against_the_embedded_simulator_and_reconciles() {
    let (code, out, err) = run(&["demo", "--duration", "5"], "");
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains("ledger   MATCH"), "{out}");
    assert!(out.contains("position BTC/USD"), "{out}");
    assert!(!err.contains("panicked"), "{err}");
}
