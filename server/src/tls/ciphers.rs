//! `--ciphers`: cipher-suite names, as rustls, IANA and OpenSSL spell them, to rustls's suites.

use rustls::crypto::ring::cipher_suite as suite;
use rustls::SupportedCipherSuite;

/// gunicorn's default `--ciphers`: every suite rustls offers.
pub const DEFAULT_CIPHERS: &str = "TLS";

/// Each suite rustls (ring) supports, with the names that select it:
/// rustls's (which are IANA's for TLS 1.2), IANA's for TLS 1.3 (OpenSSL's
/// too), and OpenSSL's for TLS 1.2.
const SUITES: &[(SupportedCipherSuite, &[&str])] = &[
    (
        suite::TLS13_AES_256_GCM_SHA384,
        &["TLS13_AES_256_GCM_SHA384", "TLS_AES_256_GCM_SHA384"],
    ),
    (
        suite::TLS13_AES_128_GCM_SHA256,
        &["TLS13_AES_128_GCM_SHA256", "TLS_AES_128_GCM_SHA256"],
    ),
    (
        suite::TLS13_CHACHA20_POLY1305_SHA256,
        &[
            "TLS13_CHACHA20_POLY1305_SHA256",
            "TLS_CHACHA20_POLY1305_SHA256",
        ],
    ),
    (
        suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        &[
            "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
            "ECDHE-ECDSA-AES256-GCM-SHA384",
        ],
    ),
    (
        suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        &[
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
            "ECDHE-ECDSA-AES128-GCM-SHA256",
        ],
    ),
    (
        suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        &[
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
            "ECDHE-ECDSA-CHACHA20-POLY1305",
        ],
    ),
    (
        suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        &[
            "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
            "ECDHE-RSA-AES256-GCM-SHA384",
        ],
    ),
    (
        suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        &[
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            "ECDHE-RSA-AES128-GCM-SHA256",
        ],
    ),
    (
        suite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        &[
            "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
            "ECDHE-RSA-CHACHA20-POLY1305",
        ],
    ),
];

/// The suites a `--ciphers` value selects, in rustls's order of
/// preference: colon-separated names (any case) from [`SUITES`], or `TLS`
/// for all of them.
///
/// # Errors
/// The first name that is unknown, or a suite rustls does not implement,
/// with the names accepted.
pub(crate) fn parse(ciphers: &str) -> Result<Vec<SupportedCipherSuite>, String> {
    let mut chosen = vec![false; SUITES.len()];
    let mut any = false;
    for name in ciphers.split(':').map(str::trim).filter(|n| !n.is_empty()) {
        any = true;
        if name.eq_ignore_ascii_case(DEFAULT_CIPHERS) {
            chosen.iter_mut().for_each(|c| *c = true);
            continue;
        }
        let index = SUITES
            .iter()
            .position(|(_, names)| names.iter().any(|n| n.eq_ignore_ascii_case(name)))
            .ok_or_else(|| {
                format!(
                    "unknown or unsupported cipher {name}: expected TLS (all) or \
                     colon-separated names among {}",
                    SUITES
                        .iter()
                        .flat_map(|(_, names)| names.iter().copied())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })?;
        chosen[index] = true;
    }
    if !any {
        return Err("names no cipher: expected TLS or cipher names".into());
    }
    Ok(SUITES
        .iter()
        .zip(chosen)
        .filter_map(|((suite, _), chosen)| chosen.then_some(*suite))
        .collect())
}

/// `--ciphers` as a check: `Ok` if [`parse`] accepts it.
pub(crate) fn check(ciphers: &str) -> Result<(), String> {
    parse(ciphers).map(drop)
}

#[cfg(test)]
mod tests {
    use rustls::CipherSuite;

    use super::*;

    fn names(ciphers: &str) -> Vec<CipherSuite> {
        parse(ciphers).unwrap().iter().map(|s| s.suite()).collect()
    }

    #[test]
    fn tls_selects_every_suite_rustls_offers() {
        let all = rustls::crypto::ring::default_provider().cipher_suites;
        assert_eq!(names("TLS").len(), SUITES.len());
        for suite in all {
            assert!(names("TLS").contains(&suite.suite()), "{:?}", suite.suite());
        }
    }

    #[test]
    fn rustls_iana_and_openssl_names_select_the_same_suite() {
        assert_eq!(
            names("ECDHE-RSA-AES128-GCM-SHA256"),
            [CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]
        );
        assert_eq!(
            names("tls_ecdhe_rsa_with_aes_128_gcm_sha256"),
            [CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]
        );
        assert_eq!(
            names("TLS_AES_128_GCM_SHA256"),
            names("TLS13_AES_128_GCM_SHA256")
        );
        assert_eq!(
            names("TLS13_AES_128_GCM_SHA256"),
            [CipherSuite::TLS13_AES_128_GCM_SHA256]
        );
    }

    #[test]
    fn a_list_keeps_rustls_order_and_drops_repeats() {
        assert_eq!(
            names(
                "ECDHE-RSA-AES128-GCM-SHA256:TLS13_AES_256_GCM_SHA384:ECDHE-RSA-AES128-GCM-SHA256"
            ),
            [
                CipherSuite::TLS13_AES_256_GCM_SHA384,
                CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
            ]
        );
    }

    #[test]
    fn unknown_and_unsupported_names_are_named_in_the_error() {
        let error = parse("TLS13_AES_128_GCM_SHA256:AES128-SHA").unwrap_err();
        assert!(
            error.starts_with("unknown or unsupported cipher AES128-SHA"),
            "{error}"
        );
        assert!(parse("RC4-MD5").unwrap_err().contains("RC4-MD5"));
        assert!(parse("").is_err());
        assert!(parse(":").is_err());
    }
}
