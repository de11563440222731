//! Conversation access tokens: what lets a customer's browser (and only theirs) open the
//! live socket of its conversation.
//!
//! A token is an HMAC-SHA256 of the conversation id under a server key kept in the data dir,
//! so tokens need no table, survive restarts, and cannot be made for another conversation
//! without the key. The REST API still accepts the bare (unguessable) conversation id, as
//! before; the websocket asks for the token too.

use crate::messaging::sign::{hmac_sha256, same};
use base64::Engine;
use std::path::Path;
use warmline_domain::{ConversationId, DomainError};

/// Bytes of the HMAC kept in a token (192 bits).
const TOKEN_BYTES: usize = 24;
const KEY_BYTES: usize = 32;

/// The server's key for conversation tokens. Cheap to clone.
#[derive(Clone)]
pub struct AccessKey(std::sync::Arc<[u8; KEY_BYTES]>);

impl std::fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccessKey(..)")
    }
}

impl AccessKey {
    /// A fresh random key (tests, and the first start of a data dir).
    pub fn random() -> Result<Self, DomainError> {
        let mut key = [0u8; KEY_BYTES];
        getrandom::fill(&mut key)
            .map_err(|e| DomainError::internal(format!("no randomness for the widget key: {e}")))?;
        Ok(Self(std::sync::Arc::new(key)))
    }

    /// The key in `path` (hex), created (readable by the owner only) when missing, so tokens
    /// stay valid across restarts.
    pub fn load_or_create(path: &Path) -> Result<Self, DomainError> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let bytes = hex::decode(text.trim())
                    .ok()
                    .filter(|b| b.len() == KEY_BYTES);
                let bytes = bytes.ok_or_else(|| {
                    DomainError::internal(format!(
                        "{} is not a widget key (64 hex digits); delete it to make a new one",
                        path.display()
                    ))
                })?;
                let mut key = [0u8; KEY_BYTES];
                key.copy_from_slice(&bytes);
                Ok(Self(std::sync::Arc::new(key)))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::random()?;
                write_private(path, &hex::encode(*key.0)).map_err(|e| {
                    DomainError::internal(format!("cannot write {}: {e}", path.display()))
                })?;
                Ok(key)
            }
            Err(e) => Err(DomainError::internal(format!(
                "cannot read {}: {e}",
                path.display()
            ))),
        }
    }

    /// The access token of conversation `id`.
    pub fn token(&self, id: ConversationId) -> String {
        let mac = hmac_sha256(self.0.as_slice(), &[b"conversation:", id.0.as_bytes()]);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&mac[..TOKEN_BYTES])
    }

    /// Whether `token` is conversation `id`'s (in constant time).
    pub fn verify(&self, id: ConversationId, token: &str) -> bool {
        same(self.token(id).as_bytes(), token.as_bytes())
    }
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_opens_its_own_conversation_only() {
        let key = AccessKey::random().unwrap();
        let (a, b) = (ConversationId::new(), ConversationId::new());
        let token = key.token(a);
        assert_eq!(token.len(), 32);
        assert!(key.verify(a, &token));
        assert!(!key.verify(b, &token));
        assert!(!key.verify(a, ""));
        let other = AccessKey::random().unwrap();
        assert!(!other.verify(a, &token), "another server's key");
    }

    #[test]
    fn the_key_survives_a_restart() {
        let dir = tempfile_dir();
        let path = dir.join("widget.key");
        let first = AccessKey::load_or_create(&path).unwrap();
        let again = AccessKey::load_or_create(&path).unwrap();
        let id = ConversationId::new();
        assert_eq!(first.token(id), again.token(id));
        std::fs::write(&path, "not hex").unwrap();
        let err = AccessKey::load_or_create(&path).unwrap_err();
        assert!(err.message.contains("widget key"), "{}", err.message);
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("warmline-key-{}", ConversationId::new()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
