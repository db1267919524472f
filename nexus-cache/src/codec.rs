//! Turning typed values into bytes for the remote tiers, and back.
//!
//! Frame: `[version][flags][crc32 (LE) of the payload][payload]`, where flags hold the serde format
//! and the compression used. A frame with another version, an unknown flag, a bad checksum or a
//! payload that does not decode is a [`CodecError::Decode`], which the cache treats as a miss
//! (and counts): a format change or a foreign writer is never a crash.
//!
//! ```
//! use nexus_cache::{Codec, CodecError};
//! let codec = Codec::default();
//! let frame = codec.encode(&vec![1u32, 2, 3]).unwrap();
//! assert_eq!(codec.decode::<Vec<u32>>(&frame).unwrap(), vec![1, 2, 3]);
//! // Corrupt bytes (a flipped payload bit) are an error, never a panic or a wrong value.
//! let mut bad = frame.to_vec();
//! *bad.last_mut().unwrap() ^= 1;
//! assert!(matches!(codec.decode::<Vec<u32>>(&bad), Err(CodecError::Decode(_))));
//! ```

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::CodecError;

/// The frame version written by this release.
pub const FRAME_VERSION: u8 = 1;
const HEADER: usize = 6;
/// Default limit on the size of a decompressed value (guards against decompression bombs).
pub const DEFAULT_MAX_DECODED: usize = 64 << 20;

/// How values are serialized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// [postcard](https://docs.rs/postcard): compact and fast; the default. Types that need
    /// `deserialize_any` (e.g. `serde_json::Value`) must use [`Format::Json`].
    Postcard,
    /// JSON: self-describing, readable in `redis-cli`, larger and slower.
    Json,
}

/// How payloads above the threshold are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Compression {
    /// Never compress.
    None,
    /// LZ4 (feature `lz4`, on by default): very fast, moderate ratio.
    #[cfg(feature = "lz4")]
    Lz4,
    /// Zstandard at the given level (feature `zstd`): better ratio, slower.
    #[cfg(feature = "zstd")]
    Zstd(i32),
}

impl Compression {
    fn flag(self) -> u8 {
        match self {
            Compression::None => 0,
            #[cfg(feature = "lz4")]
            Compression::Lz4 => 1,
            #[cfg(feature = "zstd")]
            Compression::Zstd(_) => 2,
        }
    }
}

/// Serializes values for the remote tiers, compressing those above a size threshold.
///
/// ```
/// use nexus_cache::{Codec, Format};
/// let codec = Codec::default().format(Format::Json).compress_above(64);
/// let bytes = codec.encode(&vec!["a"; 100]).unwrap();
/// let back: Vec<String> = codec.decode(&bytes).unwrap();
/// assert_eq!(back.len(), 100);
/// assert!(bytes.len() < 100 * 4);
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct Codec {
    format: Format,
    compression: Compression,
    threshold: usize,
    max_decoded: usize,
}

impl Default for Codec {
    /// postcard; LZ4 above 1 KiB when the `lz4` feature is on (the default), else no compression.
    fn default() -> Self {
        Self {
            format: Format::Postcard,
            #[cfg(feature = "lz4")]
            compression: Compression::Lz4,
            #[cfg(not(feature = "lz4"))]
            compression: Compression::None,
            threshold: 1024,
            max_decoded: DEFAULT_MAX_DECODED,
        }
    }
}

impl Codec {
    /// Sets the serde format.
    pub fn format(mut self, format: Format) -> Self {
        self.format = format;
        self
    }

    /// Sets the compression algorithm.
    pub fn compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    /// Compresses payloads whose serialized size is above `bytes` (default 1 KiB).
    pub fn compress_above(mut self, bytes: usize) -> Self {
        self.threshold = bytes;
        self
    }

    /// Refuses to decompress values that would exceed `bytes` (default 64 MiB).
    pub fn max_decoded_size(mut self, bytes: usize) -> Self {
        self.max_decoded = bytes;
        self
    }

    /// Encodes a value into a frame.
    pub fn encode<V: Serialize + ?Sized>(&self, value: &V) -> Result<Bytes, CodecError> {
        let raw = match self.format {
            Format::Postcard => {
                postcard::to_allocvec(value).map_err(|e| CodecError::Encode(e.to_string()))?
            }
            Format::Json => {
                serde_json::to_vec(value).map_err(|e| CodecError::Encode(e.to_string()))?
            }
        };
        let (compression, payload) = if raw.len() > self.threshold {
            (self.compression, compress(self.compression, raw)?)
        } else {
            (Compression::None, raw)
        };
        let mut out = Vec::with_capacity(HEADER + payload.len());
        out.push(FRAME_VERSION);
        out.push(format_flag(self.format) << 2 | compression.flag());
        out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        out.extend_from_slice(&payload);
        Ok(Bytes::from(out))
    }

    /// Decodes a frame written by [`Codec::encode`] with any format or compression this build
    /// supports.
    pub fn decode<V: DeserializeOwned>(&self, frame: &[u8]) -> Result<V, CodecError> {
        let bad = |m: String| CodecError::Decode(m);
        if frame.len() < HEADER {
            return Err(bad(format!(
                "frame of {} bytes is shorter than its header",
                frame.len()
            )));
        }
        if frame[0] != FRAME_VERSION {
            return Err(bad(format!(
                "frame version {} is not {FRAME_VERSION}",
                frame[0]
            )));
        }
        let flags = frame[1];
        let crc = u32::from_le_bytes([frame[2], frame[3], frame[4], frame[5]]);
        let payload = &frame[HEADER..];
        if crc32fast::hash(payload) != crc {
            return Err(bad("checksum mismatch".into()));
        }
        let decompressed;
        let raw: &[u8] = match flags & 0b11 {
            0 => payload,
            c => {
                decompressed = decompress(c, payload, self.max_decoded)?;
                &decompressed
            }
        };
        match flags >> 2 {
            0 => postcard::from_bytes(raw).map_err(|e| bad(e.to_string())),
            1 => serde_json::from_slice(raw).map_err(|e| bad(e.to_string())),
            f => Err(bad(format!("unknown format flag {f}"))),
        }
    }

    /// An estimate of a value's size in bytes (its postcard size), used to weigh L1 entries when no
    /// remote tier made us encode it anyway.
    pub fn estimate_size<V: Serialize + ?Sized>(value: &V) -> usize {
        postcard::serialize_with_flavor(value, postcard::ser_flavors::Size::default()).unwrap_or(0)
    }
}

fn format_flag(f: Format) -> u8 {
    match f {
        Format::Postcard => 0,
        Format::Json => 1,
    }
}

fn compress(c: Compression, raw: Vec<u8>) -> Result<Vec<u8>, CodecError> {
    match c {
        Compression::None => Ok(raw),
        #[cfg(feature = "lz4")]
        Compression::Lz4 => Ok(lz4_flex::compress_prepend_size(&raw)),
        #[cfg(feature = "zstd")]
        Compression::Zstd(level) => {
            zstd::bulk::compress(&raw, level).map_err(|e| CodecError::Encode(e.to_string()))
        }
    }
}

fn decompress(flag: u8, payload: &[u8], max: usize) -> Result<Vec<u8>, CodecError> {
    let _ = (payload, max); // unused when no compression feature is compiled in
    let bad = |m: String| CodecError::Decode(m);
    match flag {
        #[cfg(feature = "lz4")]
        1 => {
            let Some(size) = payload.get(..4) else {
                return Err(bad("lz4 payload too short".into()));
            };
            let size = u32::from_le_bytes([size[0], size[1], size[2], size[3]]) as usize;
            if size > max {
                return Err(bad(format!(
                    "lz4 payload claims {size} bytes, over the {max}-byte limit"
                )));
            }
            lz4_flex::decompress(&payload[4..], size).map_err(|e| bad(e.to_string()))
        }
        #[cfg(feature = "zstd")]
        2 => zstd::bulk::decompress(payload, max).map_err(|e| bad(e.to_string())),
        other => Err(bad(format!(
            "compression {other} is unknown or not compiled in"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde::Deserialize;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Doc {
        id: u64,
        title: String,
        tags: Vec<String>,
        score: Option<i32>,
    }

    fn doc() -> impl Strategy<Value = Doc> {
        (
            any::<u64>(),
            ".{0,3000}",
            proptest::collection::vec("[a-z]{0,8}", 0..5),
            any::<Option<i32>>(),
        )
            .prop_map(|(id, title, tags, score)| Doc {
                id,
                title,
                tags,
                score,
            })
    }

    fn codecs() -> Vec<Codec> {
        let v = vec![
            Codec::default(),
            Codec::default().format(Format::Json),
            Codec::default().compression(Compression::None),
            Codec::default().compress_above(0),
        ];
        #[cfg(feature = "zstd")]
        let v = {
            let mut v = v;
            v.push(
                Codec::default()
                    .compression(Compression::Zstd(3))
                    .compress_above(16),
            );
            v
        };
        v
    }

    proptest! {
        #[test]
        fn round_trips(d in doc()) {
            for c in codecs() {
                let bytes = c.encode(&d).unwrap();
                prop_assert_eq!(c.decode::<Doc>(&bytes).unwrap(), d.clone());
            }
        }

        #[test]
        fn any_codec_reads_any_frame(d in doc()) {
            let frames: Vec<Bytes> = codecs().iter().map(|c| c.encode(&d).unwrap()).collect();
            for f in &frames {
                prop_assert_eq!(Codec::default().decode::<Doc>(f).unwrap(), d.clone());
            }
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = Codec::default().decode::<Doc>(&bytes);
        }

        #[test]
        fn flipped_bit_is_detected(d in doc(), pos in any::<prop::sample::Index>(), bit in 0u8..8) {
            let mut bytes = Codec::default().encode(&d).unwrap().to_vec();
            let i = pos.index(bytes.len());
            bytes[i] ^= 1 << bit;
            match Codec::default().decode::<Doc>(&bytes) {
                Err(_) => {}
                // A flip in the flags byte can only switch format/compression; anything decoded must
                // not silently be a different document.
                Ok(back) => prop_assert_eq!(back, d),
            }
        }
    }

    #[test]
    fn compression_kicks_in_above_threshold() {
        let d = Doc {
            id: 1,
            title: "x".repeat(10_000),
            tags: vec![],
            score: None,
        };
        let small = Codec::default().encode(&d).unwrap();
        let plain = Codec::default()
            .compression(Compression::None)
            .encode(&d)
            .unwrap();
        assert!(
            small.len() * 10 < plain.len(),
            "{} vs {}",
            small.len(),
            plain.len()
        );
    }

    #[test]
    fn other_version_is_a_decode_error() {
        let mut bytes = Codec::default().encode(&1u32).unwrap().to_vec();
        bytes[0] = 9;
        let err = Codec::default().decode::<u32>(&bytes).unwrap_err();
        assert!(err.to_string().contains("version 9"), "{err}");
    }

    #[test]
    fn decompression_bomb_is_refused() {
        let big = vec![0u8; 1 << 20];
        let codec = Codec::default().compress_above(0);
        let bytes = codec.encode(&big).unwrap();
        let err = codec
            .max_decoded_size(1024)
            .decode::<Vec<u8>>(&bytes)
            .unwrap_err();
        assert!(err.to_string().contains("limit"), "{err}");
    }
}
