//! One WebSocket over a non-blocking mio socket, over TLS 1.3 or plain. rustls does the TLS
//! handshake and tungstenite the WebSocket one; after that records are sealed and opened by our
//! own layer (`tls13`) and frames read by our own reader (`ws_frame`) and written from a reused
//! buffer: neither direction allocates. Connecting blocks (with a deadline) on the I/O thread;
//! after that every call is non-blocking.

use std::io::{self, Read, Write};
use std::net::ToSocketAddrs;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use rustls::client::UnbufferedClientConnection;
use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};
use rustls::{ClientConfig, RootCertStore};
use tungstenite::handshake::HandshakeError;

use crate::engine::tls13::{self, Opened, Records, TlsError};
use crate::engine::ws_frame::{Frame, FrameError, FrameReader};

/// Why a connection could not be made or was lost.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The URL is not `ws://` or `wss://host[:port]/path`.
    #[error("bad url: {0}")]
    BadUrl(String),
    /// Socket error.
    #[error("io: {0}")]
    Io(#[from] io::Error),
    /// TLS error (rustls's message: its types are not part of our API).
    #[error("tls: {0}")]
    Tls(String),
    /// WebSocket handshake error (tungstenite's message).
    #[error("websocket: {0}")]
    Ws(String),
    /// The handshake did not finish in time.
    #[error("connect timed out")]
    Timeout,
    /// The CA file could not be read.
    #[error("CA certificates: {0}")]
    Ca(String),
}

impl From<rustls::Error> for TransportError {
    fn from(e: rustls::Error) -> Self {
        TransportError::Tls(e.to_string())
    }
}

impl From<tungstenite::Error> for TransportError {
    fn from(e: tungstenite::Error) -> Self {
        TransportError::Ws(e.to_string())
    }
}

/// A parsed `ws://` / `wss://` URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WsUrl {
    /// `wss`?
    pub tls: bool,
    /// Host name or address.
    pub host: String,
    /// Port (default 80/443).
    pub port: u16,
    /// The whole URL, for the handshake request.
    pub url: String,
}

impl WsUrl {
    /// Parses `ws://host[:port][/path]` or `wss://...`.
    pub fn parse(url: &str) -> Result<Self, TransportError> {
        let bad = || TransportError::BadUrl(url.to_string());
        let (tls, rest) = if let Some(r) = url.strip_prefix("wss://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("ws://") {
            (false, r)
        } else {
            return Err(bad());
        };
        let authority = rest.split('/').next().unwrap_or("");
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => (
                h.trim_matches(|c| c == '[' || c == ']').to_string(),
                p.parse().map_err(|_| bad())?,
            ),
            _ => (authority.to_string(), if tls { 443 } else { 80 }),
        };
        if host.is_empty() {
            return Err(bad());
        }
        Ok(Self {
            tls,
            host,
            port,
            url: url.to_string(),
        })
    }
}

/// TLS trust: the webpki roots, plus extra CA certificates (e.g. the simulator's).
pub fn client_tls_config(extra_ca_pem: Option<&[u8]>) -> Result<Arc<ClientConfig>, TransportError> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(pem) = extra_ca_pem {
        let mut n = 0;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| TransportError::Ca(e.to_string()))?;
            roots
                .add(cert)
                .map_err(|e| TransportError::Ca(e.to_string()))?;
            n += 1;
        }
        if n == 0 {
            return Err(TransportError::Ca("no certificate in the PEM".into()));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    // TLS 1.3 only: after the handshake our own record layer (`tls13`) takes over, and it
    // speaks 1.3 (Kraken's endpoints do).
    let mut cfg = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.enable_secret_extraction = true;
    Ok(Arc::new(cfg))
}

/// The byte stream under the WebSocket: TCP, and over it our own TLS 1.3 record layer once
/// rustls has done the handshake (`tls13`). Reads hand out plaintext; writes are sealed into
/// `unsent` and go out on [`flush`](Write::flush). Reused buffers: nothing allocated per record.
pub struct Wire {
    tcp: TcpStream,
    tls: Option<Box<TlsIn>>,
    /// Bytes for the socket (sealed records over TLS), from `sent` on not yet taken.
    unsent: Vec<u8>,
    sent: usize,
}

/// What has been received over TLS: ciphertext in `buf[start..end]`, of which `plain` (within
/// `..start`) is an opened record's data not handed out yet.
struct TlsIn {
    records: Records,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    plain: std::ops::Range<usize>,
}

impl Wire {
    /// A TLS wire over `tcp` whose record layer is already keyed (tests of the layer).
    #[cfg(test)]
    pub(crate) fn tls_for_test(tcp: TcpStream, records: Records) -> Self {
        Wire {
            tcp,
            tls: Some(Box::new(TlsIn {
                records,
                buf: vec![0u8; 64 * 1024],
                start: 0,
                end: 0,
                plain: 0..0,
            })),
            unsent: Vec::with_capacity(64 * 1024),
            sent: 0,
        }
    }

    /// Bytes still waiting for the socket (tests).
    #[cfg(test)]
    pub(crate) fn has_unsent(&self) -> bool {
        self.sent < self.unsent.len()
    }

    fn tls_error(e: TlsError) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, e)
    }

    /// Seals a `close_notify` (TLS) to go with the next flush.
    fn close_notify(&mut self) {
        compact(&mut self.unsent, &mut self.sent);
        if let Some(t) = &mut self.tls {
            let _ = t.records.seal_close_notify(&mut self.unsent);
        }
    }
}

impl Read for Wire {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.sent < self.unsent.len() {
            self.flush()?;
        }
        let Some(t) = &mut self.tls else {
            return self.tcp.read(out);
        };
        loop {
            if !t.plain.is_empty() {
                let n = out.len().min(t.plain.len());
                out[..n].copy_from_slice(&t.buf[t.plain.start..t.plain.start + n]);
                t.plain.start += n;
                return Ok(n);
            }
            compact(&mut self.unsent, &mut self.sent);
            let queued = self.unsent.len();
            let (used, opened) = t
                .records
                .open(&mut t.buf[t.start..t.end], &mut self.unsent)
                .map_err(Self::tls_error)?;
            if used > 0 {
                let at = t.start;
                t.start += used;
                match opened {
                    Opened::Data(r) => t.plain = at + r.start..at + r.end,
                    Opened::Nothing => {}
                    Opened::Closed => return Ok(0),
                }
                if self.unsent.len() > queued {
                    // A key update's answer: it must precede anything we send next.
                    flush_to(&mut self.tcp, &mut self.unsent, &mut self.sent)?;
                }
                continue;
            }
            if matches!(opened, Opened::Closed) {
                return Ok(0);
            }
            if t.start == t.end {
                (t.start, t.end) = (0, 0);
            } else if t.buf.len() - t.end < tls13::MAX_RECORD {
                t.buf.copy_within(t.start..t.end, 0);
                t.end -= t.start;
                t.start = 0;
            }
            let n = self.tcp.read(&mut t.buf[t.end..])?;
            if n == 0 {
                // The socket closed without `close_notify`: possibly cut short (RFC 8446 §6.1).
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            t.end += n;
        }
    }
}

impl Write for Wire {
    /// Takes all of `buf` (sealed first over TLS); the socket gets it on `flush`.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        compact(&mut self.unsent, &mut self.sent);
        match &mut self.tls {
            Some(t) => t
                .records
                .seal(buf, &mut self.unsent)
                .map_err(Self::tls_error)?,
            None => self.unsent.extend_from_slice(buf),
        }
        Ok(buf.len())
    }

    /// Writes out what is queued, as far as the socket takes it (never blocks).
    fn flush(&mut self) -> io::Result<()> {
        flush_to(&mut self.tcp, &mut self.unsent, &mut self.sent)
    }
}

/// Drops what the socket has taken from the front of `unsent` (only when a write was partial:
/// `unsent` then holds just the backlog, and does not grow with what was already sent).
fn compact(unsent: &mut Vec<u8>, sent: &mut usize) {
    if *sent > 0 {
        unsent.drain(..*sent);
        *sent = 0;
    }
}

fn flush_to(tcp: &mut TcpStream, unsent: &mut Vec<u8>, sent: &mut usize) -> io::Result<()> {
    while *sent < unsent.len() {
        match tcp.write(&unsent[*sent..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => *sent += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    unsent.clear();
    *sent = 0;
    Ok(())
}

/// The length of the whole record at the start of `b`, if it is all there.
fn whole_record(b: &[u8]) -> Option<usize> {
    let [_, _, _, hi, lo, ..] = *b else {
        return None;
    };
    let n = tls13::HEADER + usize::from(u16::from_be_bytes([hi, lo]));
    (b.len() >= n).then_some(n)
}

/// Drives rustls' handshake over `sock` (non-blocking: `wait` is called whenever it would
/// block) and takes over its keys. `buf` receives what was read; returns the record layer and
/// how many bytes of `buf` are past the handshake (records for the layer to open).
pub(crate) fn tls_handshake<S: Read + Write>(
    mut conn: UnbufferedClientConnection,
    sock: &mut S,
    buf: &mut Vec<u8>,
    mut wait: impl FnMut() -> Result<(), TransportError>,
) -> Result<(Records, usize), TransportError> {
    use rustls::unbuffered::{ConnectionState, EncodeError, UnbufferedStatus};
    enum Next {
        Go,
        Read,
        Done,
    }
    // `buf[..have]` was read; `buf[..fed]` of it given to rustls, one whole record at a time,
    // so that nothing past the server's Finished reaches it: a record after it (a ticket, data,
    // a key update) is ours to open, with sequence numbers that start where rustls' end.
    let (mut have, mut fed) = (0, 0);
    let mut out = vec![0u8; 16 * 1024];
    let mut queued = 0;
    loop {
        let UnbufferedStatus { discard, state } = conn.process_tls_records(&mut buf[..fed]);
        let next = match state? {
            ConnectionState::EncodeTlsData(mut s) => loop {
                match s.encode(&mut out[queued..]) {
                    Ok(n) => {
                        queued += n;
                        break Next::Go;
                    }
                    Err(EncodeError::InsufficientSize(e)) => {
                        out.resize(queued + e.required_size, 0)
                    }
                    Err(e) => return Err(TransportError::Tls(e.to_string())),
                }
            },
            ConnectionState::TransmitTlsData(s) => {
                let mut at = 0;
                while at < queued {
                    match sock.write(&out[at..queued]) {
                        Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero).into()),
                        Ok(n) => at += n,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => wait()?,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                queued = 0;
                s.done();
                Next::Go
            }
            ConnectionState::BlockedHandshake => Next::Read,
            ConnectionState::WriteTraffic(_) => Next::Done,
            ConnectionState::PeerClosed | ConnectionState::Closed => {
                return Err(TransportError::Tls("closed during the handshake".into()));
            }
            _ => {
                return Err(TransportError::Tls(
                    "unexpected during the handshake".into(),
                ));
            }
        };
        buf.copy_within(discard..have, 0);
        have -= discard;
        fed -= discard;
        match next {
            Next::Go => {}
            Next::Done if fed == 0 => break,
            Next::Done => {
                return Err(TransportError::Tls(
                    "records left unread at the end of the handshake".into(),
                ));
            }
            Next::Read => {
                if let Some(n) = whole_record(&buf[fed..have]) {
                    fed += n;
                    continue;
                }
                if have == buf.len() {
                    let grown = (buf.len() * 2).max(tls13::MAX_RECORD);
                    buf.resize(grown, 0);
                }
                match sock.read(&mut buf[have..]) {
                    Ok(0) => return Err(TransportError::Tls("closed during the handshake".into())),
                    Ok(n) => have += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => wait()?,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }
    let (secrets, kernel) = conn.dangerous_into_kernel_connection()?;
    let records = Records::new(secrets, kernel).map_err(|e| TransportError::Tls(e.to_string()))?;
    Ok((records, have))
}

/// A connected WebSocket and the poller watching its socket.
pub struct Connection {
    wire: Wire,
    /// Frames are read into here.
    reader: FrameReader,
    /// Readiness of the socket (used by the blocking idle strategy and while connecting).
    pub poll: Poll,
    events: Events,
    /// Outgoing frames are built here (reused: no allocation per request).
    frame: Vec<u8>,
    /// The payload of a ping to answer (RFC 6455: a pong as soon as practical).
    pong: Option<arrayvec::ArrayVec<u8, 125>>,
    /// Masking keys (xorshift; RFC 6455 wants them unpredictable to intermediaries, which a
    /// per-connection seed from the clock gives).
    mask_state: u64,
}

/// Why a read failed: the connection is to be dropped.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The socket or TLS failed.
    #[error("io: {0}")]
    Io(#[from] io::Error),
    /// The peer broke RFC 6455.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The peer closed the socket.
    #[error("connection closed")]
    Closed,
}

/// Hands tungstenite's handshake the server's answer and nothing after it: the frames that
/// follow in the same read stay here (`rest`) for our reader.
struct UpToAnswer<S> {
    stream: S,
    /// Bytes read from the stream; `given` of them handed to tungstenite.
    got: Vec<u8>,
    given: usize,
    /// Where the answer's header ends (after its blank line), once seen.
    end: Option<usize>,
}

impl<S> UpToAnswer<S> {
    /// What was read after the answer.
    fn rest(&self) -> &[u8] {
        &self.got[self.given..]
    }
}

impl<S: Read> Read for UpToAnswer<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.given == self.got.len() {
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk)?;
            let from = self.got.len().saturating_sub(3);
            self.got.extend_from_slice(&chunk[..n]);
            if self.end.is_none() {
                self.end = self.got[from..]
                    .windows(4)
                    .position(|w| w == b"\r\n\r\n")
                    .map(|i| from + i + 4);
            }
        }
        let limit = self.end.unwrap_or(self.got.len());
        let n = buf.len().min(limit.saturating_sub(self.given));
        buf[..n].copy_from_slice(&self.got[self.given..self.given + n]);
        self.given += n;
        if n == 0 && !buf.is_empty() && self.end.is_some() {
            // The answer is all given (tungstenite parses it without reading on).
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    }
}

impl<S: Write> Write for UpToAnswer<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stream.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

const SOCK: Token = Token(0);
const OP_TEXT: u8 = 1;
const OP_CLOSE: u8 = 8;
const OP_PONG: u8 = 10;

impl Connection {
    /// Connects and completes the TLS and WebSocket handshakes within `timeout`.
    pub fn connect(
        url: &WsUrl,
        tls: &Arc<ClientConfig>,
        timeout: Duration,
    ) -> Result<Self, TransportError> {
        let deadline = Instant::now() + timeout;
        // Prefer IPv4: `localhost` often resolves to ::1 first while servers bind 127.0.0.1.
        let addrs: Vec<_> = (url.host.as_str(), url.port).to_socket_addrs()?.collect();
        let addr = addrs
            .iter()
            .find(|a| a.is_ipv4())
            .or(addrs.first())
            .copied()
            .ok_or_else(|| TransportError::BadUrl(url.url.clone()))?;
        let mut poll = Poll::new()?;
        let mut events = Events::with_capacity(8);
        let mut tcp = TcpStream::connect(addr)?;
        poll.registry()
            .register(&mut tcp, SOCK, Interest::READABLE | Interest::WRITABLE)?;
        // mio's connect is asynchronous: wait for writability, then check the outcome.
        loop {
            wait(&mut poll, &mut events, deadline)?;
            if let Some(e) = tcp.take_error()? {
                return Err(e.into());
            }
            match tcp.peer_addr() {
                Ok(_) => break,
                Err(e) if e.kind() == io::ErrorKind::NotConnected => continue,
                Err(e) => return Err(e.into()),
            }
        }
        tcp.set_nodelay(true)?;
        let tls = if url.tls {
            let name = ServerName::try_from(url.host.clone())
                .map_err(|_| TransportError::BadUrl(url.url.clone()))?;
            let conn = UnbufferedClientConnection::new(tls.clone(), name)?;
            // Room for two whole records, so one can always be read behind a partial one.
            let mut buf = vec![0u8; 64 * 1024];
            let (records, end) = tls_handshake(conn, &mut tcp, &mut buf, || {
                wait(&mut poll, &mut events, deadline)
            })?;
            Some(Box::new(TlsIn {
                records,
                buf,
                start: 0,
                end,
                plain: 0..0,
            }))
        } else {
            None
        };
        let wire = Wire {
            tcp,
            tls,
            unsent: Vec::with_capacity(64 * 1024),
            sent: 0,
        };
        let answer = UpToAnswer {
            stream: wire,
            got: Vec::with_capacity(4096),
            given: 0,
            end: None,
        };
        let mut hs = tungstenite::client(url.url.as_str(), answer);
        let ws = loop {
            match hs {
                Ok((ws, _resp)) => break ws,
                Err(HandshakeError::Interrupted(mid)) => {
                    wait(&mut poll, &mut events, deadline)?;
                    hs = mid.handshake();
                }
                Err(HandshakeError::Failure(e)) => return Err(e.into()),
            }
        };
        let answer = ws.into_inner();
        let mut reader = FrameReader::new(256 * 1024);
        reader.push(answer.rest());
        let wire = answer.stream;
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Ok(Self {
            wire,
            reader,
            poll,
            events,
            frame: Vec::with_capacity(16 * 1024),
            pong: None,
            mask_state: seed | 1,
        })
    }

    /// The next frame (`Ok(None)`: nothing more to read now). A ping is answered by itself
    /// (the pong goes with the next write or read).
    pub fn read(&mut self) -> Result<Option<Frame<'_>>, ReadError> {
        if self.pong.is_some() {
            self.send_pong()?;
        }
        loop {
            if self.reader.advance()? {
                let f = self.reader.take();
                if let Frame::Ping(p) = f {
                    self.pong = arrayvec::ArrayVec::try_from(p).ok();
                }
                return Ok(Some(f));
            }
            match self.reader.fill(&mut self.wire) {
                Ok(0) => return Err(ReadError::Closed),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn send_pong(&mut self) -> io::Result<()> {
        let Some(p) = self.pong.take() else {
            return Ok(());
        };
        self.send(OP_PONG, &p)
    }

    /// Sends `payload` as one masked text frame. The frame is built in a reused buffer, sealed
    /// (over TLS) into another, and written as far as the socket takes it; the rest goes with
    /// the next write or [`flush`](Self::flush). `payload` must be UTF-8 (the engine's
    /// requests are).
    pub fn send_text(&mut self, payload: &[u8]) -> io::Result<()> {
        if self.pong.is_some() {
            self.send_pong()?;
        }
        self.send(OP_TEXT, payload)
    }

    fn send(&mut self, opcode: u8, payload: &[u8]) -> io::Result<()> {
        self.mask_state ^= self.mask_state << 13;
        self.mask_state ^= self.mask_state >> 7;
        self.mask_state ^= self.mask_state << 17;
        let key = (self.mask_state as u32).to_ne_bytes();
        frame_op_into(&mut self.frame, opcode, payload, key);
        self.wire.write_all(&self.frame)?;
        self.wire.flush()
    }

    /// Writes out what is queued, as far as the socket takes it (never blocks).
    pub fn flush(&mut self) -> io::Result<()> {
        self.wire.flush()
    }

    /// Blocks until the socket is readable or `timeout` passes.
    pub fn wait_readable(&mut self, timeout: Duration) -> io::Result<()> {
        self.poll.poll(&mut self.events, Some(timeout))
    }

    /// Sends a close (1000, normal) and shuts the socket down (best effort).
    pub fn shutdown(&mut self) {
        let _ = self.send(OP_CLOSE, &1000u16.to_be_bytes());
        self.wire.close_notify();
        let _ = self.flush();
        let _ = self.wire.tcp.shutdown(std::net::Shutdown::Both);
    }
}

/// Writes a final, masked text frame of `payload` into `out` (cleared first).
pub fn frame_into(out: &mut Vec<u8>, payload: &[u8], key: [u8; 4]) {
    frame_op_into(out, OP_TEXT, payload, key);
}

/// Writes a final, masked frame of `opcode` and `payload` into `out` (cleared first).
fn frame_op_into(out: &mut Vec<u8>, opcode: u8, payload: &[u8], key: [u8; 4]) {
    out.clear();
    out.push(0x80 | opcode);
    match payload.len() {
        n @ 0..=125 => out.push(0x80 | n as u8),
        n @ 126..=0xffff => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&key);
    let start = out.len();
    out.extend_from_slice(payload);
    // Eight bytes at a time; every chunk starts at a multiple of 4, so the key lines up.
    let mask = u32::from_ne_bytes(key);
    let mask = u64::from(mask) | (u64::from(mask) << 32);
    let mut chunks = out[start..].chunks_exact_mut(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        c.copy_from_slice(&(u64::from_ne_bytes(w) ^ mask).to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= key[i & 3];
    }
}

fn wait(poll: &mut Poll, events: &mut Events, deadline: Instant) -> Result<(), TransportError> {
    let now = Instant::now();
    if now >= deadline {
        return Err(TransportError::Timeout);
    }
    poll.poll(
        events,
        Some((deadline - now).min(Duration::from_millis(50))),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hands out its bytes in the chunks given, then `WouldBlock`.
    struct Chunks(Vec<&'static [u8]>);

    impl Read for Chunks {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let c = self.0.remove(0);
            buf[..c.len()].copy_from_slice(c);
            Ok(c.len())
        }
    }

    /// The handshake's reader is given the server's answer and nothing more, wherever the
    /// answer's blank line falls; what came after it in the same reads is kept for our frame
    /// reader (a status frame Kraken sends at once must not be lost).
    #[test]
    fn the_handshake_gets_the_answer_and_the_frames_after_it_are_kept() {
        let answer: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n";
        let frame: &[u8] = b"\x81\x02{}";
        let whole = [answer, frame].concat().leak();
        let split = answer.len() - 2; // the blank line cut in two
        for chunks in [vec![&whole[..]], vec![&whole[..split], &whole[split..]]] {
            let mut up = UpToAnswer {
                stream: Chunks(chunks),
                got: Vec::new(),
                given: 0,
                end: None,
            };
            let mut given = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                match up.read(&mut buf) {
                    Ok(n) => given.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => panic!("{e}"),
                }
            }
            assert_eq!(given, answer);
            assert_eq!(up.rest(), frame);
        }
    }

    #[test]
    fn frames_parse_back_with_their_payload() {
        use tungstenite::protocol::frame::FrameHeader;
        for len in [0usize, 1, 125, 126, 230, 65_535, 65_536, 70_000] {
            let payload: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            let key = [0x12, 0x34, 0x56, 0x78];
            let mut out = Vec::new();
            super::frame_into(&mut out, &payload, key);
            let mut cur = std::io::Cursor::new(&out);
            let (h, n) = FrameHeader::parse(&mut cur).unwrap().unwrap();
            assert_eq!(n as usize, len);
            assert!(h.is_final);
            assert_eq!(h.mask, Some(key));
            let mut body = out[cur.position() as usize..].to_vec();
            assert_eq!(body.len(), len);
            for (i, b) in body.iter_mut().enumerate() {
                *b ^= key[i & 3];
            }
            assert_eq!(body, payload, "len {len}");
        }
    }

    #[test]
    fn parses_urls() {
        let u = WsUrl::parse("wss://ws-auth.kraken.com/v2").unwrap();
        assert_eq!(
            (u.tls, u.host.as_str(), u.port),
            (true, "ws-auth.kraken.com", 443)
        );
        let u = WsUrl::parse("ws://127.0.0.1:9001/v2").unwrap();
        assert_eq!((u.tls, u.host.as_str(), u.port), (false, "127.0.0.1", 9001));
        assert!(WsUrl::parse("http://x").is_err());
        assert!(WsUrl::parse("ws://:1/").is_err());
        assert!(WsUrl::parse("ws://h:notaport/").is_err());
    }

    #[test]
    fn tls_config_rejects_garbage_ca() {
        assert!(client_tls_config(None).is_ok());
        assert!(matches!(
            client_tls_config(Some(b"not a pem")),
            Err(TransportError::Ca(_))
        ));
    }
}

/// What writing one of a session's transmits did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Sent {
    /// The frame was handed to the socket (or queued in tungstenite for the next flush).
    Wrote,
    /// Nothing written: no socket, or the socket was closed as told.
    Nothing,
    /// The write failed: the socket is dropped; the session must hear why.
    Lost(String),
}

/// Carries out one transmit of a session on `conn`: both sessions' drivers write this way.
pub(crate) fn transmit(
    conn: &mut Option<Connection>,
    t: crate::engine::outbox::Transmit<'_>,
) -> Sent {
    use crate::engine::outbox::Transmit;
    match t {
        Transmit::Text(frame) => {
            let Some(c) = conn.as_mut() else {
                return Sent::Nothing;
            };
            match c.send_text(frame) {
                Ok(()) => Sent::Wrote,
                Err(e) => {
                    if let Some(mut c) = conn.take() {
                        c.shutdown();
                    }
                    Sent::Lost(format!("write: {e}"))
                }
            }
        }
        Transmit::Close => {
            if let Some(mut c) = conn.take() {
                c.shutdown();
            }
            Sent::Nothing
        }
    }
}
