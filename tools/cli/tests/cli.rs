//! The `kraken-exec` binary as a user runs it.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Waits for the child at most `limit`, killing it after that (the test then fails), and
/// returns its exit code and output.
fn wait(mut child: std::process::Child, limit: Duration) -> (i32, String, String) {
    use std::io::Read;
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let o = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let e = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let end = Instant::now() + limit;
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() >= end {
            let _ = child.kill();
            panic!("the command did not finish in {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (
        status.code().unwrap_or(-1),
        o.join().unwrap(),
        e.join().unwrap(),
    )
}

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
    wait(child, Duration::from_secs(120))
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
    // With faults (a dropped socket, an invalidated token): every fill and order, both ways.
    let (code, out, err) = run(&["demo", "--duration", "8", "--faults"], "");
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains("ledger   MATCH: every one of"), "{out}");
    assert!(out.contains("injected fault"), "{out}");
    assert!(out.contains("position BTC/USD"), "{out}");
    assert!(!err.contains("panicked"), "{err}");
}

/// Runs the binary with extra environment variables.
fn run_env(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let child = Command::new(env!("CARGO_BIN_EXE_kraken-exec"))
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait(child, Duration::from_secs(120))
}

#[test]
fn operator_commands_against_the_simulator() {
    let sim = kraken_sim::Sim::start(kraken_sim::SimConfig {
        tls: true,
        market_flow: false,
        ..Default::default()
    })
    .unwrap();
    let dir = std::env::temp_dir().join(format!("kraken-exec-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("sim-ca.pem");
    std::fs::write(&ca, sim.ca_pem().unwrap()).unwrap();
    let ca = ca.to_str().unwrap().to_string();
    let env = [
        ("KRAKEN_API_KEY", sim.api_key()),
        ("KRAKEN_API_SECRET", sim.api_secret()),
    ];
    let conn = [
        "--ws-url",
        sim.ws_url(),
        "--rest-url",
        sim.rest_url(),
        "--ca-file",
        &ca,
    ];
    let with = |cmd: &[&str]| -> Vec<String> {
        cmd.iter()
            .chain(conn.iter())
            .map(|s| s.to_string())
            .collect()
    };
    let run = |cmd: &[&str]| {
        let args = with(cmd);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        run_env(&refs, &env)
    };

    // Without --live Kraken only validates: nothing is placed.
    let (code, out, err) = run(&[
        "place", "--symbol", "BTC/USD", "--side", "buy", "--qty", "0.01", "--price", "60000",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("validate only"), "{out}");
    assert_eq!(sim.ledger()["orders"].as_array().unwrap().len(), 0);

    let place = |price: &str, cl: &str, qty: &str| {
        run(&[
            "place",
            "--symbol",
            "BTC/USD",
            "--side",
            "buy",
            "--qty",
            qty,
            "--price",
            price,
            "--cl-ord-id",
            cl,
            "--live",
        ])
    };
    let ledger_order = |cl: &str| -> Option<serde_json::Value> {
        sim.ledger()["orders"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["cl_ord_id"] == cl)
            .cloned()
    };
    // An earlier fill on the account: the next command's snapshot replays it. Before the fix
    // a later `place` took that old fill's "-> filled" line for its own and exited 0 without
    // placing anything.
    let (code, out, err) = place("70000", "ops-0", "0.01");
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(ledger_order("ops-0").unwrap()["status"], "filled");

    let (code, out, err) = place("60000", "ops-1", "0.01");
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("-> open") && out.contains("placed: order O"),
        "{out}"
    );
    assert_eq!(
        ledger_order("ops-1").unwrap()["status"],
        "new",
        "it reached the exchange"
    );
    assert!(
        !out.contains("ops-0") && !out.contains("-> filled"),
        "only its own order: {out}"
    );

    // Refused by the exchange: non-zero, with Kraken's reason.
    let (code, out, err) = place("60000", "ops-nf", "1000");
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("refused by the exchange: EOrder:Insufficient funds"),
        "{err}"
    );
    assert!(ledger_order("ops-nf").is_none());

    // The ack is lost: the outcome is unknown until the lookup finds the order (exit 0, said
    // so), and it was sent once.
    sim.fault("drop-acks:1").unwrap();
    let (code, out, err) = place("60010", "ops-u", "0.01");
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("found by lookup"), "{out}");
    assert_eq!(ledger_order("ops-u").unwrap()["status"], "new");
    let sent = sim.ledger()["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["cl_ord_ids"][0] == "ops-u")
        .count();
    assert_eq!(sent, 1);

    // Amend: success is the exchange's ack, failure is non-zero.
    let (code, out, err) = run(&["amend", "--cl-ord-id", "ops-1", "--price", "60100"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("amend: accepted"), "{out}");
    assert_eq!(ledger_order("ops-1").unwrap()["limit_price"], "60100");
    let (code, out, err) = run(&["amend", "--cl-ord-id", "no-such", "--price", "60100"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("refused by the exchange"), "{err}");
    let (code, out, err) = run(&["cancel", "--cl-ord-id", "no-such"]);
    assert_eq!(code, 1, "{out}{err}");
    let (code, out, err) = run(&["cancel", "--cl-ord-id", "ops-u"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(ledger_order("ops-u").unwrap()["status"], "canceled");
    let (code, out, _) = run(&["orders"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("ops-1") && out.contains("1 open order(s)"),
        "{out}"
    );
    let (code, out, err) = run(&["cancel", "--cl-ord-id", "ops-1"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("-> canceled"), "{out}");
    assert_eq!(ledger_order("ops-1").unwrap()["status"], "canceled");

    // Bad input: a clear message and a non-zero exit, never a panic.
    let (code, _, err) = run(&[
        "place", "--symbol", "BTC/USD", "--side", "buy", "--qty", "0.01", "--price", "60000.05",
        "--live",
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains("limit_price must be a multiple of 0.1"),
        "{err}"
    );
    let (code, _, err) = run(&["cancel"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("exactly one of --order-id and --cl-ord-id"),
        "{err}"
    );
    let (code, _, err) = run_env(&["orders", "--ws-url", sim.ws_url()], &[]);
    assert_eq!(code, 1);
    assert!(err.contains("KRAKEN_API_KEY is not set"), "{err}");
    let (code, _, err) = run_env(
        &with(&["orders"])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        &[
            ("KRAKEN_API_KEY", "x"),
            ("KRAKEN_API_SECRET", "not base64!"),
        ],
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("KRAKEN_API_SECRET") && !err.contains("panicked"),
        "{err}"
    );

    // A TOML config with the secret: refused while others can read it, used once it is 0600.
    let cfg = dir.join("kraken.toml");
    std::fs::write(
        &cfg,
        format!(
            "ws_url = \"{}\"\nrest_url = \"{}\"\nca_file = \"{ca}\"\napi_key = \"{}\"\napi_secret = \"{}\"\nsymbols = [\"BTC/USD\"]\ntier = \"starter\"\n",
            sim.ws_url(),
            sim.rest_url(),
            sim.api_key(),
            sim.api_secret()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o644)).unwrap();
    let cfg_s = cfg.to_str().unwrap();
    let (code, _, err) = run_env(&["orders", "--config", cfg_s], &[]);
    assert_eq!(code, 1);
    assert!(
        err.contains("readable by others") && err.contains("chmod 600"),
        "{err}"
    );
    assert!(
        !err.contains(sim.api_secret()),
        "the secret is never printed"
    );
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (code, out, err) = run_env(&["orders", "--config", cfg_s], &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("0 open order(s)"), "{out}");
    std::fs::write(dir.join("bad.toml"), "tier = \"platinum\"\n").unwrap();
    let (code, _, err) = run_env(
        &["orders", "--config", dir.join("bad.toml").to_str().unwrap()],
        &env,
    );
    assert_eq!(code, 1);
    assert!(err.contains("unknown tier `platinum`"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sim_subcommand_prints_the_contract_then_serves() {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(env!("CARGO_BIN_EXE_kraken-exec"))
        .args(["sim", "--quiet-market"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut got = Vec::new();
    for _ in 0..4 {
        got.push(lines.next().unwrap().unwrap());
    }
    let ws = got[0].strip_prefix("ws: ").expect("ws line").to_string();
    assert!(
        got[1].starts_with("rest: http://")
            && got[2].starts_with("api-key: ")
            && got[3].starts_with("api-secret: "),
        "{got:?}"
    );
    // It serves: a WebSocket client connects and gets the status frame.
    let (mut w, _) = tungstenite::connect(ws.as_str()).unwrap();
    let first = w.read().unwrap();
    assert!(first.to_text().unwrap().contains(r#""channel":"status""#));
    child.kill().unwrap();
    let _ = child.wait();
}

/// `kraken-exec journal DIR` prints each record, `--json` one object per line with the fill's
/// exact figures; a torn tail exits 2 after the good records.
#[test]
fn journal_prints_a_journal_in_words_and_json() {
    use kraken_exec::journal::{Entry, FillEntry, Journal, JournalConfig};
    use kraken_exec::{AssetCode, ClOrdId, ExecId, OrderId, SymbolId, Timestamp};
    let dir = std::env::temp_dir().join(format!("kxj-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (mut j, _) = Journal::open(JournalConfig::new(&dir), "key", &["BTC/USD"]).unwrap();
    j.append(
        &Entry::Intent {
            req_id: kraken_exec::RequestId(5),
            method: kraken_exec::protocol::messages::Method::AddOrder,
            cl_ord_id: Some(ClOrdId::new("j-1").unwrap()),
            order_id: None,
            symbol: SymbolId(0),
            side: Some(kraken_exec::Side::Buy),
            qty: Some(rust_decimal_macros::dec!(0.10)),
            price: Some(rust_decimal_macros::dec!(64000.0)),
            deadline: None,
            validate: false,
        },
        1_735_689_600_000_000,
        0,
    )
    .unwrap();
    j.append(
        &Entry::Fill(FillEntry {
            exec_id: ExecId::new("TZX2WP-XSEOP-FJP7PL").unwrap(),
            order_id: OrderId::new("OAVY7T-MV5VK-KHDF5X").unwrap(),
            cl_ord_id: Some(ClOrdId::new("j-1").unwrap()),
            symbol: SymbolId(0),
            side: Some(kraken_exec::Side::Buy),
            qty: rust_decimal_macros::dec!(0.10),
            price: rust_decimal_macros::dec!(64000.0),
            fee: Some(rust_decimal_macros::dec!(10.24)),
            fee_asset: AssetCode::new("USD").unwrap(),
            liquidity: None,
            timestamp: Some(Timestamp(1_735_689_600_500_000)),
            historical: false,
        }),
        1_735_689_600_600_000,
        0,
    )
    .unwrap();
    drop(j);
    let run = |json: bool| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_kraken-exec"));
        c.arg("journal").arg(&dir);
        if json {
            c.arg("--json");
        }
        c.output().unwrap()
    };
    let words = run(false);
    assert!(words.status.success());
    let text = String::from_utf8(words.stdout).unwrap();
    assert!(
        text.contains("intent   #5 add_order buy 0.10 @ 64000.0"),
        "{text}"
    );
    assert!(text.contains("fill     TZX2WP-XSEOP-FJP7PL buy 0.10 @ 64000.0 fee 10.24 USD"));
    let json = run(true);
    let lines: Vec<serde_json::Value> = String::from_utf8(json.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(
        (
            &lines[1]["record"],
            &lines[1]["exec_id"],
            &lines[1]["qty"],
            &lines[1]["fee"]
        ),
        (
            &serde_json::json!("fill"),
            &serde_json::json!("TZX2WP-XSEOP-FJP7PL"),
            &serde_json::json!("0.10"),
            &serde_json::json!("10.24")
        )
    );
    // A crash mid-write of the second record.
    let seg = dir.join("00000000.kxj");
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[2 * 256 + 200] ^= 0xFF;
    std::fs::write(&seg, &bytes).unwrap();
    let torn = run(false);
    assert_eq!(torn.status.code(), Some(2));
    assert_eq!(String::from_utf8(torn.stdout).unwrap().lines().count(), 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The user story of issue 13: after one process traded, `watch` in a new process does not
/// report that process's fill as a fresh one. With the same `--journal`, it is not reported at
/// all; without one, it is reported as historical (`"historical":true`), and in plain words
/// (`buy`, not `Some(Buy)`).
#[test]
fn watch_in_a_new_process_does_not_report_old_fills_as_new() {
    let sim = kraken_sim::Sim::start(kraken_sim::SimConfig {
        tls: true,
        market_flow: false,
        ..Default::default()
    })
    .unwrap();
    let dir = std::env::temp_dir().join(format!("kraken-exec-watch-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("sim-ca.pem");
    std::fs::write(&ca, sim.ca_pem().unwrap()).unwrap();
    let journal = dir.join("journal");
    let env = [
        ("KRAKEN_API_KEY", sim.api_key()),
        ("KRAKEN_API_SECRET", sim.api_secret()),
    ];
    let run = |cmd: &[&str], with_journal: bool| {
        let mut args: Vec<String> = cmd.iter().map(|s| s.to_string()).collect();
        for a in [
            "--ws-url",
            sim.ws_url(),
            "--rest-url",
            sim.rest_url(),
            "--ca-file",
            ca.to_str().unwrap(),
        ] {
            args.push(a.into());
        }
        if with_journal {
            args.push("--journal".into());
            args.push(journal.to_str().unwrap().into());
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        run_env(&refs, &env)
    };
    // A crossing buy: it fills at once.
    let (code, out, err) = run(
        &[
            "place", "--symbol", "BTC/USD", "--side", "buy", "--qty", "0.01", "--price", "70000",
            "--live",
        ],
        true,
    );
    assert_eq!(code, 0, "{out}{err}");
    let fills = sim.ledger()["fills"].as_array().unwrap().clone();
    assert_eq!(fills.len(), 1);
    let exec_id = fills[0]["exec_id"].as_str().unwrap().to_string();
    // A new process with the journal: the fill is known, not reported again.
    let (code, out, err) = run(&["watch", "--seconds", "2", "--json"], true);
    assert_eq!(code, 0, "{out}{err}");
    assert!(!out.contains(&exec_id), "reported again:\n{out}");
    // Without the journal: reported, as history, in words a person reads.
    let (code, out, err) = run(&["watch", "--seconds", "2", "--json"], false);
    assert_eq!(code, 0, "{out}{err}");
    let line: serde_json::Value = out
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["event"] == "fill")
        .unwrap_or_else(|| panic!("no fill line:\n{out}"));
    assert_eq!(
        (
            &line["exec_id"],
            &line["historical"],
            &line["recovered"],
            &line["side"]
        ),
        (
            &serde_json::json!(exec_id),
            &serde_json::json!(true),
            &serde_json::json!(false),
            &serde_json::json!("buy")
        )
    );
    let (code, out, _) = run(&["watch", "--seconds", "2"], false);
    assert_eq!(code, 0);
    assert!(
        out.contains("buy 0.01 @") && out.contains("historical") && !out.contains("Some("),
        "{out}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `kraken-exec book --replay`: a capture as received (status, the subscribe acknowledgement,
/// heartbeats, another channel) around Kraken's own book frames: `checksum ok` for each, exit
/// 0; the same capture with one digit changed: `checksum MISMATCH`, exit 1.
#[test]
fn book_replay_checks_kraken_s_checksums_and_fails_on_a_mismatch() {
    let captured = include_str!("../../../tests/fixtures/captured/book-algo-usd.jsonl");
    let lines: Vec<&str> = captured.lines().collect();
    // The acknowledgement and the heartbeat are written here in Kraken's documented shape;
    // the status and book frames are the captured ones.
    let ack = r#"{"method":"subscribe","result":{"channel":"book","depth":10,"snapshot":true,"symbol":"ALGO/USD"},"success":true,"time_in":"2024-10-03T02:46:56.900000Z","time_out":"2024-10-03T02:46:56.900100Z"}"#;
    let capture = [
        lines[0],
        ack,
        r#"{"channel":"heartbeat"}"#,
        lines[1],
        include_str!("../../../tests/fixtures/captured/executions-snapshot.jsonl")
            .lines()
            .next()
            .unwrap(),
        lines[2],
    ]
    .join("\n");
    let dir = std::env::temp_dir().join(format!("kx-book-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let run = |name: &str, text: &str| {
        let f = dir.join(name);
        std::fs::write(&f, text).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_kraken-exec"))
            .args(["book", "--replay"])
            .arg(&f)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, out) = run("good.jsonl", &capture);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(out.matches("checksum ok").count(), 2, "{out}");
    assert!(out.contains("0.12291 / 0.12307"), "top of book: {out}");
    assert!(out.contains("2 checksums ok, 0 mismatched"), "{out}");
    let (code, out) = run(
        "bad.jsonl",
        &capture.replace("6597.51731160", "6597.51731161"),
    );
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("checksum MISMATCH (Kraken 1100635717"),
        "{out}"
    );
    let (code, _) = run("none.jsonl", lines[0]);
    assert_eq!(code, Some(2), "no book frame");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `book --symbol`: a live book from a public socket (kraken-sim's), no credentials, through
/// the engine's public session and checksummed books; it stops after `--updates`, and a pair
/// the exchange refuses, or an exchange it cannot reach, ends it with 1.
#[test]
fn book_symbol_shows_a_live_checked_book_and_fails_clearly() {
    let sim = kraken_sim::Sim::start(kraken_sim::SimConfig {
        walk_interval: std::time::Duration::from_millis(20),
        ..kraken_sim::SimConfig::default()
    })
    .unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_kraken-exec"))
            .arg("book")
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, err) = run(&[
        "--symbol",
        "BTC/USD",
        "--url",
        sim.ws_url(),
        "--updates",
        "5",
    ]);
    assert_eq!(code, Some(0), "{out}{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 5, "{out}");
    for l in &lines {
        assert!(
            l.contains("BTC/USD bid ") && l.ends_with("checksum ok"),
            "{l}"
        );
    }
    let (code, _, err) = run(&[
        "--symbol",
        "NOPE/USD",
        "--url",
        sim.ws_url(),
        "--updates",
        "1",
    ]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("subscription to NOPE/USD refused"), "{err}");
    let (code, _, err) = run(&["--symbol", "BTC/USD", "--url", sim.ws_url(), "--depth", "7"]);
    assert_eq!(code, Some(2), "{err}");
    // Nothing listens there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let url = format!("ws://127.0.0.1:{port}/v2");
    let (code, _, err) = run(&["--symbol", "BTC/USD", "--url", &url]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("cannot connect"), "{err}");
    let (code, _, err) = run(&["--symbol", "BTC/USD", "--url", "ws://example.com/v2"]);
    assert_eq!(code, Some(2), "{err}");
}
