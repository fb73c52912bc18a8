//! The public socket's driver: a [`MarketSession`] and its WebSocket. It only moves bytes (the
//! session decides); the engine's I/O thread runs one beside the private socket, and
//! `kraken-exec book --symbol` runs one alone on its main thread. Connecting blocks, so it is
//! done on a thread of its own and the socket handed over: the private socket's orders and
//! fills never wait for the public one's handshake.

use std::sync::Arc;
use std::time::Duration;

use crate::engine::ws_frame::Frame;
use rustls::ClientConfig;

use crate::engine::clock::now_ns;
use crate::engine::transport::{self, Connection, Sent, WsUrl};
use crate::market::session::MarketSession;

/// What one read found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Read {
    /// A text frame, handed to the session (its events wait there).
    Frame,
    /// A control frame (ping, pong).
    Control,
    /// Nothing to read now (or no socket).
    Nothing,
    /// The socket was lost (the session knows).
    Lost,
}

/// A connection attempt's outcome, from the thread that made it.
type Attempt = std::sync::mpsc::Receiver<Result<Connection, String>>;

/// See the module documentation.
pub struct Feed {
    url: WsUrl,
    tls: Arc<ClientConfig>,
    connect_timeout: Duration,
    /// The session.
    pub session: MarketSession,
    conn: Option<Connection>,
    /// A connection being made on its own thread: the handshake (DNS, TCP, TLS, WebSocket)
    /// blocks, and the private socket on this thread must not wait for it.
    attempt: Option<Attempt>,
}

impl Feed {
    /// A driver for `session` over `url`; nothing is connected until the session asks.
    pub fn new(
        url: WsUrl,
        tls: Arc<ClientConfig>,
        connect_timeout: Duration,
        session: MarketSession,
    ) -> Self {
        Self {
            url,
            tls,
            connect_timeout,
            session,
            conn: None,
            attempt: None,
        }
    }

    /// Whether the socket is up.
    pub fn is_connected(&self) -> bool {
        self.conn.is_some()
    }

    /// Starts a connection if the session says to (on a short-lived thread of its own: cold),
    /// and takes in the outcome of one started earlier, writing what the session then queued.
    /// True if an attempt ended.
    pub fn poll_connect(&mut self, now: u64) -> bool {
        if let Some(rx) = &self.attempt {
            let outcome = match rx.try_recv() {
                Ok(r) => r,
                Err(std::sync::mpsc::TryRecvError::Empty) => return false,
                Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                    Err("the connecting thread died".to_string())
                }
            };
            self.attempt = None;
            match outcome {
                Ok(c) => {
                    tracing::info!(url = %self.url.url, "public socket connected");
                    self.conn = Some(c);
                    self.session.handle_connected(now_ns());
                }
                Err(e) => self.session.handle_connect_failed(now_ns(), &e),
            }
            self.pump_out();
            return true;
        }
        if !self.session.poll_connect(now) {
            return false;
        }
        let (tx, rx) = std::sync::mpsc::channel();
        let (url, tls, timeout) = (self.url.clone(), self.tls.clone(), self.connect_timeout);
        let spawned = std::thread::Builder::new()
            .name("kraken-connect".into())
            .spawn(move || {
                let _ =
                    tx.send(Connection::connect(&url, &tls, timeout).map_err(|e| e.to_string()));
            });
        match spawned {
            Ok(_) => self.attempt = Some(rx),
            Err(e) => {
                self.session
                    .handle_connect_failed(now_ns(), &format!("spawn: {e}"));
                self.pump_out();
            }
        }
        false
    }

    /// Writes the frames the session queued; closes the socket if it says so.
    pub fn pump_out(&mut self) {
        while let Some(t) = self.session.poll_transmit() {
            if let Sent::Lost(why) = transport::transmit(&mut self.conn, t) {
                self.session.handle_disconnected(now_ns(), &why);
            }
        }
    }

    /// Reads one frame, if one is there, and hands it to the session.
    pub fn read_one(&mut self) -> Read {
        let Some(c) = self.conn.as_mut() else {
            return Read::Nothing;
        };
        // Wire-to-strategy starts here, before the read syscall, TLS and WebSocket decoding.
        let readable = now_ns();
        let why = match c.read() {
            Ok(Some(Frame::Text(t))) => {
                self.session.handle_frame(readable, t);
                self.pump_out();
                return Read::Frame;
            }
            Ok(Some(Frame::Close(_))) => "closed by peer".to_string(),
            Ok(Some(_)) => {
                self.session.handle_control_frame(readable);
                return Read::Control;
            }
            Ok(None) => {
                // Write what is queued (a pong, the rest of a request).
                let _ = c.flush();
                return Read::Nothing;
            }
            Err(e) => format!("read: {e}"),
        };
        self.drop_socket();
        self.session.handle_disconnected(now_ns(), &why);
        self.pump_out();
        Read::Lost
    }

    /// Runs the session's timers due at `now` and writes what they queued.
    pub fn handle_timeout(&mut self, now: u64) {
        if self.session.poll_timeout().is_some_and(|t| t <= now) {
            self.session.handle_timeout(now);
            self.pump_out();
        }
    }

    /// Blocks until the socket is readable or `d` passes (sleeps if there is no socket).
    pub fn wait(&mut self, d: Duration) {
        match self.conn.as_mut() {
            Some(c) => {
                let _ = c.wait_readable(d);
            }
            None => std::thread::sleep(d),
        }
    }

    /// A stop: the session closes the socket (an attempt still under way is abandoned; its
    /// thread ends with its timeout).
    pub fn shutdown(&mut self) {
        self.attempt = None;
        self.session.handle_shutdown();
        self.pump_out();
    }

    fn drop_socket(&mut self) {
        if let Some(mut c) = self.conn.take() {
            c.shutdown();
        }
    }
}
