//! Bytes read back from Redis: any frame decodes to a value or a typed error, never a panic,
//! and a value that decodes encodes back to a frame that decodes to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nexus_cache::{Codec, Compression, Format};

fuzz_target!(|data: &[u8]| {
    let postcard = [
        Codec::default().compress_above(16),
        Codec::default()
            .compression(Compression::Zstd(1))
            .compress_above(16)
            .max_decoded_size(1 << 20),
    ];
    for codec in postcard {
        if let Ok(v) = codec.decode::<Vec<String>>(data) {
            let again = codec.encode(&v).expect("a decoded value encodes");
            assert_eq!(codec.decode::<Vec<String>>(&again).expect("round trip"), v);
        }
    }
    let json = Codec::default().format(Format::Json).compress_above(16);
    if let Ok(v) = json.decode::<serde_json::Value>(data) {
        let again = json.encode(&v).expect("a decoded value encodes");
        assert_eq!(
            json.decode::<serde_json::Value>(&again)
                .expect("round trip"),
            v
        );
    }
});
