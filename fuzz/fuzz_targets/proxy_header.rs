//! Fuzzes the PROXY protocol header: the pure parser on arbitrary bytes
//! and on every prefix of them, and the reader over a stream that hands
//! them out in fuzzer-chosen sizes. Nothing may panic; the parser must be
//! consistent with itself (a complete header stays complete, with the same
//! length, as bytes are appended; a prefix of a header is incomplete, never
//! an error), and the reader must take exactly the header's bytes.
#![no_main]

use std::io::{self, Read};

use libfuzzer_sys::fuzz_target;
use moss_server::trust::proxy::{parse, read_header, Parsed, Peek, ProxyProtocol};

/// Bytes handed out at most `chunk` at a time, to reads and peeks alike.
struct Stream<'a> {
    input: &'a [u8],
    pos: usize,
    chunk: usize,
}

impl Read for Stream<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.chunk.min(buf.len()).min(self.input.len() - self.pos);
        buf[..n].copy_from_slice(&self.input[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl Peek for Stream<'_> {
    fn peek(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.chunk.min(buf.len()).min(self.input.len() - self.pos);
        buf[..n].copy_from_slice(&self.input[self.pos..self.pos + n]);
        Ok(n)
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, input)) = data.split_first() else {
        return;
    };
    let whole = parse(input);
    if let Ok(Parsed::Complete { len, .. }) = whole {
        assert!(len <= input.len());
        for end in 0..len {
            assert_eq!(
                parse(&input[..end]),
                Ok(Parsed::Incomplete),
                "prefix of {end}"
            );
        }
        for end in len..input.len() {
            assert_eq!(parse(&input[..end]), whole);
        }
    }
    let mode = match first >> 6 {
        0 => ProxyProtocol::V1,
        1 => ProxyProtocol::V2,
        _ => ProxyProtocol::Auto,
    };
    let mut stream = Stream {
        input,
        pos: 0,
        chunk: usize::from(first & 0x3F) + 1,
    };
    match read_header(&mut stream, mode) {
        Ok(header) => {
            let Ok(Parsed::Complete {
                header: parsed,
                len,
            }) = whole
            else {
                panic!("read {header:?} where the parser says {whole:?}");
            };
            assert_eq!((header, stream.pos), (parsed, len));
        }
        Err(_) => {
            assert!(!matches!(whole, Ok(Parsed::Complete { .. })) || mode != ProxyProtocol::Auto)
        }
    }
});
