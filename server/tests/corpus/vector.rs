//! What a corpus entry is: the bytes a client sends on a fresh connection,
//! the requests the application must see, and how the connection must end.
//!
//! Rows are built with `const fn`s so each table reads as data:
//!
//! ```text
//! parses(
//!     "query",
//!     b"GET /a?b HTTP/1.1\r\nHost: x\r\n\r\n",
//!     &[get("/a?b").parts("/a", "b", "").headers(HOST_X)],
//! )
//! refused("lower-case method", b"get / HTTP/1.1\r\nHost: x\r\n\r\n", 400)
//! ```

use std::io::ErrorKind;

/// One request vector.
#[derive(Debug, Clone, Copy)]
pub struct Vector {
    /// What the vector exercises; unique within the corpus.
    pub name: &'static str,
    /// Everything the client sends, then it closes its side.
    pub input: &'static [u8],
    /// The requests the application sees, in order, each body read to its end.
    pub requests: &'static [Seen],
    /// How the connection ends after those requests.
    pub ending: Ending,
    /// `100 Continue` responses sent before the final ones.
    pub continues: usize,
}

/// How a connection ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Every request answered 200, the last one without closing.
    Open,
    /// Every request answered 200, the last one with `Connection: close`.
    Closed,
    /// Every listed request answered 200, then the next head refused with
    /// this status before the application runs, and the connection closed.
    Refused(u16),
    /// The last listed request reaches the application, but reading its
    /// body fails with this error kind; the engine answers the status
    /// instead of the application and closes.
    BodyRefused(u16, ErrorKind),
}

/// A request as the application sees it.
#[derive(Debug, Clone, Copy)]
pub struct Seen {
    pub method: &'static str,
    /// The request-target as received.
    pub target: &'static str,
    /// The target's path (still percent-encoded), query and fragment, for
    /// the vectors about them; `None` leaves them unchecked.
    pub parts: Option<(&'static str, &'static str, &'static str)>,
    /// `"1.1"` or `"1.0"`.
    pub version: &'static str,
    /// Names lower-cased, in `HeaderMap` order (a repeated name's values
    /// follow its first one).
    pub headers: &'static [(&'static str, &'static str)],
    /// The decoded body; for [`Ending::BodyRefused`], what was read before
    /// the error.
    pub body: &'static [u8],
    pub trailers: &'static [(&'static str, &'static str)],
}

/// A vector whose requests are all served; the connection stays open.
pub const fn parses(name: &'static str, input: &'static [u8], requests: &'static [Seen]) -> Vector {
    Vector {
        name,
        input,
        requests,
        ending: Ending::Open,
        continues: 0,
    }
}

/// A vector whose first head is refused with `status`.
pub const fn refused(name: &'static str, input: &'static [u8], status: u16) -> Vector {
    Vector {
        name,
        input,
        requests: &[],
        ending: Ending::Refused(status),
        continues: 0,
    }
}

/// A vector whose last request has a malformed body: the application sees
/// `requests`, its body read fails with `InvalidData`, and the engine
/// answers 400.
pub const fn malformed_body(
    name: &'static str,
    input: &'static [u8],
    requests: &'static [Seen],
) -> Vector {
    Vector {
        name,
        input,
        requests,
        ending: Ending::BodyRefused(400, ErrorKind::InvalidData),
        continues: 0,
    }
}

/// A vector whose last body ends with the input: the body read fails with
/// `UnexpectedEof`, and the engine answers 400.
pub const fn truncated_body(
    name: &'static str,
    input: &'static [u8],
    requests: &'static [Seen],
) -> Vector {
    Vector {
        name,
        input,
        requests,
        ending: Ending::BodyRefused(400, ErrorKind::UnexpectedEof),
        continues: 0,
    }
}

impl Vector {
    /// The last response closes the connection.
    pub const fn closed(self) -> Vector {
        Vector {
            ending: Ending::Closed,
            ..self
        }
    }

    /// The listed requests are served, then the next head is refused.
    pub const fn then_refused(self, status: u16) -> Vector {
        Vector {
            ending: Ending::Refused(status),
            ..self
        }
    }

    /// `count` `100 Continue` responses precede the final ones.
    pub const fn continues(self, count: usize) -> Vector {
        Vector {
            continues: count,
            ..self
        }
    }
}

/// The one field most vectors send, as the application sees it.
pub const HOST_X: &[(&str, &str)] = &[("host", "x")];

/// An HTTP/1.1 request with no fields and no body.
pub const fn request(method: &'static str, target: &'static str) -> Seen {
    Seen {
        method,
        target,
        parts: None,
        version: "1.1",
        headers: &[],
        body: b"",
        trailers: &[],
    }
}

/// An HTTP/1.1 `GET` with no fields.
pub const fn get(target: &'static str) -> Seen {
    request("GET", target)
}

/// An HTTP/1.1 `POST` with no fields.
pub const fn post(target: &'static str) -> Seen {
    request("POST", target)
}

impl Seen {
    pub const fn http10(self) -> Seen {
        Seen {
            version: "1.0",
            ..self
        }
    }

    pub const fn headers(self, headers: &'static [(&'static str, &'static str)]) -> Seen {
        Seen { headers, ..self }
    }

    pub const fn body(self, body: &'static [u8]) -> Seen {
        Seen { body, ..self }
    }

    pub const fn trailers(self, trailers: &'static [(&'static str, &'static str)]) -> Seen {
        Seen { trailers, ..self }
    }

    pub const fn parts(
        self,
        path: &'static str,
        query: &'static str,
        fragment: &'static str,
    ) -> Seen {
        Seen {
            parts: Some((path, query, fragment)),
            ..self
        }
    }
}
