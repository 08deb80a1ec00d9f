//! Compression of record payloads: sniffing gzip / zlib / zstd by their magic bytes, and
//! size-capped decompression. This is the only module that builds flate2 decoders (clippy.toml
//! bans them elsewhere), so every decompression in loglift goes through a cap.

use std::borrow::Cow;
use std::io::{self, Read, Write};

use crate::reject::{Reason, Rejection};

/// What a payload's first bytes say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    /// `1f 8b`: gzip, possibly several members back to back.
    Gzip,
    /// `78 xx` with a valid zlib header check (CM = 8, FCHECK ok, no preset dictionary).
    Zlib,
    /// `28 b5 2f fd`: zstd (recognised, not decoded).
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

/// Decompress `bytes` if its magic bytes say gzip or zlib, within the caps computed for its size.
///
/// Uncompressed input comes back borrowed. Errors: [`Reason::TooLarge`] over the cap,
/// [`Reason::BadCompression`] when corrupt or truncated, [`Reason::UnsupportedCompression`] for
/// zstd.
pub fn decompress<'a>(bytes: &'a [u8], caps: &Caps) -> Result<Cow<'a, [u8]>, Rejection> {
    decompress_within(bytes, caps.limit_for(bytes.len()))
}

/// Like [`decompress`], with an explicit cap on the decompressed size (for callers that share
/// one budget between several payloads, such as the user records of one KPL aggregate).
pub fn decompress_within(bytes: &[u8], limit: usize) -> Result<Cow<'_, [u8]>, Rejection> {
    let kind = sniff(bytes);
    match kind {
        Compression::None => Ok(Cow::Borrowed(bytes)),
        Compression::Zstd => Err(Rejection::new(
            Reason::UnsupportedCompression,
            "zstd records are not supported in stream records (send gzip or zlib)",
        )),
        Compression::Gzip => {
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
    fn zstd_is_unsupported() {
        let out = decompress(&[0x28, 0xb5, 0x2f, 0xfd, 0x04, 0x00], &Caps::default());
        let Err(rejection) = out else {
            panic!("zstd decoded")
        };
        assert_eq!(rejection.reason, Reason::UnsupportedCompression);
        assert!(rejection.message.contains("zstd"), "{}", rejection.message);
    }
}
