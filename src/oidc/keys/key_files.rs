//! The private halves of the signing keys as PKCS#8 PEM: generated, parsed, and their public
//! JWKs (with the RFC 7638 thumbprint as `kid`). Earlier versions kept them as files in
//! `keys_dir` (see [`super::private_key_path`]); they now live sealed in the database
//! ([`super::stored`]).

use std::fmt;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use std::sync::Arc;

use jsonwebtoken::DecodingKey;
use ring::rand::SystemRandom;
use ring::signature::{self as ring_sig, KeyPair};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::signer::Signer;
use super::{Alg, KeyError, KeyResult};

/// A new key pair: its kid, public JWK and private key (PEM). RSA generation takes a while, so
/// it runs off the async threads.
pub(super) async fn new_key_pair(alg: Alg) -> KeyResult<(String, Value, String)> {
    let pem = tokio::task::spawn_blocking(move || generate_pem(alg))
        .await
        .map_err(|e| KeyError::Sign(e.to_string()))??;
    let (jwk, _) = parse_private(alg, &pem, Path::new("(new key)"))?;
    let kid = jwk["kid"].as_str().unwrap_or_default().to_string();
    Ok((kid, jwk, pem))
}

/// The public JWK (with its kid) of a private key in PEM.
pub fn public_jwk(alg: Alg, pem: &str) -> KeyResult<Value> {
    Ok(parse_private(alg, pem, Path::new("(PEM)"))?.0)
}

/// A new private key as PKCS#8 PEM.
pub fn generate_pem(alg: Alg) -> KeyResult<String> {
    let bad = |e: &dyn fmt::Display| KeyError::BadKey {
        path: PathBuf::from("(new key)"),
        message: e.to_string(),
    };
    match alg {
        Alg::RS256 => {
            use rsa::pkcs8::EncodePrivateKey;
            let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).map_err(|e| bad(&e))?;
            let pem = key
                .to_pkcs8_pem(rsa::pkcs8::LineEnding::LF)
                .map_err(|e| bad(&e))?;
            Ok(pem.to_string())
        }
        Alg::ES256 => {
            let rng = SystemRandom::new();
            let doc = ring_sig::EcdsaKeyPair::generate_pkcs8(
                &ring_sig::ECDSA_P256_SHA256_FIXED_SIGNING,
                &rng,
            )
            .map_err(|e| bad(&e))?;
            Ok(pem::encode(&pem::Pem::new("PRIVATE KEY", doc.as_ref())))
        }
    }
}

/// Parses a private key (`path` names where it came from, for errors): its public JWK (with
/// RFC 7638 thumbprint as kid) and the key ready to sign.
pub(super) fn parse_private(alg: Alg, pem_text: &str, path: &Path) -> KeyResult<(Value, Signer)> {
    let bad = |message: String| KeyError::BadKey {
        path: path.to_path_buf(),
        message,
    };
    let parsed = pem::parse(pem_text).map_err(|e| bad(e.to_string()))?;
    if parsed.tag() != "PRIVATE KEY" {
        return Err(bad(format!(
            "expected a PKCS#8 \"PRIVATE KEY\", found {:?}",
            parsed.tag()
        )));
    }
    let der = parsed.contents();
    let b64 = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);
    match alg {
        Alg::RS256 => {
            let pair = ring_sig::RsaKeyPair::from_pkcs8(der).map_err(|e| bad(e.to_string()))?;
            let parts = ring_sig::RsaPublicKeyComponents::<Vec<u8>>::from(pair.public());
            let (n, e) = (b64(&parts.n), b64(&parts.e));
            // RFC 7638: members in lexicographic order, no whitespace.
            let thumb = format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#);
            let kid = b64(&Sha256::digest(thumb.as_bytes()));
            let jwk =
                json!({"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid, "n": n, "e": e});
            Ok((jwk, Signer::Rs256(Arc::new(pair))))
        }
        Alg::ES256 => {
            let pair = ring_sig::EcdsaKeyPair::from_pkcs8(
                &ring_sig::ECDSA_P256_SHA256_FIXED_SIGNING,
                der,
                &SystemRandom::new(),
            )
            .map_err(|e| bad(e.to_string()))?;
            let point = pair.public_key().as_ref();
            if point.len() != 65 || point[0] != 4 {
                return Err(bad("unexpected P-256 public key encoding".into()));
            }
            let (x, y) = (b64(&point[1..33]), b64(&point[33..]));
            let thumb = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
            let kid = b64(&Sha256::digest(thumb.as_bytes()));
            let jwk = json!({"kty": "EC", "use": "sig", "alg": "ES256", "crv": "P-256", "kid": kid, "x": x, "y": y});
            Ok((jwk, Signer::Es256(Arc::new(pair))))
        }
    }
}

pub(super) fn decoding_key(alg: Alg, jwk: &Value) -> Result<DecodingKey, String> {
    let field = |name: &str| {
        jwk.get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| format!("JWK without {name}"))
    };
    match alg {
        Alg::RS256 => DecodingKey::from_rsa_components(field("n")?, field("e")?),
        Alg::ES256 => DecodingKey::from_ec_components(field("x")?, field("y")?),
    }
    .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_with_thumbprint_kids() {
        for alg in Alg::ALL {
            let pem = generate_pem(alg).unwrap();
            let (jwk, _) = parse_private(alg, &pem, Path::new("x")).unwrap();
            assert_eq!(jwk["alg"], alg.as_str());
            assert_eq!(jwk["kid"].as_str().unwrap().len(), 43);
            assert!(jwk.get("d").is_none(), "no private parts in the JWK");
            decoding_key(alg, &jwk).unwrap();
        }
    }
}
