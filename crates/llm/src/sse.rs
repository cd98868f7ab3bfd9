//! A `text/event-stream` decoder: bytes in any chunking → events.
//!
//! Follows the SSE format: lines end in `\n` or `\r\n`; `data:` lines of one
//! event are joined with `\n`; a blank line ends an event; lines starting with
//! `:` are comments; other fields are ignored.
//!
//! Public so that the tests of our own SSE answers (the web layer's streamed
//! runs) decode them with the same decoder the client uses upstream.

/// The longest line accepted; a stream that goes further is broken.
const MAX_LINE_BYTES: usize = 8 * 1024 * 1024;

#[derive(Debug, PartialEq, Eq)]
pub struct SseEvent {
    pub event: Option<String>,
    /// The `data:` lines, in order (joined with `\n` they are the data).
    pub data_lines: Vec<String>,
}

impl SseEvent {
    pub fn data(&self) -> String {
        self.data_lines.join("\n")
    }
}

#[derive(Default)]
pub struct SseDecoder {
    buf: Vec<u8>,
    /// `buf[..scanned]` holds no newline.
    scanned: usize,
    event: Option<String>,
    data_lines: Vec<String>,
}

impl SseDecoder {
    /// Feeds bytes; complete events are appended to `out`.
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<SseEvent>) -> Result<(), String> {
        self.buf.extend_from_slice(bytes);
        let mut start = 0;
        let mut from = self.scanned;
        while let Some(pos) = self.buf[from..].iter().position(|&b| b == b'\n') {
            let end = from + pos;
            let line = self.buf[start..end]
                .strip_suffix(b"\r")
                .unwrap_or(&self.buf[start..end]);
            let line = std::str::from_utf8(line)
                .map_err(|_| "the event stream is not valid UTF-8".to_owned())?
                .to_owned();
            self.line(&line, out);
            start = end + 1;
            from = start;
        }
        self.buf.drain(..start);
        self.scanned = self.buf.len();
        if self.buf.len() > MAX_LINE_BYTES {
            return Err(format!(
                "an event stream line is longer than {MAX_LINE_BYTES} bytes"
            ));
        }
        Ok(())
    }

    /// The body ended: a last line without its newline, and a last event
    /// without its blank line, still count.
    pub fn finish(&mut self, out: &mut Vec<SseEvent>) -> Result<(), String> {
        if !self.buf.is_empty() {
            let rest = std::mem::take(&mut self.buf);
            let line = std::str::from_utf8(rest.strip_suffix(b"\r").unwrap_or(&rest))
                .map_err(|_| "the event stream is not valid UTF-8".to_owned())?
                .to_owned();
            self.line(&line, out);
        }
        self.scanned = 0;
        self.dispatch(out);
        Ok(())
    }

    fn line(&mut self, line: &str, out: &mut Vec<SseEvent>) {
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        if line.starts_with(':') {
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "data" => self.data_lines.push(value.to_owned()),
            "event" => self.event = Some(value.to_owned()),
            _ => {}
        }
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        let event = self.event.take();
        if !self.data_lines.is_empty() {
            out.push(SseEvent {
                event,
                data_lines: std::mem::take(&mut self.data_lines),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_in_pieces(input: &str, piece: usize) -> Vec<SseEvent> {
        let mut d = SseDecoder::default();
        let mut out = Vec::new();
        for c in input.as_bytes().chunks(piece) {
            d.push(c, &mut out).unwrap();
        }
        d.finish(&mut out).unwrap();
        out
    }

    #[test]
    fn events_survive_any_chunking() {
        let input = ": hello\n\ndata: {\"a\":1}\n\ndata:{\"b\":\"é\"}\r\n\r\nevent: error\ndata: x\ndata: y\n\ndata: [DONE]\n\n";
        for piece in [1, 2, 3, 7, 1000] {
            let events = decode_in_pieces(input, piece);
            let data: Vec<String> = events.iter().map(SseEvent::data).collect();
            assert_eq!(
                data,
                ["{\"a\":1}", "{\"b\":\"é\"}", "x\ny", "[DONE]"],
                "piece {piece}"
            );
            assert_eq!(events[2].event.as_deref(), Some("error"));
        }
    }

    #[test]
    fn a_last_event_without_a_blank_line_still_counts() {
        let events = decode_in_pieces("data: 1\n\ndata: 2", 4);
        assert_eq!(events.len(), 2);
        assert_eq!(events[1].data(), "2");
    }

    #[test]
    fn invalid_utf8_is_an_error() {
        let mut d = SseDecoder::default();
        assert!(d.push(b"data: \xff\xfe\n", &mut Vec::new()).is_err());
    }
}
