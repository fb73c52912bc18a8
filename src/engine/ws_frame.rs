//! Reading WebSocket frames (RFC 6455, as a client) from decrypted bytes, into a buffer of our
//! own: no allocation per frame once the buffer is as large as the largest frame seen.
//!
//! tungstenite still does the opening handshake; after it, frames are read here, because its
//! reader hands every message over in a freshly allocated buffer. The rules are tungstenite's
//! (so its behaviour and ours can be compared on any input, see the property test below):
//! reserved bits set, a masked frame from the server, a fragmented or oversized (> 125 bytes)
//! control frame, an unknown opcode, a continuation with no message begun or a new message
//! before the last one ended, text that is not UTF-8, and a one-byte close payload fail the
//! connection; frames up to 16 MiB, messages up to 64 MiB. Control frames may come between the
//! fragments of a message.

use std::io::{self, Read};

/// Largest frame accepted (tungstenite's default).
pub(crate) const MAX_FRAME: usize = 16 << 20;
/// Largest message accepted, fragments together (tungstenite's default).
pub(crate) const MAX_MESSAGE: usize = 64 << 20;
/// Free room wanted at the end of the buffer before a read.
const MIN_READ: usize = 16 * 1024;

/// One message or control frame.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Frame<'a> {
    /// A text message (checked UTF-8).
    Text(&'a [u8]),
    /// A binary message.
    Binary(&'a [u8]),
    /// A ping: answer it with a pong of the same payload.
    Ping(&'a [u8]),
    /// A pong.
    Pong(&'a [u8]),
    /// A close, with its code and reason if it had any (a code no one may send reads as 1002,
    /// protocol error, as tungstenite has it).
    Close(Option<(u16, &'a str)>),
}

/// Why the connection must fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum FrameError {
    /// A rule of RFC 6455 was broken.
    #[error("websocket protocol: {0}")]
    Protocol(&'static str),
    /// A frame or message larger than we accept.
    #[error("websocket frame or message too large")]
    TooLarge,
    /// A text message that is not UTF-8.
    #[error("websocket text is not UTF-8")]
    Utf8,
}

/// Frames from a byte stream: [`FrameReader::fill`] reads, [`FrameReader::next_frame`] parses.
pub(crate) struct FrameReader {
    /// Bytes read and not yet parsed are `buf[start..end]`.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// The message being put together from fragments, and whether it is text.
    partial: Vec<u8>,
    partial_text: Option<bool>,
    /// Of a text message's fragments, the bytes checked to be UTF-8 so far (a character may
    /// be split between fragments; anything else invalid fails at once, as in tungstenite).
    partial_valid: usize,
    /// A frame parsed and not taken yet.
    ready: Option<Ready>,
}

/// A frame ready to hand over: its opcode and where its payload is (in `partial` for a
/// message gathered from fragments, else in `buf`).
#[derive(Clone, Copy)]
struct Ready {
    op: u8,
    a: usize,
    b: usize,
    partial: bool,
}

/// A frame's header, parsed.
struct Header {
    fin: bool,
    rsv: bool,
    opcode: u8,
    masked: bool,
    /// Header length, then payload length.
    header_len: usize,
    len: usize,
}

impl FrameReader {
    /// A reader with `capacity` bytes of buffer (it grows only for a larger frame).
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            buf: vec![0; capacity.max(MIN_READ)],
            start: 0,
            end: 0,
            partial: Vec::new(),
            partial_text: None,
            partial_valid: 0,
            ready: None,
        }
    }

    /// Takes bytes read by someone else (what followed the handshake's answer).
    pub(crate) fn push(&mut self, bytes: &[u8]) {
        self.make_room(bytes.len());
        self.buf[self.end..self.end + bytes.len()].copy_from_slice(bytes);
        self.end += bytes.len();
    }

    /// Reads what `src` has into the buffer (one `read` call). `Ok(0)`: end of stream.
    pub(crate) fn fill(&mut self, src: &mut impl Read) -> io::Result<usize> {
        self.make_room(MIN_READ);
        let n = src.read(&mut self.buf[self.end..])?;
        self.end += n;
        Ok(n)
    }

    /// Room for at least `want` more bytes after `end`: moves what is unparsed to the front,
    /// and grows the buffer only if that is not enough.
    fn make_room(&mut self, want: usize) {
        if self.buf.len() - self.end >= want {
            return;
        }
        // A frame made ready and not taken yet stays where its indices say.
        let keep = match self.ready {
            Some(r) if !r.partial => r.a.min(self.start),
            _ => self.start,
        };
        if keep > 0 {
            self.buf.copy_within(keep..self.end, 0);
            self.end -= keep;
            self.start -= keep;
            if let Some(r) = self.ready.as_mut().filter(|r| !r.partial) {
                r.a -= keep;
                r.b -= keep;
            }
        }
        if self.buf.len() - self.end < want {
            let len = (self.end + want).next_power_of_two();
            self.buf.resize(len, 0);
        }
    }

    fn header(&self) -> Result<Option<Header>, FrameError> {
        let b = &self.buf[self.start..self.end];
        if b.len() < 2 {
            return Ok(None);
        }
        let (one, two) = (b[0], b[1]);
        let (len, mut header_len) = match two & 0x7f {
            126 => {
                let Some(x) = b.get(2..4) else {
                    return Ok(None);
                };
                (u64::from(u16::from_be_bytes([x[0], x[1]])), 4)
            }
            127 => {
                let Some(x) = b.get(2..10) else {
                    return Ok(None);
                };
                let mut a = [0u8; 8];
                a.copy_from_slice(x);
                (u64::from_be_bytes(a), 10)
            }
            n => (u64::from(n), 2),
        };
        let masked = two & 0x80 != 0;
        if masked {
            header_len += 4;
        }
        if b.len() < header_len {
            return Ok(None);
        }
        // With the whole header (as tungstenite checks them): the opcode, then the length.
        if !matches!(one & 0x0f, 0..=2 | 8..=10) {
            return Err(FrameError::Protocol("unknown opcode"));
        }
        if len > MAX_FRAME as u64 {
            return Err(FrameError::TooLarge);
        }
        Ok(Some(Header {
            fin: one & 0x80 != 0,
            rsv: one & 0x70 != 0,
            opcode: one & 0x0f,
            masked,
            header_len,
            len: len as usize,
        }))
    }

    /// The next whole frame in the buffer (`None`: more bytes are needed; call
    /// [`fill`](Self::fill)). Fragments are gathered into their message; an error fails the
    /// connection.
    #[cfg(test)]
    pub(crate) fn next_frame(&mut self) -> Result<Option<Frame<'_>>, FrameError> {
        Ok(if self.advance()? {
            Some(self.take())
        } else {
            None
        })
    }

    /// Parses until a frame is ready to hand over ([`take`](Self::take) it), taking in the
    /// fragments of a message. `false`: more bytes are needed.
    pub(crate) fn advance(&mut self) -> Result<bool, FrameError> {
        if self.ready.is_some() {
            return Ok(true);
        }
        loop {
            let Some(h) = self.header()? else {
                self.make_room(MIN_READ);
                return Ok(false);
            };
            let total = h.header_len + h.len;
            if self.end - self.start < total {
                // The whole frame must fit: make room for the rest of it.
                self.make_room(total - (self.end - self.start));
                return Ok(false);
            }
            let at = self.start + h.header_len;
            let (a, b) = (at, at + h.len);
            self.start += total;
            if h.rsv {
                return Err(FrameError::Protocol("reserved bits set"));
            }
            if h.masked {
                return Err(FrameError::Protocol("masked frame from the server"));
            }
            if h.opcode >= 8 {
                if !h.fin {
                    return Err(FrameError::Protocol("fragmented control frame"));
                }
                if h.len > 125 {
                    return Err(FrameError::Protocol("control frame longer than 125 bytes"));
                }
                if h.opcode == 8 {
                    close(&self.buf[a..b])?;
                }
                self.ready = Some(Ready {
                    op: h.opcode,
                    a,
                    b,
                    partial: false,
                });
                return Ok(true);
            }
            let text = match (h.opcode, self.partial_text) {
                (0, None) => return Err(FrameError::Protocol("continuation with no message")),
                (0, Some(text)) => {
                    if self.partial.len() + h.len > MAX_MESSAGE {
                        return Err(FrameError::TooLarge);
                    }
                    self.partial.extend_from_slice(&self.buf[a..b]);
                    self.check_partial(text)?;
                    if !h.fin {
                        continue;
                    }
                    if text && self.partial_valid != self.partial.len() {
                        return Err(FrameError::Utf8);
                    }
                    self.partial_text = None;
                    let (op, b) = (if text { 1 } else { 2 }, self.partial.len());
                    self.ready = Some(Ready {
                        op,
                        a: 0,
                        b,
                        partial: true,
                    });
                    return Ok(true);
                }
                (_, Some(_)) => {
                    return Err(FrameError::Protocol("a new message before the last ended"));
                }
                (1, None) => true,
                _ => false,
            };
            if h.fin {
                if text && simdutf8::basic::from_utf8(&self.buf[a..b]).is_err() {
                    return Err(FrameError::Utf8);
                }
                self.ready = Some(Ready {
                    op: h.opcode,
                    a,
                    b,
                    partial: false,
                });
                return Ok(true);
            }
            self.partial.clear();
            self.partial.extend_from_slice(&self.buf[a..b]);
            self.partial_text = Some(text);
            self.partial_valid = 0;
            self.check_partial(text)?;
        }
    }

    /// The frame [`advance`](Self::advance) made ready (a pong of nothing if none was).
    pub(crate) fn take(&mut self) -> Frame<'_> {
        let Some(r) = self.ready.take() else {
            return Frame::Pong(&[]);
        };
        let p = if r.partial {
            &self.partial[r.a..r.b]
        } else {
            &self.buf[r.a..r.b]
        };
        match r.op {
            1 => Frame::Text(p),
            2 => Frame::Binary(p),
            8 => Frame::Close(close(p).ok().flatten()),
            9 => Frame::Ping(p),
            _ => Frame::Pong(p),
        }
    }

    /// Checks the text gathered so far: an invalid sequence fails, a character cut at the
    /// end waits for the next fragment.
    fn check_partial(&mut self, text: bool) -> Result<(), FrameError> {
        if !text {
            return Ok(());
        }
        match std::str::from_utf8(&self.partial[self.partial_valid..]) {
            Ok(_) => self.partial_valid = self.partial.len(),
            Err(e) if e.error_len().is_none() => self.partial_valid += e.valid_up_to(),
            Err(_) => return Err(FrameError::Utf8),
        }
        Ok(())
    }
}

/// A close frame's payload: nothing, or a code and a UTF-8 reason.
fn close(p: &[u8]) -> Result<Option<(u16, &str)>, FrameError> {
    match p {
        [] => Ok(None),
        [_] => Err(FrameError::Protocol("one-byte close payload")),
        [hi, lo, reason @ ..] => {
            let reason = std::str::from_utf8(reason).map_err(|_| FrameError::Utf8)?;
            let code = u16::from_be_bytes([*hi, *lo]);
            let allowed = matches!(code, 1000..=1003 | 1007..=1013 | 3000..=4999);
            Ok(Some(if allowed {
                (code, reason)
            } else {
                (1002, "Protocol violation")
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use tungstenite::protocol::{Role, WebSocket, frame::CloseFrame};
    use tungstenite::{Error, Message, error::ProtocolError};

    /// What a reader made of a byte stream: its messages, up to the first close, and how it
    /// ended.
    #[derive(Debug, PartialEq)]
    enum Seen {
        Text(String),
        Binary(Vec<u8>),
        Ping(Vec<u8>),
        Pong(Vec<u8>),
        Close(Option<(u16, String)>),
    }

    #[derive(Debug, PartialEq)]
    enum End {
        /// The input ran out (or a close ended it).
        Eof,
        /// The connection failed.
        Failed,
    }

    /// Reads from a byte slice, `chunk` bytes at a time; writes go nowhere (tungstenite writes
    /// its pongs and close replies).
    struct Input<'a> {
        data: &'a [u8],
        chunk: usize,
    }

    impl Read for Input<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.data.len().min(buf.len()).min(self.chunk);
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    impl io::Write for Input<'_> {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn ours(data: &[u8], chunk: usize) -> (Vec<Seen>, End) {
        let mut r = FrameReader::new(64);
        let mut input = Input { data, chunk };
        let mut seen = Vec::new();
        loop {
            match r.next_frame() {
                Ok(Some(f)) => {
                    let close = matches!(f, Frame::Close(_));
                    seen.push(match f {
                        Frame::Text(t) => Seen::Text(String::from_utf8(t.to_vec()).unwrap()),
                        Frame::Binary(b) => Seen::Binary(b.to_vec()),
                        Frame::Ping(p) => Seen::Ping(p.to_vec()),
                        Frame::Pong(p) => Seen::Pong(p.to_vec()),
                        Frame::Close(c) => Seen::Close(c.map(|(c, r)| (c, r.to_string()))),
                    });
                    if close {
                        return (seen, End::Eof);
                    }
                }
                Ok(None) => {
                    if r.fill(&mut input).unwrap() == 0 {
                        return (seen, End::Eof);
                    }
                }
                Err(_) => return (seen, End::Failed),
            }
        }
    }

    fn theirs(data: &[u8], chunk: usize) -> (Vec<Seen>, End) {
        let mut ws = WebSocket::from_raw_socket(Input { data, chunk }, Role::Client, None);
        let mut seen = Vec::new();
        loop {
            match ws.read() {
                Ok(m) => {
                    let close = matches!(m, Message::Close(_));
                    seen.push(match m {
                        Message::Text(t) => Seen::Text(t.as_str().to_string()),
                        Message::Binary(b) => Seen::Binary(b.to_vec()),
                        Message::Ping(p) => Seen::Ping(p.to_vec()),
                        Message::Pong(p) => Seen::Pong(p.to_vec()),
                        Message::Close(c) => {
                            Seen::Close(c.map(|CloseFrame { code, reason }| {
                                (code.into(), reason.to_string())
                            }))
                        }
                        Message::Frame(_) => unreachable!("not returned by read"),
                    });
                    if close {
                        return (seen, End::Eof);
                    }
                }
                Err(Error::Protocol(ProtocolError::ResetWithoutClosingHandshake))
                | Err(Error::ConnectionClosed) => return (seen, End::Eof),
                Err(Error::Io(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    return (seen, End::Eof);
                }
                Err(_) => return (seen, End::Failed),
            }
        }
    }

    /// One frame's bytes (`len_form`: 0 the shortest length encoding, 1 the 16-bit one, 2 the
    /// 64-bit one, where they can hold the length).
    fn frame(
        fin: bool,
        rsv: u8,
        opcode: u8,
        mask: Option<[u8; 4]>,
        len_form: u8,
        p: &[u8],
    ) -> Vec<u8> {
        let mut v = vec![(u8::from(fin) << 7) | ((rsv & 7) << 4) | (opcode & 0x0f)];
        let m = if mask.is_some() { 0x80 } else { 0 };
        match (p.len(), len_form) {
            (n, 0) if n < 126 => v.push(m | n as u8),
            (n, 0 | 1) if n < 65_536 => {
                v.push(m | 126);
                v.extend_from_slice(&(n as u16).to_be_bytes());
            }
            (n, _) => {
                v.push(m | 127);
                v.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        match mask {
            Some(k) => {
                v.extend_from_slice(&k);
                v.extend(p.iter().enumerate().map(|(i, b)| b ^ k[i % 4]));
            }
            None => v.extend_from_slice(p),
        }
        v
    }

    /// Mostly well-formed frames of every kind, sometimes breaking a rule.
    fn frames() -> impl Strategy<Value = Vec<u8>> {
        let payload = prop_oneof![
            "[ -~é€😀]{0,40}".prop_map(String::into_bytes),
            proptest::collection::vec(any::<u8>(), 0..200),
            Just(vec![0x03, 0xe8]),
            (any::<u16>(), "[a-z]{0,8}").prop_map(|(c, r)| {
                let mut v = c.to_be_bytes().to_vec();
                v.extend_from_slice(r.as_bytes());
                v
            }),
            proptest::collection::vec(any::<u8>(), 120..400),
        ];
        let one = (
            prop::bool::weighted(0.8),
            prop_oneof![9 => Just(0u8), 1 => 1u8..8],
            prop_oneof![
                Just(0u8),
                Just(1),
                Just(2),
                Just(8),
                Just(9),
                Just(10),
                0u8..16
            ],
            prop::option::weighted(0.05, any::<[u8; 4]>()),
            0u8..3,
            payload,
        )
            .prop_map(|(fin, rsv, op, mask, form, p)| frame(fin, rsv, op, mask, form, &p));
        proptest::collection::vec(one, 0..12).prop_map(|fs| fs.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        /// On any stream of frames, ours and tungstenite's reader see the same messages and
        /// end the same way, whatever the read sizes.
        #[test]
        fn the_reader_agrees_with_tungstenite(data in frames(), chunk in 1usize..300) {
            prop_assert_eq!(ours(&data, chunk), theirs(&data, 4096));
        }

        /// The same with bytes of the stream overwritten, dropped or cut short.
        #[test]
        fn the_reader_agrees_with_tungstenite_on_mutated_input(
            data in frames(),
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
            cut in any::<prop::sample::Index>(),
            chunk in 1usize..300,
        ) {
            let mut data = data;
            for (i, b) in edits {
                if !data.is_empty() {
                    let i = i.index(data.len());
                    data[i] = b;
                }
            }
            if !data.is_empty() {
                data.truncate(cut.index(data.len() + 1));
            }
            prop_assert_eq!(ours(&data, chunk), theirs(&data, 4096));
        }

        /// Arbitrary bytes.
        #[test]
        fn the_reader_agrees_with_tungstenite_on_noise(
            data in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            prop_assert_eq!(ours(&data, 7), theirs(&data, 4096));
        }
    }

    #[test]
    fn fragments_gather_around_a_ping_and_large_frames_grow_the_buffer_once() {
        let mut data = frame(false, 0, 1, None, 0, b"{\"a\":");
        data.extend(frame(true, 0, 9, None, 0, b"hi"));
        data.extend(frame(true, 0, 0, None, 0, b"1}"));
        let big = vec![b'x'; 100_000];
        data.extend(frame(true, 0, 2, None, 2, &big));
        let (seen, end) = ours(&data, 1000);
        assert_eq!(
            seen,
            [
                Seen::Ping(b"hi".to_vec()),
                Seen::Text("{\"a\":1}".into()),
                Seen::Binary(big)
            ]
        );
        assert_eq!(end, End::Eof);
        // Once: the large frame's header asks for room for all of it.
        let mut r = FrameReader::new(64);
        let mut input = Input {
            data: &data,
            chunk: 1000,
        };
        let mut sizes = vec![r.buf.len()];
        while r.fill(&mut input).unwrap() > 0 {
            while r.next_frame().unwrap().is_some() {}
            if sizes.last() != Some(&r.buf.len()) {
                sizes.push(r.buf.len());
            }
        }
        assert_eq!(sizes, [MIN_READ, 131_072]);
    }

    /// The limits are tungstenite's and inclusive: a control frame of 125 bytes, a frame of
    /// `MAX_FRAME` bytes, a message of `MAX_MESSAGE` bytes pass; one byte more fails.
    #[test]
    fn frames_and_messages_may_be_as_large_as_the_limits() {
        let ping = frame(true, 0, 9, None, 0, &[1; 125]);
        assert_eq!(ours(&ping, 100).0, [Seen::Ping(vec![1; 125])]);

        // Fragments of a binary message adding up to `MAX_MESSAGE` (+ `extra`), the first a
        // frame of `MAX_FRAME` bytes.
        let message = |extra: usize| {
            let sizes = [MAX_FRAME, MAX_FRAME, MAX_FRAME, MAX_FRAME - 1, 1 + extra];
            let chunk = vec![5u8; MAX_FRAME];
            let mut v = Vec::with_capacity(MAX_MESSAGE + 64);
            for (i, n) in sizes.iter().enumerate() {
                let op = if i == 0 { 2 } else { 0 };
                v.extend(frame(i == sizes.len() - 1, 0, op, None, 2, &chunk[..*n]));
            }
            v
        };
        let read = |data: &[u8]| {
            let mut r = FrameReader::new(64);
            let mut input = Input {
                data,
                chunk: 1 << 20,
            };
            loop {
                match r.next_frame() {
                    Ok(Some(Frame::Binary(b))) => return Ok(b.len()),
                    Ok(Some(f)) => panic!("{f:?}"),
                    Ok(None) => assert!(r.fill(&mut input).unwrap() > 0),
                    Err(e) => return Err(e),
                }
            }
        };
        assert_eq!(read(&message(0)), Ok(MAX_MESSAGE));
        assert_eq!(read(&message(1)), Err(FrameError::TooLarge));
        // Two fragments whose sizes multiply past the limit are still a small message.
        let mut two = frame(false, 0, 2, None, 1, &[1; 10_000]);
        two.extend(frame(true, 0, 0, None, 1, &[2; 10_000]));
        assert_eq!(read(&two), Ok(20_000));
    }

    /// Text checked fragment by fragment: a character cut between fragments is checked whole
    /// once its end arrives, after fragments that were valid to their last byte.
    #[test]
    fn a_character_cut_between_fragments_is_checked_whole() {
        let mut data = frame(false, 0, 1, None, 0, b"abc");
        data.extend(frame(false, 0, 0, None, 0, b"de\xc3"));
        data.extend(frame(true, 0, 0, None, 0, b"\xa9!"));
        assert_eq!(
            ours(&data, 100),
            (vec![Seen::Text("abcde\u{e9}!".into())], End::Eof)
        );
        assert_eq!(ours(&data, 100), theirs(&data, 4096));
    }

    /// Bytes the handshake read past its answer are the stream's first, and may be more than
    /// the buffer holds: a frame begun there ends in what is read after.
    #[test]
    fn bytes_read_with_the_handshake_come_first_and_may_outgrow_the_buffer() {
        let big = vec![b'y'; 40_000];
        let mut stream = frame(true, 0, 1, None, 0, b"left over");
        stream.extend(frame(true, 0, 2, None, 2, &big));
        stream.extend(frame(true, 0, 1, None, 0, b"after"));
        let (handshake, rest) = stream.split_at(30_000);
        let mut r = FrameReader::new(64);
        r.push(handshake);
        let mut input = Input {
            data: rest,
            chunk: 4096,
        };
        let mut seen: Vec<(bool, Vec<u8>)> = Vec::new();
        while seen.len() < 3 {
            match r.next_frame().unwrap() {
                Some(Frame::Text(t)) => seen.push((true, t.to_vec())),
                Some(Frame::Binary(b)) => seen.push((false, b.to_vec())),
                Some(f) => panic!("{f:?}"),
                None => assert!(
                    r.fill(&mut input).unwrap() > 0,
                    "ended after {}",
                    seen.len()
                ),
            }
        }
        let want = [
            (true, b"left over".to_vec()),
            (false, big),
            (true, b"after".to_vec()),
        ];
        assert!(
            seen == want,
            "{:?}",
            seen.iter().map(|(t, p)| (t, p.len())).collect::<Vec<_>>()
        );
    }

    /// A reader holds as many bytes as it was made for (any size) before it grows: a frame
    /// as large as the buffer, begun behind one already read, fits once that one is dropped.
    #[test]
    fn a_reader_holds_its_capacity_before_growing() {
        let a = frame(true, 0, 2, None, 0, &[1; 98]);
        let b = frame(true, 0, 2, None, 1, &[3; 19_996]);
        assert_eq!((a.len(), b.len()), (100, 20_000));
        let mut r = FrameReader::new(20_000);
        r.push(&[&a[..], &b[..50]].concat());
        assert_eq!(r.next_frame().unwrap(), Some(Frame::Binary(&[1; 98])));
        r.push(&b[50..]);
        assert_eq!(r.buf.len(), 20_000);
        assert_eq!(r.next_frame().unwrap(), Some(Frame::Binary(&[3; 19_996])));
    }

    /// A message gathered from fragments lives apart from the read buffer, so while it waits
    /// to be taken the buffer is still reused from its start rather than grown.
    #[test]
    fn a_gathered_message_waiting_to_be_taken_does_not_grow_the_buffer() {
        let half = vec![b'a'; 7_996];
        let mut stream = frame(false, 0, 1, None, 1, &half);
        stream.extend(frame(true, 0, 0, None, 1, &half));
        assert_eq!(stream.len(), 16_000);
        let mut r = FrameReader::new(64);
        let mut input = Input {
            data: &stream,
            chunk: 16_000,
        };
        r.fill(&mut input).unwrap();
        assert!(r.advance().unwrap());
        let cap = r.buf.len();
        let more = frame(true, 0, 1, None, 0, b"next");
        r.fill(&mut Input {
            data: &more,
            chunk: 100,
        })
        .unwrap();
        assert_eq!(r.buf.len(), cap, "grown while a gathered message waited");
        assert_eq!(r.take(), Frame::Text(&[b'a'; 15_992]));
        assert_eq!(r.next_frame().unwrap(), Some(Frame::Text(b"next")));
    }

    /// A frame made ready and not taken yet keeps its bytes when a read moves what is unparsed
    /// to the buffer's front: it moves with them.
    #[test]
    fn a_frame_waiting_to_be_taken_moves_with_the_buffer() {
        let mut stream = frame(true, 0, 2, None, 1, &[7; 15_000]);
        stream.extend(frame(true, 0, 1, None, 0, b"ready"));
        let mut r = FrameReader::new(64);
        r.fill(&mut Input {
            data: &stream,
            chunk: 16_384,
        })
        .unwrap();
        assert_eq!(r.next_frame().unwrap(), Some(Frame::Binary(&[7; 15_000])));
        assert!(r.advance().unwrap());
        let more = frame(true, 0, 1, None, 0, b"next");
        r.fill(&mut Input {
            data: &more,
            chunk: 100,
        })
        .unwrap();
        assert_eq!(r.take(), Frame::Text(b"ready"));
        assert_eq!(r.next_frame().unwrap(), Some(Frame::Text(b"next")));
    }

    #[test]
    fn what_fails_the_connection() {
        let bad = [
            frame(true, 1, 1, None, 0, b"x"),               // reserved bit
            frame(true, 0, 1, Some([1, 2, 3, 4]), 0, b"x"), // masked by the server
            frame(false, 0, 9, None, 0, b""),               // fragmented ping
            frame(true, 0, 9, None, 0, &[0; 126]),          // long ping
            frame(true, 0, 3, None, 0, b""),                // unknown data opcode
            frame(true, 0, 11, None, 0, b""),               // unknown control opcode
            frame(true, 0, 0, None, 0, b"x"),               // continuation of nothing
            frame(true, 0, 1, None, 0, &[0xff]),            // not UTF-8
            frame(true, 0, 8, None, 0, &[3]),               // one-byte close
        ];
        for b in bad {
            assert_eq!(ours(&b, 100).1, End::Failed, "{b:?}");
        }
        let mut two = frame(false, 0, 1, None, 0, b"a");
        two.extend(frame(true, 0, 1, None, 0, b"b")); // a new message before the last ended
        assert_eq!(ours(&two, 100).1, End::Failed);
        let mut huge = vec![0x82, 127];
        huge.extend_from_slice(&((MAX_FRAME as u64) + 1).to_be_bytes());
        let mut r = FrameReader::new(64);
        r.fill(&mut Input {
            data: &huge,
            chunk: 100,
        })
        .unwrap();
        assert_eq!(r.next_frame(), Err(FrameError::TooLarge));
    }
}
