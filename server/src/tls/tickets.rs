//! Session tickets every worker can open: one AEAD key per configuration load, shared by the forked workers.
//!
//! rustls's own ticketer makes its key where it is created and, with
//! resumption by session id, each process keeps its own cache: a client
//! whose next connection reaches another worker process would do a full
//! handshake again. The master builds the TLS configuration, with this
//! ticketer, before it forks; the workers inherit the key, so any worker
//! opens a ticket that any other sealed (nginx does the same with the
//! keys it makes at start-up). A new key comes with every load (start,
//! HUP): rotate by reloading. Tickets of the previous key are refused (a
//! full handshake), never misread.

use std::fmt;
use std::sync::Arc;

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use rustls::server::ProducesTickets;

/// How long a client may offer a ticket (rustls also checks its age).
const LIFETIME_SECS: u32 = 12 * 60 * 60;

/// Bound to every ticket: a ciphertext of any other use does not open.
const AAD: &[u8] = b"moss session ticket v1";

/// Seals tickets with ChaCha20-Poly1305 under a key made once, a random
/// nonce per ticket (prepended).
pub(crate) struct SharedTickets {
    key: LessSafeKey,
    random: SystemRandom,
}

impl SharedTickets {
    /// A ticketer with a fresh random key, ready for a `ServerConfig`.
    pub(crate) fn shared() -> Result<Arc<dyn ProducesTickets>, ring::error::Unspecified> {
        let random = SystemRandom::new();
        let mut key = [0; 32];
        random.fill(&mut key)?;
        let key = LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, &key)?);
        Ok(Arc::new(SharedTickets { key, random }))
    }
}

impl fmt::Debug for SharedTickets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedTickets").finish_non_exhaustive()
    }
}

impl ProducesTickets for SharedTickets {
    fn enabled(&self) -> bool {
        true
    }

    fn lifetime(&self) -> u32 {
        LIFETIME_SECS
    }

    fn encrypt(&self, plain: &[u8]) -> Option<Vec<u8>> {
        let mut nonce = [0; NONCE_LEN];
        self.random.fill(&mut nonce).ok()?;
        let tag_len = CHACHA20_POLY1305.tag_len();
        let mut sealed = Vec::with_capacity(NONCE_LEN + plain.len() + tag_len);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(plain);
        let tag = self
            .key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(AAD),
                &mut sealed[NONCE_LEN..],
            )
            .ok()?;
        sealed.extend_from_slice(tag.as_ref());
        Some(sealed)
    }

    fn decrypt(&self, sealed: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < NONCE_LEN + CHACHA20_POLY1305.tag_len() {
            return None;
        }
        let (nonce, rest) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut buffer = rest.to_vec();
        let plain_len = self
            .key
            .open_in_place(nonce, Aad::from(AAD), &mut buffer)
            .ok()?
            .len();
        buffer.truncate(plain_len);
        Some(buffer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ticket_opens_with_its_key_only_and_tampering_is_refused() {
        let one = SharedTickets::shared().unwrap();
        let other = SharedTickets::shared().unwrap();
        let sealed = one.encrypt(b"session state").unwrap();
        assert_eq!(one.decrypt(&sealed).as_deref(), Some(&b"session state"[..]));
        assert_eq!(other.decrypt(&sealed), None, "another load's key");
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert_eq!(one.decrypt(&tampered), None);
        assert_eq!(one.decrypt(&sealed[..NONCE_LEN]), None, "too short");
        assert_ne!(
            one.encrypt(b"session state").unwrap(),
            sealed,
            "a nonce per ticket"
        );
    }
}
