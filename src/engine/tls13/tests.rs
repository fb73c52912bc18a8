//! The record layer against rustls' own server, in memory: the handshake is driven by the
//! engine's `tls_handshake` with the engine's client configuration, then every record either
//! way must be what rustls writes and reads.

use std::io::{self, Read, Write};
use std::sync::Arc;

use proptest::prelude::*;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ServerConfig, ServerConnection, SupportedCipherSuite};

use super::*;
use crate::engine::transport::{TransportError, client_tls_config, tls_handshake};

/// The server's end in memory: what the client writes is processed at once; the client reads
/// what the server has to send, or `WouldBlock`.
struct Peer<'a>(&'a mut ServerConnection);

impl Read for Peer<'_> {
    /// As much of what the server has to send as fits (several records at once, as a socket
    /// read would return them).
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut n = 0;
        while self.0.wants_write() && n < buf.len() {
            let mut w: &mut [u8] = &mut buf[n..];
            match self.0.write_tls(&mut w)? {
                0 => break,
                k => n += k,
            }
        }
        if n == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    }
}

impl Write for Peer<'_> {
    fn write(&mut self, mut buf: &[u8]) -> io::Result<usize> {
        let n = buf.len();
        while !buf.is_empty() {
            self.0.read_tls(&mut buf)?;
            self.0
                .process_new_packets()
                .map_err(|e| io::Error::other(e.to_string()))?;
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

struct Pair {
    client: Records,
    server: ServerConnection,
    /// Received by the client and not opened yet.
    pending: Vec<u8>,
    /// Records the client sent in answer to what it opened.
    answers: usize,
}

fn tls13_suites() -> Vec<SupportedCipherSuite> {
    rustls::crypto::ring::ALL_CIPHER_SUITES
        .iter()
        .copied()
        .filter(|s| matches!(s, SupportedCipherSuite::Tls13(_)))
        .collect()
}

impl Pair {
    fn new(suite: SupportedCipherSuite) -> Self {
        Self::with(suite, None)
    }

    /// `half_rtt`: data the server sends right after its Finished, in the same flight.
    fn with(suite: SupportedCipherSuite, half_rtt: Option<&[u8]>) -> Self {
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der()));
        let provider = CryptoProvider {
            cipher_suites: vec![suite],
            ..rustls::crypto::ring::default_provider()
        };
        let mut sc = ServerConfig::builder_with_provider(Arc::new(provider))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![ck.cert.der().clone()], key)
            .unwrap();
        sc.send_half_rtt_data = half_rtt.is_some();
        // For `Forger`: the server's keys, to seal records rustls would never write.
        sc.enable_secret_extraction = true;
        let mut server = ServerConnection::new(Arc::new(sc)).unwrap();
        server.set_buffer_limit(None);
        if let Some(d) = half_rtt {
            server.writer().write_all(d).unwrap();
        }
        let cfg = client_tls_config(Some(ck.cert.pem().as_bytes())).unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        let conn = rustls::client::UnbufferedClientConnection::new(cfg, name).unwrap();
        // Small for the plain handshake (many reads); large when the server's whole flight and
        // what follows it must come in one read.
        let mut buf = vec![0u8; if half_rtt.is_some() { 64 * 1024 } else { 1024 }];
        let (client, have) = tls_handshake(conn, &mut Peer(&mut server), &mut buf, || {
            Err(TransportError::Timeout)
        })
        .unwrap();
        assert!(!server.is_handshaking());
        assert_eq!(server.negotiated_cipher_suite(), Some(suite));
        buf.truncate(have);
        Pair {
            client,
            server,
            pending: buf,
            answers: 0,
        }
    }

    /// Takes in what the server has written.
    fn receive(&mut self) {
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            match Peer(&mut self.server).read(&mut chunk) {
                Ok(n) => self.pending.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => panic!("{e}"),
            }
        }
    }

    /// Opens every whole record received: the data, the records taken, and whether the peer
    /// closed. What the layer must answer goes to the server.
    fn open_all(&mut self) -> Result<(Vec<u8>, usize, bool), TlsError> {
        let (mut data, mut records) = (Vec::new(), 0);
        loop {
            let mut answer = Vec::new();
            let (used, opened) = self.client.open(&mut self.pending, &mut answer)?;
            if !answer.is_empty() {
                self.answers += 1;
                assert!(self.give_server(&answer).is_empty());
            }
            match opened {
                Opened::Closed => return Ok((data, records, true)),
                Opened::Data(r) => data.extend_from_slice(&self.pending[r]),
                Opened::Nothing => {}
            }
            if used == 0 {
                return Ok((data, records, false));
            }
            records += 1;
            self.pending.drain(..used);
        }
    }

    fn server_sends(&mut self, data: &[u8]) -> Vec<u8> {
        self.server.writer().write_all(data).unwrap();
        self.receive();
        let (got, _, closed) = self.open_all().unwrap();
        assert!(!closed);
        got
    }

    /// Gives the server `bytes`: what it read from them.
    fn give_server(&mut self, mut bytes: &[u8]) -> Vec<u8> {
        let mut got = Vec::new();
        while !bytes.is_empty() {
            self.server.read_tls(&mut bytes).unwrap();
            self.server.process_new_packets().unwrap();
            match self.server.reader().read_to_end(&mut got) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("{e}"),
            }
        }
        got
    }

    fn client_sends(&mut self, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        self.client.seal(data, &mut out).unwrap();
        self.give_server(&out)
    }
}

fn text(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| b'a' + ((i as u8).wrapping_add(seed)) % 26)
        .collect()
}

/// In each TLS 1.3 suite, data goes both ways and reads back exactly, including messages
/// longer than one record (2^14 bytes), after the server's session tickets.
#[test]
fn data_goes_both_ways_in_every_suite() {
    let suites = tls13_suites();
    assert_eq!(suites.len(), 3);
    for suite in suites {
        let mut p = Pair::new(suite);
        // rustls' server sends its tickets after the handshake: taken, nothing handed out.
        p.receive();
        let (data, records, closed) = p.open_all().unwrap();
        assert!(data.is_empty() && !closed);
        assert!(records >= 1, "{suite:?}: the server's tickets");
        for len in [0, 1, 200, 16_384, 16_385, 40_000] {
            let m = text(len, len as u8);
            assert_eq!(
                p.client_sends(&m),
                m,
                "{suite:?} client → server, {len} bytes"
            );
            assert_eq!(
                p.server_sends(&m),
                m,
                "{suite:?} server → client, {len} bytes"
            );
        }
    }
}

/// The server asks for a key update: the client replaces its receiving keys, answers with its
/// own update, and both ways keep working (rustls' server refuses our records otherwise).
#[test]
fn a_key_update_the_peer_asks_for_is_followed_and_answered() {
    for suite in tls13_suites() {
        let mut p = Pair::new(suite);
        assert_eq!(p.server_sends(b"before"), b"before");
        assert_eq!(p.answers, 0);
        p.server.refresh_traffic_keys().unwrap();
        assert_eq!(p.server_sends(b"after"), b"after", "{suite:?}");
        // The answer (RFC 8446 §4.6.3: required; rustls' server would not notice its absence).
        assert_eq!(p.answers, 1, "{suite:?}");
        assert_eq!(p.client.tx.seq, 0, "{suite:?}: new sending keys");
        assert_eq!(p.client_sends(b"mine"), b"mine", "{suite:?}");
        assert_eq!(p.server_sends(b"again"), b"again", "{suite:?}");
    }
}

/// Near the suite's confidentiality limit our sending keys are replaced (here after every two
/// records): each replacement is announced and the server reads on.
#[test]
fn our_keys_are_replaced_at_the_limit_and_the_peer_follows() {
    let mut p = Pair::new(tls13_suites()[0]);
    p.client.set_tx_limit(2);
    for i in 0..10u8 {
        let m = text(50 + usize::from(i), i);
        assert_eq!(p.client_sends(&m), m, "message {i}");
    }
    assert!(p.client.tx.seq <= 2, "the sequence restarts with each key");
    assert_eq!(p.server_sends(b"still"), b"still");
}

/// A server that writes right after its Finished, in the same flight (half-RTT data; a
/// server may send tickets or a key update there too): rustls is given the handshake's
/// records only, and the records past it are opened by our layer, in order and with the
/// sequence numbers rustls handed over. Given everything read, rustls would open them itself
/// and the handshake would fail.
#[test]
fn records_right_after_the_servers_finished_are_ours_to_open() {
    for suite in tls13_suites() {
        let mut p = Pair::with(suite, Some(b"half-rtt"));
        assert!(
            !p.pending.is_empty(),
            "{suite:?}: the flight and the data came in one read"
        );
        p.receive();
        let (data, _, closed) = p.open_all().unwrap();
        assert_eq!(data, b"half-rtt", "{suite:?}");
        assert!(!closed);
        assert_eq!(p.server_sends(b"next"), b"next", "{suite:?}");
        assert_eq!(p.client_sends(b"mine"), b"mine", "{suite:?}");
    }
}

/// Our sending keys are replaced before each suite's confidentiality limit (AES-GCM's is
/// 2^24.5 records; ChaCha20-Poly1305 has none to speak of), not at it and not never.
#[test]
fn our_keys_are_replaced_before_each_suites_limit() {
    for suite in tls13_suites() {
        let p = Pair::new(suite);
        let SupportedCipherSuite::Tls13(s) = suite else {
            unreachable!()
        };
        let limit = s.common.confidentiality_limit;
        assert!(
            p.client.tx_limit < limit && p.client.tx_limit >= limit - limit / 16,
            "{suite:?}: {} of {limit}",
            p.client.tx_limit
        );
    }
}

/// The peer's `close_notify` ends the stream, and nothing is opened after it.
#[test]
fn close_notify_ends_the_stream() {
    let mut p = Pair::new(tls13_suites()[1]);
    p.server.writer().write_all(b"last").unwrap();
    p.server.send_close_notify();
    p.receive();
    let (data, _, closed) = p.open_all().unwrap();
    assert_eq!(data, b"last");
    assert!(closed);
    let mut more = p.pending.clone();
    assert_eq!(
        p.client.open(&mut more, &mut Vec::new()),
        Ok((0, Opened::Closed))
    );
}

/// A record changed on the way fails authentication; a fatal alert from the peer (here: its
/// answer to a record we corrupted) is reported with its code.
#[test]
fn tampering_and_alerts_are_errors() {
    let mut p = Pair::new(tls13_suites()[2]);
    p.receive();
    p.open_all().unwrap();
    p.server.writer().write_all(b"payload").unwrap();
    p.receive();
    let last = p.pending.len() - 1;
    p.pending[last] ^= 1;
    assert_eq!(p.open_all(), Err(TlsError::BadRecordMac));

    let mut p = Pair::new(tls13_suites()[2]);
    p.receive();
    p.open_all().unwrap();
    let mut out = Vec::new();
    p.client.seal(b"hello", &mut out).unwrap();
    out[7] ^= 0x40;
    assert!(Peer(&mut p.server).write_all(&out).is_err());
    p.receive();
    assert_eq!(p.open_all(), Err(TlsError::Alert(20)), "bad_record_mac");
}

/// Records TLS 1.3 does not allow after the handshake are refused by their header alone.
#[test]
fn records_out_of_place_are_refused() {
    let mut p = Pair::new(tls13_suites()[0]);
    let mut out = Vec::new();
    for (bytes, want) in [
        (
            &[22u8, 3, 3, 0, 1, 0][..],
            TlsError::Unexpected("a record not protected"),
        ),
        (
            &[20, 3, 3, 0, 1, 1],
            TlsError::Unexpected("change_cipher_spec"),
        ),
        (&[23, 3, 3, 0x41, 0x01], TlsError::RecordOverflow),
        (&[23, 3, 3, 0, 16], TlsError::BadRecordMac),
    ] {
        assert_eq!(p.client.open(&mut bytes.to_vec(), &mut out), Err(want));
    }
    // Not whole yet: nothing taken.
    assert_eq!(
        p.client.open(&mut [23, 3, 3, 0, 40, 1, 2], &mut out),
        Ok((0, Opened::Nothing))
    );
    assert!(out.is_empty());
}

fn chunked(total: usize, cuts: &[usize]) -> Vec<usize> {
    let mut at: Vec<usize> = cuts.iter().map(|c| c % (total + 1)).collect();
    at.push(total);
    at.sort_unstable();
    at
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// However the server's bytes are cut on the way in, the client opens exactly what was
    /// sent, in order.
    #[test]
    fn any_cut_of_the_stream_reads_back(
        sizes in prop::collection::vec(0usize..20_000, 1..6),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let mut p = Pair::new(tls13_suites()[0]);
        let mut sent = Vec::new();
        for (i, n) in sizes.iter().enumerate() {
            let m = text(*n, i as u8);
            p.server.writer().write_all(&m).unwrap();
            sent.extend_from_slice(&m);
        }
        p.receive();
        let wire = std::mem::take(&mut p.pending);
        let mut got = Vec::new();
        let mut from = 0;
        for to in chunked(wire.len(), &cuts) {
            p.pending.extend_from_slice(&wire[from..to.max(from)]);
            from = to.max(from);
            let (data, _, closed) = p.open_all().unwrap();
            prop_assert!(!closed);
            got.extend_from_slice(&data);
        }
        prop_assert!(p.pending.is_empty());
        prop_assert_eq!(got, sent);
    }

    /// Arbitrary bytes where a record is expected: an error or a wait, never a panic, and
    /// never data.
    #[test]
    fn garbage_is_refused_without_panicking(
        mut bytes in prop::collection::vec(any::<u8>(), 0..300),
        header in any::<bool>(),
    ) {
        let mut p = Pair::new(tls13_suites()[0]);
        if header && bytes.len() >= 5 {
            bytes[0] = 23;
            bytes[1] = 3;
            bytes[2] = 3;
        }
        match p.client.open(&mut bytes, &mut Vec::new()) {
            Ok((0, Opened::Nothing)) | Err(_) => {}
            other => prop_assert!(false, "{other:?}"),
        }
    }
}

/// The connection's reader over a real socket (`transport::Wire`): a stream several times its
/// 64 KiB buffer, written in uneven pieces so records straddle reads and the buffer's end,
/// reads back exactly through small reads; and what it writes the server reads back.
#[test]
fn the_wire_reads_a_stream_larger_than_its_buffer_in_uneven_pieces() {
    use crate::engine::transport::Wire;
    use std::time::{Duration, Instant};

    let mut p = Pair::new(tls13_suites()[0]);
    p.receive();
    // The server's tickets come first on the wire, as they would.
    let mut wire_bytes = std::mem::take(&mut p.pending);
    let mut sent = Vec::new();
    for i in 0..40usize {
        let m = text(1 + (i * 7919) % 15_000, i as u8);
        p.server.writer().write_all(&m).unwrap();
        sent.extend_from_slice(&m);
    }
    p.receive();
    wire_bytes.extend_from_slice(&std::mem::take(&mut p.pending));
    assert!(wire_bytes.len() > 4 * 64 * 1024);

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (mut server_side, _) = listener.accept().unwrap();
    client.set_nonblocking(true).unwrap();
    let Pair {
        client: records,
        mut server,
        ..
    } = p;
    let mut wire = Wire::tls_for_test(mio::net::TcpStream::from_std(client), records);
    let writer = std::thread::spawn(move || {
        // Uneven pieces, each flushed on its own (a seeded walk of sizes).
        let mut at = 0;
        let mut k = 1usize;
        while at < wire_bytes.len() {
            k = (k * 48_271) % 65_521;
            let n = (1 + k % 9_000).min(wire_bytes.len() - at);
            server_side.write_all(&wire_bytes[at..at + n]).unwrap();
            at += n;
            if k.is_multiple_of(3) {
                std::thread::sleep(Duration::from_micros(200));
            }
        }
        server_side
    });
    let mut got = Vec::new();
    let mut buf = [0u8; 1000];
    let end = Instant::now() + Duration::from_secs(20);
    while got.len() < sent.len() {
        assert!(
            Instant::now() < end,
            "{} of {} bytes",
            got.len(),
            sent.len()
        );
        match wire.read(&mut buf) {
            Ok(0) => panic!("closed after {} bytes", got.len()),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(1))
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert!(got == sent, "the stream read back differs");

    // And the other way: written through the wire, read by the server.
    let mut server_side = writer.join().unwrap();
    let m = text(40_000, 3);
    wire.write_all(&m).unwrap();
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        wire.flush().unwrap();
        assert!(Instant::now() < end);
        if !wire.has_unsent() {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let mut received = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let mut read_back = Vec::new();
    while read_back.len() < m.len() {
        let n = server_side.read(&mut chunk).unwrap();
        assert!(n > 0);
        received.extend_from_slice(&chunk[..n]);
        let mut input = &received[..];
        while !input.is_empty() {
            server.read_tls(&mut input).unwrap();
            server.process_new_packets().unwrap();
            let _ = server.reader().read_to_end(&mut read_back);
        }
        received.clear();
    }
    assert!(read_back == m);
}

/// Seals any inner plaintext with the server's own keys (taken from rustls' server after the
/// handshake): records a real server would never write, to reach what the layer does after
/// authentication (content type, padding, alerts, handshake messages).
struct Forger {
    client: Records,
    server: Direction,
}

impl Forger {
    fn new() -> Self {
        let mut p = Pair::new(tls13_suites()[0]);
        // The server's tickets first (the sequence numbers must line up).
        p.receive();
        p.open_all().unwrap();
        #[allow(deprecated)] // the buffered connection's extraction; fine for a test's keys
        let secrets = p.server.dangerous_extract_secrets().unwrap();
        Forger {
            client: p.client,
            server: Direction::new(secrets.tx.0, secrets.tx.1).unwrap(),
        }
    }

    /// One record of `inner` (content, content type, padding), as the server would seal it.
    fn record(&mut self, inner: &[u8]) -> Vec<u8> {
        let mut out = vec![0; HEADER];
        out.extend_from_slice(inner);
        self.server.seal_from(&mut out, 0).unwrap();
        out
    }

    fn open(&mut self, inner: &[u8]) -> Result<(Vec<u8>, Opened, Vec<u8>), TlsError> {
        let mut rec = self.record(inner);
        let mut answer = Vec::new();
        let (used, opened) = self.client.open(&mut rec, &mut answer)?;
        assert_eq!(used, rec.len(), "a whole record is taken whole");
        let data = match &opened {
            Opened::Data(r) => rec[r.clone()].to_vec(),
            _ => Vec::new(),
        };
        Ok((data, opened, answer))
    }
}

/// A key update that does not ask for ours replaces the receiving keys and is not answered;
/// one with anything after it in its record is refused (the next record uses new keys).
#[test]
fn key_updates_not_asking_for_ours_and_misplaced_ones() {
    let mut f = Forger::new();
    let (_, opened, answer) = f.open(&[KEY_UPDATE, 0, 0, 1, 0, HANDSHAKE]).unwrap();
    assert_eq!(opened, Opened::Nothing);
    assert!(answer.is_empty(), "not asked: no answer");
    assert_eq!(f.client.rx.seq, 0, "new receiving keys");

    let mut f = Forger::new();
    let refused = f.open(&[
        KEY_UPDATE,
        0,
        0,
        1,
        1,
        NEW_SESSION_TICKET,
        0,
        0,
        0,
        HANDSHAKE,
    ]);
    assert_eq!(
        refused.err(),
        Some(TlsError::Unexpected("data after a key update"))
    );
}

/// A ticket split over two records is joined and handed to rustls; data after it opens. A
/// handshake message cut by a record of another type is refused.
#[test]
fn a_ticket_split_over_records_is_joined() {
    // lifetime, age_add, nonce (1 byte), ticket (4 bytes), no extensions.
    let body = [
        0, 0, 0x0e, 0x10, 1, 2, 3, 4, 1, 0xaa, 0, 4, 9, 8, 7, 6, 0, 0,
    ];
    let mut msg = vec![NEW_SESSION_TICKET, 0, 0, body.len() as u8];
    msg.extend_from_slice(&body);
    let (a, b) = msg.split_at(7);
    let mut f = Forger::new();
    for part in [a, b] {
        let mut inner = part.to_vec();
        inner.push(HANDSHAKE);
        assert_eq!(f.open(&inner).unwrap().1, Opened::Nothing);
    }
    assert!(f.client.handshake.is_empty(), "the whole ticket was taken");
    let (data, ..) = f.open(b"after\x17").unwrap();
    assert_eq!(data, b"after");

    let mut f = Forger::new();
    let mut inner = a.to_vec();
    inner.push(HANDSHAKE);
    f.open(&inner).unwrap();
    assert_eq!(
        f.open(b"cut\x17").err(),
        Some(TlsError::Unexpected(
            "a handshake message cut by other records"
        ))
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any inner plaintext that authenticates: application data is handed out exactly (the
    /// content type found past any padding), and anything else is taken, ends the stream or is
    /// refused with an error; never a panic, never data that was not sent as data.
    #[test]
    fn any_authenticated_inner_plaintext_is_read_exactly_or_refused(
        content in prop::collection::vec(any::<u8>(), 0..300),
        ty in prop::sample::select(vec![0u8, 1, 20, 21, 22, 23, 24, 255]),
        padding in 0usize..40,
    ) {
        let mut f = Forger::new();
        let mut inner = content.clone();
        inner.push(ty);
        inner.resize(inner.len() + padding, 0);
        match f.open(&inner) {
            Ok((data, Opened::Data(_), _)) => {
                // The type is the last non-zero byte: `ty` unless it is 0 (then some byte of
                // the content is).
                let at = inner.iter().rposition(|&b| b != 0).unwrap();
                prop_assert_eq!(inner[at], APPLICATION_DATA);
                prop_assert_eq!(&data[..], &inner[..at]);
                if ty != 0 {
                    prop_assert_eq!(ty, APPLICATION_DATA);
                    prop_assert_eq!(data, content);
                }
            }
            Ok((_, Opened::Nothing | Opened::Closed, answer)) => {
                prop_assert!(ty != APPLICATION_DATA || content.is_empty());
                prop_assert!(answer.len() <= MAX_RECORD);
            }
            Err(_) => prop_assert!(ty != APPLICATION_DATA || content.len() > MAX_PLAIN),
        }
    }
}
