//! NDJSON framing: a line reader over any `BufRead` that caps each line without buffering an
//! over-long one (so a 10 GB object streams in fixed memory), and gzip and zstd NDJSON writers.

use std::io::{self, BufRead, Write};

use flate2::write::GzEncoder;
use flate2::Compression;
use serde::Serialize;

/// The default longest line, in bytes.
pub const DEFAULT_MAX_LINE: usize = 4 * 1024 * 1024;

/// `serde_json::from_slice` with the line's UTF-8 checked once, ahead, rather than string by
/// string as the slice reader does (one pass over a line is cheaper than many small ones). A line
/// that is not UTF-8 takes the slice reader, so the error is the one it always was.
pub fn from_line<'a, T: serde::Deserialize<'a>>(line: &'a [u8]) -> serde_json::Result<T> {
    match std::str::from_utf8(line) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_slice(line),
    }
}

/// One line read.
#[derive(Debug, PartialEq, Eq)]
pub enum Line<'a> {
    /// A line (without its `\n` or `\r\n`), 1-based number.
    Text { number: u64, bytes: &'a [u8] },
    /// A line over the cap: skipped; `len` is its full length and `head` its first bytes.
    TooLong {
        number: u64,
        len: u64,
        head: &'a [u8],
    },
}

/// Reads lines of at most `max` bytes.
#[derive(Debug)]
pub struct LineReader<R> {
    reader: R,
    max: usize,
    number: u64,
    buf: Vec<u8>,
    /// Bytes of the reader's buffer lent out as the last line, consumed on the next call.
    lent: usize,
}

impl<R: BufRead> LineReader<R> {
    pub fn new(reader: R, max: usize) -> Self {
        LineReader {
            reader,
            max,
            number: 0,
            buf: Vec::new(),
            lent: 0,
        }
    }

    /// The next line, `None` at the end. Blank lines are returned too (callers skip them).
    pub fn next_line(&mut self) -> io::Result<Option<Line<'_>>> {
        self.reader.consume(std::mem::take(&mut self.lent));
        // A line whole in the reader's buffer is lent from there, not copied (most lines: the
        // copy was a tenth of transform's time).
        let whole = {
            let chunk = self.reader.fill_buf()?;
            if chunk.is_empty() {
                return Ok(None);
            }
            memchr::memchr(b'\n', chunk).filter(|&end| end <= self.max)
        };
        if let Some(end) = whole {
            self.number += 1;
            self.lent = end + 1;
            // The same buffer: nothing was consumed since it was filled.
            let chunk = self.reader.fill_buf()?;
            let mut bytes = chunk.get(..end).unwrap_or_default();
            if let Some(line) = bytes.strip_suffix(b"\r") {
                bytes = line;
            }
            return Ok(Some(Line::Text {
                number: self.number,
                bytes,
            }));
        }
        self.buf.clear();
        let mut len: u64 = 0;
        let mut saw_any = false;
        loop {
            let chunk = self.reader.fill_buf()?;
            if chunk.is_empty() {
                break;
            }
            saw_any = true;
            let (part, done) = match memchr::memchr(b'\n', chunk) {
                Some(i) => (chunk.get(..i).unwrap_or_default(), Some(i + 1)),
                None => (chunk, None),
            };
            len += part.len() as u64;
            let room = (self.max + 1).saturating_sub(self.buf.len());
            self.buf
                .extend_from_slice(part.get(..room.min(part.len())).unwrap_or_default());
            let consumed = done.unwrap_or(chunk.len());
            self.reader.consume(consumed);
            if done.is_some() {
                break;
            }
        }
        if !saw_any {
            return Ok(None);
        }
        self.number += 1;
        if self.buf.last() == Some(&b'\r') && len <= self.max as u64 + 1 {
            self.buf.pop();
            len -= 1;
        }
        if len > self.max as u64 {
            let head = self.buf.get(..self.max.min(1024)).unwrap_or_default();
            return Ok(Some(Line::TooLong {
                number: self.number,
                len,
                head,
            }));
        }
        Ok(Some(Line::Text {
            number: self.number,
            bytes: &self.buf,
        }))
    }

    /// Lines read so far.
    pub fn lines_read(&self) -> u64 {
        self.number
    }
}

/// NDJSON compressed into memory as it is written, with counts; a stage uploads `finish()`'s
/// bytes. [`GzLines`] (gzip level 1: curated NDJSON parts, rejects, Firehose members) and
/// [`ZstdLines`] (zstd level 1: raw Kinesis objects, open Parquet parts).
pub struct EncodedLines<E> {
    encoder: E,
    lines: u64,
    raw_bytes: u64,
    /// The line [`EncodedLines::push`] serialises into, reused.
    scratch: Vec<u8>,
}

/// An in-memory compressing writer [`EncodedLines`] can use.
pub trait LineEncoder: Write {
    /// Compressed bytes produced so far.
    fn produced(&self) -> usize;
    /// End the stream; its bytes.
    fn end(self) -> io::Result<Vec<u8>>;
}

impl LineEncoder for GzEncoder<Vec<u8>> {
    fn produced(&self) -> usize {
        self.get_ref().len()
    }
    fn end(self) -> io::Result<Vec<u8>> {
        self.finish()
    }
}

impl LineEncoder for zstd::stream::write::Encoder<'static, Vec<u8>> {
    fn produced(&self) -> usize {
        self.get_ref().len()
    }
    fn end(self) -> io::Result<Vec<u8>> {
        self.finish()
    }
}

/// zstd at level 1 as a series of frames, each of about a set size of input compressed in one
/// call by a compressor the thread keeps (concatenated frames are one zstd stream to every
/// reader: RFC 8878 §3.1), for many streams written at once: transform's open Parquet parts.
/// A streaming encoder per part kept its own window and tables (24 parts: 24 of them); one
/// compressor's tables stay in cache. Measured on the transform bench's 200 MB object with
/// Parquet parts (24 event hours): streaming encoders 0.94–0.97 s and 40.2 MiB peak; frames of
/// 128 KiB 0.85–0.89 s and 28 MiB (of 32 KiB 26.7 MiB, of 1 MiB 0.92 s and 67.6 MiB). One stream
/// at a time (ingest's raw objects) gains nothing: the ingest bench's Kinesis batch measured
/// the same with 128 KiB frames and 3 % slower with 1 MiB ones.
pub struct ZstdFrames {
    /// Input not yet compressed (less than a frame).
    pending: Vec<u8>,
    frames: Vec<u8>,
    /// Input bytes per frame.
    frame_bytes: usize,
}

/// Input bytes per frame of an open Parquet part's cells: transform holds up to 32 parts open,
/// each with up to a frame's input pending.
pub const PART_FRAME_BYTES: usize = 128 * 1024;

/// The thread's compressor, and the buffer it compresses a frame into (its capacity reused:
/// no zero-filling of the room a frame may need).
struct FrameCompressor {
    compressor: zstd::bulk::Compressor<'static>,
    frame: Vec<u8>,
}

thread_local! {
    static ZSTD: std::cell::RefCell<Option<FrameCompressor>> =
        const { std::cell::RefCell::new(None) };
}

impl ZstdFrames {
    /// The pending input as one frame (an empty frame when there is none).
    fn seal(&mut self) -> io::Result<()> {
        ZSTD.with(|cell| {
            let mut cell = cell.borrow_mut();
            let zstd = match &mut *cell {
                Some(zstd) => zstd,
                None => cell.insert(FrameCompressor {
                    compressor: zstd::bulk::Compressor::new(1)?,
                    frame: Vec::new(),
                }),
            };
            zstd.frame
                .reserve(zstd::zstd_safe::compress_bound(self.pending.len()));
            zstd.compressor
                .compress_to_buffer(&self.pending, &mut zstd.frame)?;
            self.frames.extend_from_slice(&zstd.frame);
            io::Result::Ok(())
        })?;
        self.pending.clear();
        Ok(())
    }
}

impl Write for ZstdFrames {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.pending.capacity() == 0 {
            // A frame and a line of up to 64 KiB, without doubling.
            self.pending.reserve_exact(self.frame_bytes + 64 * 1024);
        }
        self.pending.extend_from_slice(buf);
        if self.pending.len() >= self.frame_bytes {
            self.seal()?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl LineEncoder for ZstdFrames {
    /// The frames so far and the input waiting for the next: the bytes held.
    fn produced(&self) -> usize {
        self.frames.len() + self.pending.len()
    }
    fn end(mut self) -> io::Result<Vec<u8>> {
        if !self.pending.is_empty() || self.frames.is_empty() {
            self.seal()?;
        }
        Ok(self.frames)
    }
}

/// Gzip NDJSON, level 1.
pub type GzLines = EncodedLines<GzEncoder<Vec<u8>>>;

/// Zstd NDJSON, level 1: raw Kinesis objects, where gzip was the largest share of ingest's
/// time. Measured on generated raw objects (8,012 lines, 6.6 MB): 537 KB as zstd level 1 against
/// 923 KB as gzip level 1; the ingest bench's Kinesis speedup over the naive pass went from
/// 0.55× to 0.77×.
pub type ZstdLines = EncodedLines<zstd::stream::write::Encoder<'static, Vec<u8>>>;

/// Zstd lines as [`ZstdFrames`]: the cells of an open Parquet part.
pub type ZstdFrameLines = EncodedLines<ZstdFrames>;

/// Gzip NDJSON whose lines are deflated (level 1) or stored, chosen line by line
/// ([`RejectLines::store_next`]), in two gzip members: the stored lines, then the deflated ones (a
/// multi-member gzip stream, RFC 1952 §2.2, which every reader here reads as one). Reject files
/// use it: the raw bytes of a rejected compressed record are base64 of compressed data, which
/// level 1 shrinks only to about 77 % (measured on generated CloudWatch Logs records), and
/// deflating them took a tenth of a Firehose batch whose records did not fit its response. Lines
/// keep their order within each member.
pub type RejectLines = EncodedLines<GzMembers>;

/// The encoder of [`RejectLines`]: each member is started by its first line.
#[derive(Default)]
pub struct GzMembers {
    deflated: Option<GzEncoder<Vec<u8>>>,
    stored: Option<GzEncoder<Vec<u8>>>,
    store_next: bool,
}

impl Write for GzMembers {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let (member, level) = if self.store_next {
            (&mut self.stored, Compression::none())
        } else {
            (&mut self.deflated, Compression::fast())
        };
        member
            .get_or_insert_with(|| GzEncoder::new(Vec::new(), level))
            .write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        for member in [&mut self.deflated, &mut self.stored].into_iter().flatten() {
            member.flush()?;
        }
        Ok(())
    }
}

impl LineEncoder for GzMembers {
    fn produced(&self) -> usize {
        [&self.deflated, &self.stored]
            .into_iter()
            .flatten()
            .map(|member| member.get_ref().len())
            .sum()
    }

    fn end(self) -> io::Result<Vec<u8>> {
        // The larger member (stored) first, extended by the other: its bytes are not copied.
        let mut body = match self.stored {
            Some(member) => member.finish()?,
            None if self.deflated.is_none() => {
                return GzEncoder::new(Vec::new(), Compression::fast()).finish()
            }
            None => Vec::new(),
        };
        if let Some(member) = self.deflated {
            let deflated = member.finish()?;
            if body.is_empty() {
                return Ok(deflated);
            }
            body.extend_from_slice(&deflated);
        }
        Ok(body)
    }
}

impl RejectLines {
    /// Lines pushed from now on are stored (`true`: bytes deflate would not shrink) or deflated.
    pub fn store_next(&mut self, stored: bool) {
        self.encoder.store_next = stored;
    }
}

impl Default for RejectLines {
    fn default() -> Self {
        EncodedLines::with_encoder(GzMembers::default())
    }
}

impl<E> std::fmt::Debug for EncodedLines<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncodedLines")
            .field("lines", &self.lines)
            .field("raw_bytes", &self.raw_bytes)
            .finish()
    }
}

impl Default for GzLines {
    fn default() -> Self {
        EncodedLines::with_encoder(GzEncoder::new(Vec::new(), Compression::fast()))
    }
}

impl ZstdLines {
    pub fn new() -> io::Result<Self> {
        Ok(EncodedLines::with_encoder(
            zstd::stream::write::Encoder::new(Vec::new(), 1)?,
        ))
    }
}

impl ZstdFrameLines {
    /// Frames of `frame_bytes` of input ([`PART_FRAME_BYTES`] for a part).
    pub fn new(frame_bytes: usize) -> Self {
        EncodedLines::with_encoder(ZstdFrames {
            pending: Vec::new(),
            frames: Vec::new(),
            frame_bytes: frame_bytes.max(1),
        })
    }
}

impl<E: LineEncoder> EncodedLines<E> {
    fn with_encoder(encoder: E) -> Self {
        EncodedLines {
            encoder,
            lines: 0,
            raw_bytes: 0,
            scratch: Vec::new(),
        }
    }

    /// Append one value as a JSON line.
    pub fn push<T: Serialize>(&mut self, value: &T) -> io::Result<()> {
        let mut line = std::mem::take(&mut self.scratch);
        line.clear();
        let written = serde_json::to_writer(&mut line, value)
            .map_err(io::Error::other)
            .and_then(|()| {
                line.push(b'\n');
                self.push_line(&line)
            });
        self.scratch = line;
        written
    }

    /// Append bytes that already end in `\n`.
    pub fn push_line(&mut self, line: &[u8]) -> io::Result<()> {
        self.encoder.write_all(line)?;
        self.lines += 1;
        self.raw_bytes += line.len() as u64;
        Ok(())
    }

    pub fn lines(&self) -> u64 {
        self.lines
    }

    /// Uncompressed bytes written so far.
    pub fn raw_bytes(&self) -> u64 {
        self.raw_bytes
    }

    /// Compressed bytes so far (what has been flushed from the encoder).
    pub fn compressed_len(&self) -> usize {
        self.encoder.produced()
    }

    pub fn finish(self) -> io::Result<Vec<u8>> {
        self.encoder.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zstd_frames_are_one_stream_to_every_reader() {
        let line = |i: usize| format!("{{\"n\":{i},\"pad\":\"{}\"}}\n", "x".repeat(i % 97));
        for (frame, count) in [(64, 0), (64, 1), (64, 500), (PART_FRAME_BYTES, 5000)] {
            let mut lines = ZstdFrameLines::new(frame);
            let mut want = Vec::new();
            for i in 0..count {
                lines.push_line(line(i).as_bytes()).unwrap();
                want.extend_from_slice(line(i).as_bytes());
            }
            assert_eq!(lines.lines(), count as u64);
            assert!(lines.compressed_len() <= want.len().max(1) + 64 * count / frame + 64);
            let bytes = lines.finish().unwrap();
            // libzstd's reader and transform's own (every frame) agree.
            assert_eq!(
                zstd::decode_all(&bytes[..]).unwrap(),
                want,
                "{frame} {count}"
            );
            let (kind, mut reader) = crate::compress::open_stream(&bytes[..]).unwrap();
            assert_eq!(kind, crate::compress::Compression::Zstd);
            let mut got = Vec::new();
            reader.read_to_end(&mut got).unwrap();
            assert_eq!(got, want);
            if count > 100 && frame == 64 {
                assert!(
                    bytes
                        .windows(4)
                        .filter(|w| *w == [0x28, 0xb5, 0x2f, 0xfd])
                        .count()
                        > 1
                );
            }
        }
    }

    fn collect(input: &[u8], max: usize) -> Vec<String> {
        // A 3-byte buffer splits every line (copied); a large one holds them whole (lent).
        let split = collect_with(3, input, max);
        assert_eq!(collect_with(64, input, max), split);
        split
    }

    fn collect_with(capacity: usize, input: &[u8], max: usize) -> Vec<String> {
        let mut r = LineReader::new(io::BufReader::with_capacity(capacity, input), max);
        let mut out = Vec::new();
        while let Ok(Some(line)) = r.next_line() {
            out.push(match line {
                Line::Text { number, bytes } => {
                    format!("{number}:{}", String::from_utf8_lossy(bytes))
                }
                Line::TooLong { number, len, head } => {
                    format!("{number}:too long {len} {}", String::from_utf8_lossy(head))
                }
            });
        }
        out
    }

    #[test]
    fn lines_are_framed_and_capped() {
        assert_eq!(
            collect(b"a\nbb\r\n\nccc", 5),
            ["1:a", "2:bb", "3:", "4:ccc"]
        );
        assert_eq!(
            collect(b"short\ntoolongline\nok\n", 5),
            ["1:short", "2:too long 11 toolo", "3:ok"]
        );
        assert_eq!(collect(b"12345\r\n", 5), ["1:12345"]);
        assert_eq!(
            collect(b"123456\r\n1234\r\n", 5),
            ["1:too long 7 12345", "2:1234"]
        );
        assert_eq!(
            collect_with(8, b"abc\nlonger line\nz", 50),
            ["1:abc", "2:longer line", "3:z"]
        );
        assert!(collect(b"", 5).is_empty());
    }

    #[test]
    fn reject_lines_store_or_deflate_line_by_line_and_read_back_as_one_stream() {
        let unlike: Vec<u8> = (0..4096u32)
            .map(|i| {
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
                    [(i.wrapping_mul(2654435761) >> 26) as usize]
            })
            .collect();
        let stored_line = [b"\"".as_slice(), &unlike, b"\"\n"].concat();
        let like = |c: u8| [b"{\"a\":\"".as_slice(), &[c; 4096], b"\"}\n"].concat();
        let mut w = RejectLines::default();
        for (stored, line) in [
            (false, like(b'x')),
            (true, stored_line.clone()),
            (false, like(b'y')),
        ] {
            w.store_next(stored);
            w.push_line(&line).unwrap_or_else(|e| panic!("{e}"));
        }
        let bytes = w.finish().unwrap_or_default();
        // The stored line is there as written; the deflated ones shrank.
        assert!(bytes.windows(unlike.len()).any(|w| w == unlike.as_slice()));
        assert!(bytes.len() < stored_line.len() + 1024);
        // The stored line first, then the deflated ones in order.
        let back = crate::compress::decompress(&bytes, &crate::compress::Caps::default())
            .map(|b| b.into_owned());
        let expected = [stored_line, like(b'x'), like(b'y')].concat();
        assert_eq!(back.ok(), Some(expected));
        // Nothing written: still a gzip stream (of nothing).
        let empty = RejectLines::default().finish().unwrap_or_default();
        let back = crate::compress::decompress(&empty, &crate::compress::Caps::default());
        assert_eq!(back.ok().as_deref(), Some(&b""[..]));
    }

    #[test]
    fn gz_lines_round_trip() {
        let mut w = GzLines::default();
        w.push(&serde_json::json!({"a": 1}))
            .unwrap_or_else(|e| panic!("{e}"));
        w.push_line(b"{\"b\":2}\n")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((w.lines(), w.raw_bytes()), (2, 16));
        let bytes = w.finish().unwrap_or_default();
        let back = crate::compress::decompress(&bytes, &crate::compress::Caps::default())
            .map(|b| b.into_owned());
        assert_eq!(back.ok().as_deref(), Some(&b"{\"a\":1}\n{\"b\":2}\n"[..]));
    }
}
