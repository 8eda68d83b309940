//! How a body is delimited, for requests and responses: Content-Length, codings, precedence.
//!
//! RFC 9112 section 6: one Content-Length rule, the transfer codings a
//! request may use, and the one order in which they decide framing.

use http::Version;

use super::error::HttpError;

/// How a body is delimited on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body bytes follow: none may, none were declared, or a length of 0.
    Empty,
    /// Exactly this many bytes (never 0).
    Length(u64),
    /// Chunked transfer coding (as the final coding).
    Chunked,
    /// Until the connection closes (responses to HTTP/1.0 clients only).
    UntilClose,
}

impl Framing {
    /// The one precedence, RFC 9112 section 6.3 in order: a message that
    /// cannot have a body (`bodiless`: a response to HEAD, 1xx, 204, 304)
    /// has none; else `chunked` as the final transfer coding delimits it;
    /// else a valid `length`; else `undelimited`, which the role decides
    /// (a request has no body; a response is chunked to HTTP/1.1 clients
    /// and runs until close to HTTP/1.0 ones).
    ///
    /// A request that declares both a length and chunking is refused
    /// before this ([`request_framing`]); the engine never sends both.
    pub(crate) fn decide(
        bodiless: bool,
        chunked: bool,
        length: Option<u64>,
        undelimited: Framing,
    ) -> Framing {
        if bodiless {
            Framing::Empty
        } else if chunked {
            Framing::Chunked
        } else {
            match length {
                Some(0) => Framing::Empty,
                Some(len) => Framing::Length(len),
                None => undelimited,
            }
        }
    }
}

/// The Content-Length rule, for the requests the engine reads and the
/// `Content-Length` an application sets on a response:
/// `Content-Length = 1*DIGIT`, no sign, no list, no whitespace, at most 19
/// digits (so that it fits in a `u64`). `None` if `value` breaks it.
pub(crate) fn content_length(value: &[u8]) -> Option<u64> {
    if value.is_empty() || value.len() > 19 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(value.iter().fold(0, |n, &d| n * 10 + u64::from(d - b'0')))
}

/// Transfer codings the engine passes through undecoded before `chunked`
/// (`identity`, which RFC 9112 no longer defines, changes nothing).
const KNOWN_CODINGS: [&[u8]; 6] = [
    b"gzip",
    b"x-gzip",
    b"deflate",
    b"compress",
    b"x-compress",
    b"identity",
];

/// The `Transfer-Encoding` fields of a request, as seen so far.
#[derive(Debug, Default)]
pub(crate) struct TransferCodings {
    /// A `Transfer-Encoding` field was present.
    present: bool,
    /// `chunked` was the last coding seen.
    chunked: bool,
    /// A coding the engine does not know was seen.
    unknown: bool,
}

impl TransferCodings {
    /// Takes in one `Transfer-Encoding` field value. Empty elements are
    /// refused, stricter than RFC 9110 section 5.6.1.2: an unusual
    /// `Transfer-Encoding` may be read one way here and another way by a
    /// server in front (TE.TE request smuggling).
    pub(crate) fn note(&mut self, value: &[u8]) -> Result<(), HttpError> {
        self.present = true;
        for coding in value.split(|&b| b == b',') {
            let coding = coding.trim_ascii();
            if self.chunked {
                return Err(HttpError::BadRequest("chunked is not the final coding"));
            }
            if coding.is_empty() {
                return Err(HttpError::BadRequest("empty transfer coding"));
            }
            if coding.eq_ignore_ascii_case(b"chunked") {
                self.chunked = true;
            } else if !KNOWN_CODINGS
                .iter()
                .any(|known| coding.eq_ignore_ascii_case(known))
            {
                self.unknown = true;
            }
        }
        Ok(())
    }
}

/// The framing of a request, refusing what could be read two ways (request
/// smuggling) with 400: any `Transfer-Encoding` in HTTP/1.0 (RFC 9112
/// section 6.1: faulty framing), one whose final coding is not `chunked`
/// (section 6.3, rule 4), one with a `Content-Length` (section 6.1). Then
/// 501 for a coding the engine does not know before the final `chunked`
/// (section 6.1). `length` is the request's valid Content-Length.
pub(crate) fn request_framing(
    codings: &TransferCodings,
    length: Option<u64>,
    version: Version,
) -> Result<Framing, HttpError> {
    if codings.present {
        if version == Version::HTTP_10 {
            return Err(HttpError::BadRequest("Transfer-Encoding in HTTP/1.0"));
        }
        if !codings.chunked {
            return Err(HttpError::BadRequest("chunked is not the final coding"));
        }
        if length.is_some() {
            return Err(HttpError::BadRequest(
                "both Content-Length and Transfer-Encoding",
            ));
        }
        if codings.unknown {
            return Err(HttpError::UnsupportedTransferCoding);
        }
    }
    Ok(Framing::decide(
        false,
        codings.chunked,
        length,
        Framing::Empty,
    ))
}

/// The framing of a response: `bodiless` for HEAD, 1xx, 204 and 304;
/// `length` from the body or the application's valid Content-Length.
pub(crate) fn response_framing(bodiless: bool, length: Option<u64>, version: Version) -> Framing {
    let undelimited = match version {
        Version::HTTP_11 => Framing::Chunked,
        _ => Framing::UntilClose,
    };
    Framing::decide(bodiless, false, length, undelimited)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_length_is_one_to_nineteen_digits() {
        for (good, len) in [
            ("0", 0),
            ("00", 0),
            ("13", 13),
            ("9999999999999999999", 9_999_999_999_999_999_999),
        ] {
            assert_eq!(content_length(good.as_bytes()), Some(len), "{good:?}");
        }
        for bad in [
            "-1",
            "+1",
            "1 2",
            " 1",
            "1 ",
            "0x10",
            "5, 5",
            "",
            "99999999999999999999",
        ] {
            assert_eq!(content_length(bad.as_bytes()), None, "{bad:?}");
        }
    }

    #[test]
    fn precedence_is_bodiless_then_chunked_then_length() {
        use Framing::*;
        assert_eq!(Framing::decide(true, true, Some(5), Chunked), Empty);
        assert_eq!(Framing::decide(false, true, None, Empty), Chunked);
        assert_eq!(Framing::decide(false, false, Some(5), Chunked), Length(5));
        assert_eq!(Framing::decide(false, false, Some(0), Chunked), Empty);
        assert_eq!(Framing::decide(false, false, None, UntilClose), UntilClose);
        assert_eq!(response_framing(false, None, Version::HTTP_11), Chunked);
        assert_eq!(response_framing(false, None, Version::HTTP_10), UntilClose);
        assert_eq!(response_framing(true, Some(3), Version::HTTP_11), Empty);
    }

    #[test]
    fn requests_with_two_framings_are_refused() {
        let codings = |values: &[&str]| {
            let mut codings = TransferCodings::default();
            for value in values {
                codings.note(value.as_bytes()).unwrap();
            }
            codings
        };
        let chunked = codings(&["gzip, chunked"]);
        assert_eq!(
            request_framing(&chunked, None, Version::HTTP_11),
            Ok(Framing::Chunked)
        );
        assert!(request_framing(&chunked, Some(5), Version::HTTP_11).is_err());
        assert!(request_framing(&chunked, None, Version::HTTP_10).is_err());
        let identity = codings(&["identity"]);
        for version in [Version::HTTP_10, Version::HTTP_11] {
            assert!(request_framing(&identity, Some(5), version).is_err());
            assert!(request_framing(&identity, None, version).is_err());
        }
    }

    #[test]
    fn a_final_coding_other_than_chunked_is_400_an_unknown_one_before_chunked_501() {
        let framing = |values: &[&str]| {
            let mut codings = TransferCodings::default();
            for value in values {
                codings.note(value.as_bytes())?;
            }
            request_framing(&codings, None, Version::HTTP_11)
        };
        for bad in [
            &["br"][..],
            &["chunk"],
            &["gzip"],
            &["br", "gzip"],
            &["chunked;q=1"],
        ] {
            assert!(
                matches!(framing(bad), Err(HttpError::BadRequest(_))),
                "{bad:?}"
            );
        }
        for unknown in [
            &["br, chunked"][..],
            &["br", "chunked"],
            &["chunked;q=1, chunked"],
        ] {
            assert_eq!(
                framing(unknown),
                Err(HttpError::UnsupportedTransferCoding),
                "{unknown:?}"
            );
        }
        assert_eq!(framing(&["identity, chunked"]), Ok(Framing::Chunked));
    }
}
