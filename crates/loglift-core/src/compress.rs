//! Compression of record payloads and objects: sniffing gzip / zlib / zstd by their magic bytes,
//! size-capped decompression of one record ([`decompress`]), and streaming decompression of a
//! whole object ([`open_stream`]: memory flat in the object's size; the caller caps each line or
//! element it reads). This is the only module that builds decoders (clippy.toml bans the flate2
//! ones elsewhere), so every decompression in loglift goes through a cap.

use std::borrow::Cow;
use std::io::{self, BufRead, BufReader, Read, Write};

use ruzstd::decoding::errors::{FrameDecoderError, ReadFrameHeaderError};
use ruzstd::decoding::{BlockDecodingStrategy, FrameDecoder};

use crate::reject::{Reason, Rejection};

/// What a payload's first bytes say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    /// `1f 8b`: gzip, possibly several members back to back.
    Gzip,
    /// `78 xx` with a valid zlib header check (CM = 8, FCHECK ok, no preset dictionary).
    Zlib,
    /// `28 b5 2f fd`: zstd, possibly several frames back to back.
    Zstd,
    /// Anything else: taken as it is.
    None,
}

impl Compression {
    /// A short lowercase name, for messages and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Zlib => "zlib",
            Compression::Zstd => "zstd",
            Compression::None => "none",
        }
    }
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// Tell the compression of `bytes` from its magic bytes.
///
/// zlib is recognised only with CMF `0x78` (deflate, 32 KiB window: what every zlib producer
/// writes), a header check `(CMF*256 + FLG) % 31 == 0` and no preset dictionary, so text that
/// happens to start with `x` is not mistaken for it.
pub fn sniff(bytes: &[u8]) -> Compression {
    if bytes.starts_with(&GZIP_MAGIC) {
        return Compression::Gzip;
    }
    if bytes.starts_with(&ZSTD_MAGIC) {
        return Compression::Zstd;
    }
    if let [cmf @ 0x78, flg, ..] = bytes {
        let check = (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0;
        let preset_dictionary = flg & 0x20 != 0;
        if check && !preset_dictionary {
            return Compression::Zlib;
        }
    }
    Compression::None
}

/// Decompression caps: an absolute one and a ratio one, whichever is lower.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    /// Most decompressed bytes, whatever the input size.
    pub max_bytes: usize,
    /// Most decompressed bytes per compressed byte (floored at [`Caps::RATIO_FLOOR`] bytes).
    pub max_ratio: usize,
}

impl Caps {
    /// The ratio cap never goes below this, so a tiny compressed record still decodes.
    pub const RATIO_FLOOR: usize = 64 * 1024;

    /// The effective cap for `compressed_len` input bytes:
    /// `min(max_bytes, max(compressed_len * max_ratio, 64 KiB))`.
    pub fn limit_for(&self, compressed_len: usize) -> usize {
        let by_ratio = compressed_len
            .saturating_mul(self.max_ratio)
            .max(Self::RATIO_FLOOR);
        self.max_bytes.min(by_ratio)
    }
}

impl Default for Caps {
    /// 16 MiB absolute, 1000:1 ratio (deflate's ceiling is about 1032:1, and repetitive log
    /// batches reach a few hundred: the absolute cap is what bounds memory).
    fn default() -> Self {
        Caps {
            max_bytes: 16 * 1024 * 1024,
            max_ratio: 1000,
        }
    }
}

/// Decompress `bytes` if its magic bytes say gzip, zlib or zstd, within the caps computed for its
/// size.
///
/// Uncompressed input comes back borrowed. Errors: [`Reason::TooLarge`] over the cap,
/// [`Reason::BadCompression`] when corrupt or truncated.
pub fn decompress<'a>(bytes: &'a [u8], caps: &Caps) -> Result<Cow<'a, [u8]>, Rejection> {
    decompress_within(bytes, caps.limit_for(bytes.len()))
}

/// Like [`decompress`], with an explicit cap on the decompressed size (for callers that share
/// one budget between several payloads, such as the user records of one KPL aggregate).
pub fn decompress_within(bytes: &[u8], limit: usize) -> Result<Cow<'_, [u8]>, Rejection> {
    let kind = sniff(bytes);
    match kind {
        Compression::None => Ok(Cow::Borrowed(bytes)),
        Compression::Zstd => {
            read_capped(ZstdDecoder::new(bytes), kind, bytes.len(), None, limit).map(Cow::Owned)
        }
        Compression::Gzip => {
            if let Some(whole) = gzip_in_one_call(bytes, limit) {
                return Ok(Cow::Owned(whole));
            }
            #[allow(clippy::disallowed_types)]
            let decoder = flate2::bufread::MultiGzDecoder::new(bytes);
            read_capped(decoder, kind, bytes.len(), gzip_size_hint(bytes), limit).map(Cow::Owned)
        }
        Compression::Zlib => {
            #[allow(clippy::disallowed_types)]
            let decoder = flate2::bufread::ZlibDecoder::new(bytes);
            read_capped(decoder, kind, bytes.len(), None, limit).map(Cow::Owned)
        }
    }
}

/// Deflate never expands more than about 1032:1; a gzip ISIZE trailer above that is a lie.
const DEFLATE_MAX_RATIO: usize = 1032;

/// The last gzip member's ISIZE trailer (uncompressed length mod 2^32), when plausible.
fn gzip_size_hint(bytes: &[u8]) -> Option<usize> {
    let tail = bytes
        .len()
        .checked_sub(4)
        .and_then(|start| bytes.get(start..))?;
    let isize_le: [u8; 4] = tail.try_into().ok()?;
    let hint = usize::try_from(u32::from_le_bytes(isize_le)).ok()?;
    (hint <= bytes.len().saturating_mul(DEFLATE_MAX_RATIO)).then_some(hint)
}

thread_local! {
    /// libdeflate's decompressor: its tables are allocated once per thread, not per record.
    static INFLATER: std::cell::RefCell<libdeflater::Decompressor> =
        std::cell::RefCell::new(libdeflater::Decompressor::new());
}

/// A gzip payload that is one member, inflated in one call by libdeflate into a buffer of the
/// size its trailer claims — when that is exactly what the streaming decoder would return:
/// - the claimed size is within `limit`;
/// - no second member can follow (every member starts `1f 8b 08`, and those bytes appear nowhere
///   after the first header);
/// - the member ends where `bytes` do: their last 8 bytes are the CRC-32 and size of what came
///   out (libdeflate checks the CRC-32 where the member ends, and stops there).
///
/// Anything else (corrupt, truncated, several members, a trailer that lies, over the cap) is
/// `None`, and the streaming path decides and names the reason. One difference remains by
/// design: bytes after the member that are not a gzip member yet end in its exact CRC-32 and
/// size are ignored here where the streaming decoder refuses them; every event of the member is
/// read either way.
fn gzip_in_one_call(bytes: &[u8], limit: usize) -> Option<Vec<u8>> {
    const MAGIC: &[u8] = &[0x1f, 0x8b, 0x08];
    const HEADER: usize = 10;
    let size = gzip_size_hint(bytes).filter(|&size| size <= limit)?;
    if memchr::memmem::find(bytes.get(HEADER..)?, MAGIC).is_some() {
        return None;
    }
    let mut out = vec![0; size];
    let written = INFLATER
        .with(|inflater| inflater.borrow_mut().gzip_decompress(bytes, &mut out))
        .ok()?;
    let trailer = bytes.get(bytes.len().checked_sub(8)?..)?;
    let mut expected = [0u8; 8];
    let (crc, len) = expected.split_at_mut(4);
    crc.copy_from_slice(&libdeflater::crc32(&out).to_le_bytes());
    len.copy_from_slice(&u32::try_from(written % (1 << 32)).ok()?.to_le_bytes());
    (written == size && trailer == expected).then_some(out)
}

fn read_capped(
    decoder: impl Read,
    kind: Compression,
    compressed_len: usize,
    hint: Option<usize>,
    limit: usize,
) -> Result<Vec<u8>, Rejection> {
    let guess = hint.unwrap_or_else(|| compressed_len.saturating_mul(4));
    let mut out = Vec::with_capacity(guess.min(limit.saturating_add(1)));
    let read = decoder
        .take(u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1))
        .read_to_end(&mut out);
    match read {
        Ok(_) if out.len() > limit => Err(Rejection::new(
            Reason::TooLarge,
            format!("{} payload of {compressed_len} bytes decompresses to more than {limit} bytes", kind.as_str()),
        )),
        Ok(_) => Ok(out),
        Err(e) => Err(Rejection::new(
            Reason::BadCompression,
            format!(
                "{} payload of {compressed_len} bytes is corrupt or truncated after {} decompressed bytes: {e}",
                kind.as_str(),
                out.len()
            ),
        )),
    }
}

/// Buffer size of the decoders [`open_stream`] returns.
pub const STREAM_BUFFER: usize = 64 * 1024;

/// Longest magic number [`sniff`] looks at.
const MAGIC_LEN: usize = 4;

/// Sniff the compression of a stream from its first bytes and return a reader of its
/// decompressed bytes: gzip (every member, as Firehose and CloudWatch Logs concatenate them),
/// zlib, zstd (every frame), or the input as it is.
///
/// Reads at most 4 bytes before deciding (however few each `fill_buf` returns) and puts them back
/// in front. Memory is flat in the object's size: a 64 KiB buffer plus the decoder's window
/// (32 KiB for deflate; the frame's window for zstd, which ruzstd refuses above 100 MiB). Corrupt
/// or truncated compressed input is an `io::Error` of kind `InvalidData` from the returned reader
/// (never a panic); errors of `reader` itself come through with their own kind.
pub fn open_stream<'a, R: BufRead + Send + 'a>(
    mut reader: R,
) -> io::Result<(Compression, Box<dyn BufRead + Send + 'a>)> {
    let available = fill_buf_retrying(&mut reader)?;
    if available.len() >= MAGIC_LEN {
        let kind = sniff(available);
        return Ok((kind, decoder_for(kind, reader)));
    }
    // Fewer bytes than a magic number in the first buffer: take them out one fill at a time.
    let mut head = Vec::with_capacity(MAGIC_LEN);
    while head.len() < MAGIC_LEN {
        let available = fill_buf_retrying(&mut reader)?;
        if available.is_empty() {
            break;
        }
        let take = available.len().min(MAGIC_LEN - head.len());
        head.extend_from_slice(available.get(..take).unwrap_or_default());
        reader.consume(take);
    }
    let kind = sniff(&head);
    Ok((kind, decoder_for(kind, io::Cursor::new(head).chain(reader))))
}

/// `fill_buf`, retried when interrupted.
pub(crate) fn fill_buf_retrying<R: BufRead>(reader: &mut R) -> io::Result<&[u8]> {
    // Looping on `fill_buf` directly does not borrow-check: probe, then call it once more.
    loop {
        match reader.fill_buf() {
            Ok(_) => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    reader.fill_buf()
}

fn decoder_for<'a, S: BufRead + Send + 'a>(
    kind: Compression,
    source: S,
) -> Box<dyn BufRead + Send + 'a> {
    match kind {
        Compression::None => Box::new(source),
        Compression::Gzip => {
            #[allow(clippy::disallowed_types)]
            let decoder = flate2::bufread::MultiGzDecoder::new(source);
            Box::new(BufReader::with_capacity(STREAM_BUFFER, Corrupt(decoder)))
        }
        Compression::Zlib => {
            #[allow(clippy::disallowed_types)]
            let decoder = flate2::bufread::ZlibDecoder::new(source);
            Box::new(BufReader::with_capacity(STREAM_BUFFER, Corrupt(decoder)))
        }
        Compression::Zstd => Box::new(BufReader::with_capacity(
            STREAM_BUFFER,
            ZstdDecoder::new(source),
        )),
    }
}

/// A flate2 decoder whose corrupt-data (`InvalidInput`) and truncated-data (`UnexpectedEof`)
/// errors become `InvalidData`, the one kind [`open_stream`] readers use for input that will not
/// get better on a retry.
struct Corrupt<D>(D);

impl<D: Read> Read for Corrupt<D> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf).map_err(|e| match e.kind() {
            io::ErrorKind::InvalidInput | io::ErrorKind::UnexpectedEof => {
                io::Error::new(io::ErrorKind::InvalidData, e)
            }
            _ => e,
        })
    }
}

/// A zstd decoder error as an `io::Error`: a read error of the source keeps its kind (a network
/// failure stays retryable); anything else, an early end of input included, is `InvalidData`.
fn zstd_error(e: FrameDecoderError) -> io::Error {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(err) = cause {
        if let Some(io) = err.downcast_ref::<io::Error>() {
            if io.kind() != io::ErrorKind::UnexpectedEof {
                return io::Error::new(io.kind(), e.to_string());
            }
        }
        cause = err.source();
    }
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// A zstd reader over every frame of its source (ruzstd's `StreamingDecoder` reads one), skipping
/// skippable frames and checking each frame's content checksum when it has one.
struct ZstdDecoder<R> {
    source: R,
    /// The current frame's decoder; `None` between frames. A new decoder per frame, so a frame
    /// reserves no window before its data arrives.
    frame: Option<FrameDecoder>,
}

impl<R: BufRead> ZstdDecoder<R> {
    fn new(source: R) -> Self {
        ZstdDecoder {
            source,
            frame: None,
        }
    }

    /// Start the next frame. `Ok(false)` at the end of the input.
    fn next_frame(&mut self) -> io::Result<bool> {
        loop {
            if fill_buf_retrying(&mut self.source)?.is_empty() {
                return Ok(false);
            }
            let mut decoder = FrameDecoder::new();
            match decoder.init(&mut self.source) {
                Ok(()) => {
                    self.frame = Some(decoder);
                    return Ok(true);
                }
                Err(FrameDecoderError::ReadFrameHeaderError(ReadFrameHeaderError::SkipFrame {
                    length,
                    ..
                })) => {
                    let skipped = io::copy(
                        &mut (&mut self.source).take(u64::from(length)),
                        &mut io::sink(),
                    )?;
                    if skipped < u64::from(length) {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            "zstd skippable frame is truncated",
                        ));
                    }
                }
                Err(e) => return Err(zstd_error(e)),
            }
        }
    }
}

impl<R: BufRead> Read for ZstdDecoder<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            let Some(frame) = self.frame.as_mut() else {
                if self.next_frame()? {
                    continue;
                }
                return Ok(0);
            };
            // Decode blocks until `buf` can be filled or the frame ends (as ruzstd's
            // StreamingDecoder does); memory stays within the frame's window plus one block.
            while frame.can_collect() < buf.len() && !frame.is_finished() {
                let wanted = buf.len() - frame.can_collect();
                frame
                    .decode_blocks(&mut self.source, BlockDecodingStrategy::UptoBytes(wanted))
                    .map_err(zstd_error)?;
            }
            let n = frame.read(buf)?;
            if n > 0 {
                return Ok(n);
            }
            if frame.is_finished() {
                if let (Some(sent), Some(computed)) = (
                    frame.get_checksum_from_data(),
                    frame.get_calculated_checksum(),
                ) {
                    if sent != computed {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            "zstd frame checksum does not match its content",
                        ));
                    }
                }
                self.frame = None;
            }
        }
    }
}

/// gzip-compress `bytes` (default level, one member).
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(bytes.len() / 4 + 64),
        flate2::Compression::default(),
    );
    encode(encoder, bytes, flate2::write::GzEncoder::finish)
}

/// zlib-compress `bytes` (default level).
pub fn zlib(bytes: &[u8]) -> Vec<u8> {
    let encoder = flate2::write::ZlibEncoder::new(
        Vec::with_capacity(bytes.len() / 4 + 64),
        flate2::Compression::default(),
    );
    encode(encoder, bytes, flate2::write::ZlibEncoder::finish)
}

/// zstd-compress `bytes` (ruzstd's fastest level, one frame with a content checksum).
pub fn zstd(bytes: &[u8]) -> Vec<u8> {
    ruzstd::encoding::compress_to_vec(bytes, ruzstd::encoding::CompressionLevel::Fastest)
}

fn encode<E: Write>(mut encoder: E, bytes: &[u8], finish: fn(E) -> io::Result<Vec<u8>>) -> Vec<u8> {
    // Writing into a Vec cannot fail, so neither can the encoder: the empty fallback is unreachable.
    encoder
        .write_all(bytes)
        .and_then(|()| finish(encoder))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const JSON: &[u8] = br#"{"request_id":"fc417c2b-fe7a-4737-afe2-bec49c0ebd6f","topic":"a.b"}"#;

    #[test]
    fn sniffs_magic_bytes() {
        let cases: &[(&[u8], Compression)] = &[
            (&[0x1f, 0x8b, 0x08, 0x00], Compression::Gzip),
            (&[0x78, 0x9c], Compression::Zlib),
            (&[0x78, 0x01], Compression::Zlib),
            (&[0x78, 0xda], Compression::Zlib),
            (&[0x78, 0x5e], Compression::Zlib),
            (&[0x28, 0xb5, 0x2f, 0xfd, 0x00], Compression::Zstd),
            (b"x ", Compression::None), // check ok but preset-dictionary bit set
            (b"x}", Compression::None), // same
            (b"xy", Compression::None), // bad check
            (b"{\"a\":1}", Compression::None),
            (&[0x1f], Compression::None),
            (&[0x78], Compression::None),
            (&[0x28, 0xb5, 0x2f], Compression::None),
            (b"", Compression::None),
        ];
        for (bytes, want) in cases {
            assert_eq!(sniff(bytes), *want, "input {bytes:02x?}");
        }
        assert_eq!(sniff(&gzip(JSON)), Compression::Gzip);
        assert_eq!(sniff(&zlib(JSON)), Compression::Zlib);
    }

    #[test]
    fn plain_bytes_come_back_borrowed() {
        let out = decompress(JSON, &Caps::default());
        assert!(matches!(out, Ok(Cow::Borrowed(b)) if b == JSON));
    }

    #[test]
    fn gzip_and_zlib_round_trip() {
        for packed in [gzip(JSON), zlib(JSON), gzip(b""), zlib(b"")] {
            let out = decompress(&packed, &Caps::default()).map(Cow::into_owned);
            assert!(out.is_ok(), "{out:?}");
        }
        assert_eq!(
            decompress(&gzip(JSON), &Caps::default()).map(Cow::into_owned),
            Ok(JSON.to_vec())
        );
        assert_eq!(
            decompress(&zlib(JSON), &Caps::default()).map(Cow::into_owned),
            Ok(JSON.to_vec())
        );
    }

    #[test]
    fn gzip_reads_every_member() {
        let mut packed = gzip(b"{\"a\":1}\n");
        packed.extend(gzip(b"{\"a\":2}\n"));
        let out = decompress(&packed, &Caps::default()).map(Cow::into_owned);
        assert_eq!(out, Ok(b"{\"a\":1}\n{\"a\":2}\n".to_vec()));
    }

    /// The streaming decoder alone, as every gzip payload was read before the one-call path.
    fn gzip_streaming(bytes: &[u8], limit: usize) -> Result<Vec<u8>, Rejection> {
        #[allow(clippy::disallowed_types)]
        let decoder = flate2::bufread::MultiGzDecoder::new(bytes);
        read_capped(decoder, Compression::Gzip, bytes.len(), None, limit)
    }

    #[test]
    fn one_call_gzip_is_taken_only_where_streaming_agrees() {
        let lines: Vec<u8> = (0..2000)
            .flat_map(|i| {
                format!("{{\"n\":{i},\"m\":\"line {}\"}}\n", i * 7919 % 1000).into_bytes()
            })
            .collect();
        let one = gzip(&lines);
        // A single member whose trailer is honest is read in one call, and reads the same.
        assert_eq!(gzip_in_one_call(&one, usize::MAX), Some(lines.clone()));
        assert_eq!(gzip_streaming(&one, usize::MAX), Ok(lines.clone()));
        // Over the cap, it is left to the streaming path (which says too_large).
        assert_eq!(gzip_in_one_call(&one, lines.len() - 1), None);
        // Two identical members: the last trailer matches the first member, yet both are read.
        let mut twice = one.clone();
        twice.extend_from_slice(&one);
        assert_eq!(gzip_in_one_call(&twice, usize::MAX), None);
        assert_eq!(
            decompress_within(&twice, usize::MAX).map(Cow::into_owned),
            Ok([lines.clone(), lines.clone()].concat())
        );
        // Every single-byte corruption and every truncation: the one-call path either declines
        // or returns what streaming returns.
        let small = gzip(JSON);
        let mut cases: Vec<Vec<u8>> = (0..small.len()).map(|n| small[..n].to_vec()).collect();
        for at in 0..small.len() {
            for flip in [0x01, 0x80, 0xff] {
                let mut bad = small.clone();
                bad[at] ^= flip;
                cases.push(bad);
            }
        }
        for case in &cases {
            if let Some(out) = gzip_in_one_call(case, usize::MAX) {
                assert_eq!(gzip_streaming(case, usize::MAX), Ok(out), "{case:02x?}");
            }
        }
        // The one difference, by design: trailing bytes that are no member but end in the
        // member's own CRC-32 and size are ignored; the member's bytes are all read.
        let mut padded = small.clone();
        padded.extend_from_slice(b"junk");
        padded.extend_from_slice(&small[small.len() - 8..]);
        assert_eq!(gzip_in_one_call(&padded, usize::MAX), Some(JSON.to_vec()));
        assert_eq!(
            gzip_streaming(&padded, usize::MAX).map_err(|r| r.reason),
            Err(Reason::BadCompression)
        );
    }

    #[test]
    fn truncated_or_corrupt_is_bad_compression() {
        for packed in [gzip(JSON), zlib(JSON)] {
            for cut in [3, packed.len() / 2, packed.len() - 1] {
                let short = packed.get(..cut).unwrap_or_default();
                let out = decompress(short, &Caps::default());
                assert_eq!(
                    out.map_err(|r| r.reason),
                    Err(Reason::BadCompression),
                    "cut at {cut} of {}",
                    packed.len()
                );
            }
            let mut flipped = packed.clone();
            if let Some(b) = flipped.get_mut(12) {
                *b ^= 0xff;
            }
            let out = decompress(&flipped, &Caps::default());
            assert_eq!(out.map_err(|r| r.reason), Err(Reason::BadCompression));
        }
        let mut trailing = gzip(JSON);
        trailing.extend_from_slice(b"garbage");
        assert_eq!(
            decompress(&trailing, &Caps::default()).map_err(|r| r.reason),
            Err(Reason::BadCompression)
        );
    }

    #[test]
    fn caps_apply_absolute_and_ratio() {
        let caps = Caps {
            max_bytes: 1000,
            max_ratio: 100,
        };
        assert_eq!(caps.limit_for(1), 1000);
        let caps = Caps::default();
        assert_eq!(caps.limit_for(0), 64 * 1024);
        assert_eq!(caps.limit_for(1000), 1_000_000);
        assert_eq!(caps.limit_for(1 << 20), 16 * 1024 * 1024);
        assert_eq!(caps.limit_for(usize::MAX), 16 * 1024 * 1024);

        // 4 MiB of spaces pack to a few KiB: over the 1000:1 ratio, under 16 MiB.
        let bomb = gzip(&vec![b' '; 4 << 20]);
        let out = decompress(&bomb, &Caps::default());
        assert_eq!(
            out.as_ref().map_err(|r| r.reason),
            Err(Reason::TooLarge),
            "{out:?}"
        );
        // Exactly at the cap is fine, one byte over is not.
        let exact = zlib(&[b'a'; 5000]);
        assert_eq!(decompress_within(&exact, 5000).map(|b| b.len()), Ok(5000));
        assert_eq!(
            decompress_within(&exact, 4999).map_err(|r| r.reason),
            Err(Reason::TooLarge)
        );
    }

    #[test]
    fn zstd_records_decode_within_the_cap() {
        assert_eq!(sniff(&zstd(JSON)), Compression::Zstd);
        for packed in [zstd(JSON), zstd(b"")] {
            let out = decompress(&packed, &Caps::default()).map(Cow::into_owned);
            assert!(out.is_ok(), "{out:?}");
        }
        assert_eq!(
            decompress(&zstd(JSON), &Caps::default()).map(Cow::into_owned),
            Ok(JSON.to_vec())
        );
        // Two frames back to back are read as one payload, like gzip members.
        let mut two = zstd(b"{\"a\":1}\n");
        two.extend(zstd(b"{\"a\":2}\n"));
        assert_eq!(
            decompress(&two, &Caps::default()).map(Cow::into_owned),
            Ok(b"{\"a\":1}\n{\"a\":2}\n".to_vec())
        );

        let exact = zstd(&[b'a'; 5000]);
        assert_eq!(decompress_within(&exact, 5000).map(|b| b.len()), Ok(5000));
        assert_eq!(
            decompress_within(&exact, 4999).map_err(|r| r.reason),
            Err(Reason::TooLarge)
        );
        let bomb = zstd(&vec![b' '; 4 << 20]);
        let out = decompress(&bomb, &Caps::default());
        assert_eq!(
            out.as_ref().map_err(|r| r.reason),
            Err(Reason::TooLarge),
            "{} packed bytes: {out:?}",
            bomb.len()
        );
    }

    #[test]
    fn corrupt_zstd_records_are_bad_compression() {
        let packed = zstd(JSON);
        let mut bad_checksum = packed.clone();
        if let Some(b) = bad_checksum.last_mut() {
            *b ^= 0xff;
        }
        let mut trailing = packed.clone();
        trailing.extend_from_slice(b"garbage");
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("header only", vec![0x28, 0xb5, 0x2f, 0xfd, 1, 2, 3]),
            ("magic only", vec![0x28, 0xb5, 0x2f, 0xfd]),
            (
                "cut in half",
                packed.get(..packed.len() / 2).unwrap().to_vec(),
            ),
            (
                "cut before checksum",
                packed.get(..packed.len() - 4).unwrap().to_vec(),
            ),
            ("bad checksum", bad_checksum),
            ("trailing garbage", trailing),
        ];
        for (name, bytes) in cases {
            let out = decompress(&bytes, &Caps::default());
            let Err(rejection) = out else {
                panic!("{name}: decoded {out:?}")
            };
            assert_eq!(rejection.reason, Reason::BadCompression, "{name}");
            assert!(
                rejection.message.contains("zstd"),
                "{name}: {}",
                rejection.message
            );
        }
    }

    /// A reader that hands out at most `step` bytes per `fill_buf` / `read`.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    impl BufRead for Trickle<'_> {
        fn fill_buf(&mut self) -> io::Result<&[u8]> {
            Ok(&self.data[..self.step.min(self.data.len())])
        }
        fn consume(&mut self, amt: usize) {
            self.data = &self.data[amt..];
        }
    }

    fn read_stream(bytes: &[u8], step: usize) -> (Compression, io::Result<Vec<u8>>) {
        let (kind, mut reader) = match open_stream(Trickle { data: bytes, step }) {
            Ok(opened) => opened,
            Err(e) => return (Compression::None, Err(e)),
        };
        let mut out = Vec::new();
        let read = reader.read_to_end(&mut out).map(|_| out);
        (kind, read)
    }

    #[test]
    fn streams_every_format_however_the_input_is_chunked() {
        let lines = b"{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n";
        let mut gzip_members = gzip(b"{\"a\":1}\n");
        gzip_members.extend(gzip(b"{\"a\":2}\n"));
        gzip_members.extend(gzip(b"{\"a\":3}\n"));
        let mut zstd_frames = zstd(b"{\"a\":1}\n");
        // A skippable frame (magic 0x184D2A50, 3 bytes) between two frames.
        zstd_frames.extend([0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 9, 9, 9]);
        zstd_frames.extend(zstd(b"{\"a\":2}\n{\"a\":3}\n"));
        let cases = [
            ("gzip, 3 members", gzip_members, Compression::Gzip),
            ("zlib", zlib(lines), Compression::Zlib),
            (
                "zstd, 2 frames and a skippable one",
                zstd_frames,
                Compression::Zstd,
            ),
            ("plain", lines.to_vec(), Compression::None),
        ];
        for (name, packed, want) in &cases {
            for step in [1, 2, 3, 5, 4096] {
                let (kind, out) = read_stream(packed, step);
                assert_eq!(kind, *want, "{name}, {step} bytes at a time");
                assert_eq!(
                    out.ok().as_deref(),
                    Some(&lines[..]),
                    "{name}, {step} bytes at a time"
                );
            }
        }
    }

    #[test]
    fn streams_short_inputs() {
        // Input, what it sniffs as, what it decodes to (`None`: an `InvalidData` error).
        type Case<'a> = (&'a [u8], Compression, Option<&'a [u8]>);
        let cases: &[Case<'_>] = &[
            (b"", Compression::None, Some(b"")),
            (b"{", Compression::None, Some(b"{")),
            (b"{}", Compression::None, Some(b"{}")),
            (b"[1]", Compression::None, Some(b"[1]")),
            (&[0x1f], Compression::None, Some(&[0x1f])),
            (
                &[0x28, 0xb5, 0x2f],
                Compression::None,
                Some(&[0x28, 0xb5, 0x2f]),
            ),
            (&[0x78], Compression::None, Some(&[0x78])),
            // The magic bytes and nothing after: a decoder error, not a panic.
            (&[0x1f, 0x8b], Compression::Gzip, None),
            (&[0x1f, 0x8b, 0x08], Compression::Gzip, None),
            (&[0x78, 0x9c], Compression::Zlib, None),
            (&[0x78, 0x9c, 0x03], Compression::Zlib, None),
            (&[0x28, 0xb5, 0x2f, 0xfd], Compression::Zstd, None),
        ];
        for (bytes, want_kind, want) in cases {
            for step in [1, 2, 64] {
                let (kind, out) = read_stream(bytes, step);
                assert_eq!(kind, *want_kind, "input {bytes:02x?}, step {step}");
                match want {
                    Some(want) => assert_eq!(
                        out.ok().as_deref(),
                        Some(*want),
                        "input {bytes:02x?}, step {step}"
                    ),
                    None => assert_eq!(
                        out.map_err(|e| e.kind()).err(),
                        Some(io::ErrorKind::InvalidData),
                        "input {bytes:02x?}, step {step}"
                    ),
                }
            }
        }
    }

    #[test]
    fn truncated_streams_are_io_errors() {
        let lines = b"{\"a\":1}\n".repeat(1000);
        for (name, packed) in [
            ("gzip", gzip(&lines)),
            ("zlib", zlib(&lines)),
            ("zstd", zstd(&lines)),
        ] {
            for cut in [5, packed.len() / 2, packed.len() - 1] {
                let (_, out) = read_stream(&packed[..cut], 7);
                assert_eq!(
                    out.map_err(|e| e.kind()).err(),
                    Some(io::ErrorKind::InvalidData),
                    "{name} cut at {cut} of {}",
                    packed.len()
                );
            }
            let mut flipped = packed.clone();
            let middle = flipped.len() / 2;
            flipped[middle] ^= 0x55;
            let (_, out) = read_stream(&flipped, 4096);
            match out {
                Ok(out) => assert_ne!(out, lines, "{name} with a flipped byte decoded unchanged"),
                Err(e) => assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{name}: {e}"),
            }
        }
    }

    /// Hands out `data`, then fails with `ConnectionReset` (a network read cut short).
    struct Cut<'a> {
        data: &'a [u8],
    }

    impl Read for Cut<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.data.is_empty() {
                return Err(io::ErrorKind::ConnectionReset.into());
            }
            let n = self.data.len().min(buf.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    #[test]
    fn source_errors_keep_their_kind() {
        let lines = b"{\"a\":1}\n".repeat(1000);
        for (name, packed) in [
            ("gzip", gzip(&lines)),
            ("zlib", zlib(&lines)),
            ("zstd", zstd(&lines)),
            ("plain", lines.clone()),
        ] {
            let cut = Cut {
                data: &packed[..packed.len() / 2],
            };
            let Ok((_, mut reader)) = open_stream(io::BufReader::with_capacity(16, cut)) else {
                panic!("{name}: open failed")
            };
            let out = reader.read_to_end(&mut Vec::new());
            assert_eq!(
                out.map_err(|e| e.kind()).err(),
                Some(io::ErrorKind::ConnectionReset),
                "{name}"
            );
        }
    }

    #[test]
    fn streams_past_the_record_cap_in_bounded_buffers() {
        // 24 MiB decompressed (over the 16 MiB record cap), never held whole.
        let chunk = b"{\"request_id\":\"fc417c2b\",\"topic\":\"a.b\"}\n".repeat(1 << 10);
        let rounds = (24 << 20) / chunk.len();
        let mut packed = Vec::new();
        for _ in 0..rounds / 64 {
            packed.extend(gzip(&chunk.repeat(64)));
        }
        let total = (rounds / 64 * 64 * chunk.len()) as u64;
        let Ok((kind, mut reader)) = open_stream(&packed[..]) else {
            panic!("open failed")
        };
        assert_eq!(kind, Compression::Gzip);
        let mut seen = 0u64;
        loop {
            let buf = reader.fill_buf().unwrap();
            if buf.is_empty() {
                break;
            }
            assert!(buf.len() <= STREAM_BUFFER, "{} bytes buffered", buf.len());
            let n = buf.len();
            seen += n as u64;
            reader.consume(n);
        }
        assert_eq!(seen, total);
    }
}
