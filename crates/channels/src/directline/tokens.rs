//! Direct Line tokens: compact JWTs (HS256, the `jsonwebtoken` crate) signed with a key derived
//! from the Direct Line secret, bound to one conversation and one user, expiring.
//!
//! They are JWTs because Web Chat reads the `user` claim out of the token (directline-js
//! `parseToken`): a user id embedded there is the one Web Chat sends, and one starting with
//! `dl_` is accepted only from the token. Two uses: `api` tokens authorize the REST routes
//! (and are refreshed), `stream` tokens ride a `streamUrl` for a few minutes and open only
//! that conversation's websocket.

use crate::messaging::sign::hmac_sha256;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use warmline_domain::ConversationId;

/// What a token may be used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Use {
    /// `Authorization: Bearer` on the REST routes of its conversation.
    Api,
    /// The `t` parameter of a `streamUrl`.
    Stream,
}

/// The claims of a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The conversation the token opens (and no other).
    pub conv: String,
    /// The user id bound to the token (Web Chat reads this claim).
    pub user: String,
    /// Issued and expiry times, Unix seconds.
    pub iat: i64,
    pub exp: i64,
    #[serde(rename = "use")]
    pub usage: Use,
}

impl Claims {
    pub fn new(conv: ConversationId, user: &str, usage: Use, now: i64, ttl_secs: i64) -> Self {
        Self {
            conv: conv.to_string(),
            user: user.to_owned(),
            iat: now,
            exp: now + ttl_secs,
            usage,
        }
    }

    /// The conversation, parsed.
    pub fn conversation(&self) -> Option<ConversationId> {
        self.conv.parse().ok()
    }
}

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Not a token of this server (bad shape, bad signature, unknown claims).
    Forged,
    /// A genuine token past its expiry.
    Expired,
    /// A genuine token for another use (a stream token on the REST routes, or the reverse).
    WrongUse,
}

/// Signs and checks tokens with a key derived from the Direct Line secret.
#[derive(Clone)]
pub struct Signer {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer(..)")
    }
}

impl Signer {
    /// The token key is an HMAC of the secret, so a leaked token key would not be the secret.
    pub fn new(secret: &str) -> Self {
        let key = hmac_sha256(secret.as_bytes(), &[b"warmline directline tokens v1"]);
        // HS256 only; expiry and use are checked against the caller's clock below.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        Self {
            encoding: EncodingKey::from_secret(&key).expect("a 32-byte HMAC key"),
            decoding: DecodingKey::from_secret(&key).expect("a 32-byte HMAC key"),
            validation,
        }
    }

    pub fn sign(&self, claims: &Claims) -> String {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .expect("HS256 claims always sign")
    }

    /// The claims of `token` if this server signed it for `usage` and it has not expired at
    /// `now` (Unix seconds).
    pub fn verify(&self, token: &str, usage: Use, now: i64) -> Result<Claims, Refused> {
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| Refused::Forged)?
            .claims;
        if claims.usage != usage {
            return Err(Refused::WrongUse);
        }
        if claims.exp <= now {
            return Err(Refused::Expired);
        }
        Ok(claims)
    }
}

/// The current time in Unix seconds.
pub fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn claims(usage: Use, now: i64) -> Claims {
        Claims::new(ConversationId::new(), "dl_abc", usage, now, 1800)
    }

    #[test]
    fn a_signed_token_verifies_until_it_expires() {
        let signer = Signer::new("s3cret");
        let c = claims(Use::Api, 1_000);
        let token = signer.sign(&c);
        assert_eq!(signer.verify(&token, Use::Api, 1_000), Ok(c.clone()));
        assert_eq!(signer.verify(&token, Use::Api, 2_799), Ok(c));
        assert_eq!(
            signer.verify(&token, Use::Api, 2_800),
            Err(Refused::Expired)
        );
    }

    #[test]
    fn forged_altered_and_foreign_tokens_are_refused() {
        let signer = Signer::new("s3cret");
        let token = signer.sign(&claims(Use::Api, 1_000));
        let other = Signer::new("another secret").sign(&claims(Use::Api, 1_000));
        assert_eq!(signer.verify(&other, Use::Api, 1_000), Err(Refused::Forged));
        // Another user or conversation in the payload, same signature.
        let (head, rest) = token.split_once('.').unwrap();
        let (_, signature) = rest.split_once('.').unwrap();
        let mut forged_claims = claims(Use::Api, 1_000);
        forged_claims.user = "dl_someone_else".into();
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged_claims).unwrap());
        let forged = format!("{head}.{payload}.{signature}");
        assert_eq!(
            signer.verify(&forged, Use::Api, 1_000),
            Err(Refused::Forged)
        );
        // An unsigned token (`alg: none`) with genuine claims.
        let unsigned = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims(Use::Api, 1_000)).unwrap())
        );
        assert_eq!(
            signer.verify(&unsigned, Use::Api, 1_000),
            Err(Refused::Forged)
        );
        for junk in ["", "a.b", "a.b.c", "a.b.c.d", &format!("{token}x")] {
            assert_eq!(
                signer.verify(junk, Use::Api, 1_000),
                Err(Refused::Forged),
                "{junk}"
            );
        }
    }

    #[test]
    fn a_token_opens_only_what_it_was_made_for() {
        let signer = Signer::new("s3cret");
        let stream = signer.sign(&claims(Use::Stream, 1_000));
        assert_eq!(
            signer.verify(&stream, Use::Api, 1_000),
            Err(Refused::WrongUse)
        );
        assert!(signer.verify(&stream, Use::Stream, 1_000).is_ok());
    }

    #[test]
    fn the_user_claim_is_readable_as_web_chat_reads_it() {
        let signer = Signer::new("s3cret");
        let token = signer.sign(&claims(Use::Api, 1_000));
        let payload = token.split('.').nth(1).unwrap();
        let json: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        assert_eq!(json["user"], "dl_abc");
    }
}
