//! A private key parsed once, and the JWS compact serialisation (RFC 7515 7.1) it signs.
//!
//! `jsonwebtoken::encode` takes its key as DER bytes and parses and checks it again for every
//! token (for RSA, `RsaKeyPair::from_der` costs about as much as a third of the signature
//! itself); the key ring signs an ID token per grant, so it keeps ring's parsed key pair and
//! serialises the token here. Verification stays with `jsonwebtoken`.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{self as ring_sig, EcdsaKeyPair, RsaKeyPair};
use serde::Serialize;

use super::Alg;

/// The private half of a signing key, ready to sign. Cheap to clone.
#[derive(Clone)]
pub(super) enum Signer {
    Rs256(Arc<RsaKeyPair>),
    Es256(Arc<EcdsaKeyPair>),
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key material.
        f.write_str(match self {
            Signer::Rs256(_) => "Signer(RS256)",
            Signer::Es256(_) => "Signer(ES256)",
        })
    }
}

/// The protected header of every token the ring signs.
#[derive(Serialize)]
struct Header<'a> {
    typ: &'static str,
    alg: &'static str,
    kid: &'a str,
}

impl Signer {
    pub(super) fn alg(&self) -> Alg {
        match self {
            Signer::Rs256(_) => Alg::RS256,
            Signer::Es256(_) => Alg::ES256,
        }
    }

    /// `claims` as a signed JWT (header `typ: JWT`, `alg`, `kid`).
    pub(super) fn sign_jwt<T: Serialize>(&self, kid: &str, claims: &T) -> Result<String, String> {
        let header = Header {
            typ: "JWT",
            alg: self.alg().as_str(),
            kid,
        };
        let header = serde_json::to_vec(&header).map_err(|e| e.to_string())?;
        let payload = serde_json::to_vec(claims).map_err(|e| e.to_string())?;
        let mut token = URL_SAFE_NO_PAD.encode(header);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(payload, &mut token);
        let signature = self.sign(token.as_bytes())?;
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut token);
        Ok(token)
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, String> {
        let rng = SystemRandom::new();
        match self {
            Signer::Rs256(pair) => {
                let mut signature = vec![0; pair.public().modulus_len()];
                pair.sign(&ring_sig::RSA_PKCS1_SHA256, &rng, message, &mut signature)
                    .map_err(|_| "RSA signing failed".to_string())?;
                Ok(signature)
            }
            Signer::Es256(pair) => pair
                .sign(&rng, message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| "ECDSA signing failed".to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use jsonwebtoken::{decode, Validation};
    use serde_json::{json, Value};

    use super::super::key_files::{decoding_key, generate_pem, parse_private};
    use super::*;

    #[test]
    fn tokens_verify_with_jsonwebtoken_and_carry_the_header() {
        let claims = json!({"sub": "M-1", "aud": "hl", "exp": 4_000_000_000u64, "name": "Ada"});
        for alg in Alg::ALL {
            let pem = generate_pem(alg).unwrap();
            let (jwk, signer) = parse_private(alg, &pem, Path::new("x")).unwrap();
            let kid = jwk["kid"].as_str().unwrap();
            let token = signer.sign_jwt(kid, &claims).unwrap();
            let header = jsonwebtoken::decode_header(&token).unwrap();
            assert_eq!(header.kid.as_deref(), Some(kid));
            assert_eq!(header.typ.as_deref(), Some("JWT"));
            assert_eq!(header.alg, alg.jwt());
            let mut validation = Validation::new(alg.jwt());
            validation.set_audience(&["hl"]);
            let decoded =
                decode::<Value>(&token, &decoding_key(alg, &jwk).unwrap(), &validation).unwrap();
            assert_eq!(decoded.claims, claims);
            // A changed payload no longer verifies.
            let parts: Vec<&str> = token.split('.').collect();
            let forged = format!(
                "{}.{}.{}",
                parts[0],
                URL_SAFE_NO_PAD.encode(br#"{"sub":"M-2","aud":"hl","exp":4000000000}"#),
                parts[2]
            );
            assert!(
                decode::<Value>(&forged, &decoding_key(alg, &jwk).unwrap(), &validation).is_err()
            );
        }
    }
}
