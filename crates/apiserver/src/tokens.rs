//! ServiceAccount tokens: the `serviceaccounts/{name}/token` subresource (TokenRequest) issues
//! JWTs signed with the cluster's service-account key (ECDSA P-256, ES256, made at first start
//! and kept in the data dir), with upstream's claims: issuer, audiences, expiry, and the
//! `kubernetes.io` claim naming the namespace, the ServiceAccount and the bound object.
//! Checking them on use is authentication's job ([`crate::authn`]), with [`Signer::verify`].

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{self, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde_json::{Value, json};

/// The issuer upstream uses by default (`--service-account-issuer`).
pub const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";
/// Upstream's bounds on `spec.expirationSeconds`.
const MIN_EXPIRY: i64 = 600;
const MAX_EXPIRY: i64 = 48 * 3600;
const DEFAULT_EXPIRY: i64 = 3600;

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("cannot read or write the service-account key {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid service-account key: {0}")]
    Key(String),
}

/// The signing key.
#[derive(Debug)]
pub struct Signer {
    key: EcdsaKeyPair,
    /// The key id: a hash of the public key, as upstream derives it.
    kid: String,
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl Signer {
    /// Loads `<dir>/service-account.key` (PKCS#8), making it at first start.
    pub fn load_or_create(dir: &Path) -> Result<Self, TokenError> {
        let path = dir.join("service-account.key");
        let io = |source| TokenError::Io {
            path: path.display().to_string(),
            source,
        };
        let rng = SystemRandom::new();
        let pkcs8 = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                    .map_err(|_| TokenError::Key("cannot generate a key".into()))?;
                std::fs::create_dir_all(dir).map_err(io)?;
                std::fs::write(&path, doc.as_ref()).map_err(io)?;
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                    .map_err(io)?;
                doc.as_ref().to_vec()
            }
            Err(e) => return Err(io(e)),
        };
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8, &rng)
            .map_err(|e| TokenError::Key(e.to_string()))?;
        let digest = ring::digest::digest(&ring::digest::SHA256, key.public_key().as_ref());
        Ok(Self {
            kid: b64(digest.as_ref()),
            key,
        })
    }

    /// Signs `claims` as a compact JWS.
    pub fn sign(&self, claims: &Value) -> String {
        let header = json!({"alg": "ES256", "kid": self.kid});
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let signature = self
            .key
            .sign(&SystemRandom::new(), input.as_bytes())
            .expect("ECDSA signing with a valid key works");
        format!("{input}.{}", b64(signature.as_ref()))
    }

    /// The claims of a token this key signed, if its signature holds and it has not expired.
    pub fn verify(&self, token: &str, now: SystemTime) -> Option<Value> {
        let (input, sig) = token.rsplit_once('.')?;
        let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(sig)
            .ok()?;
        signature::UnparsedPublicKey::new(
            &signature::ECDSA_P256_SHA256_FIXED,
            self.key.public_key().as_ref(),
        )
        .verify(input.as_bytes(), &sig)
        .ok()?;
        let payload = input.split('.').nth(1)?;
        let claims: Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .ok()?,
        )
        .ok()?;
        let now = now.duration_since(UNIX_EPOCH).ok()?.as_secs();
        (claims["exp"].as_u64()? > now).then_some(claims)
    }
}

/// The claims and expiry of a TokenRequest for the ServiceAccount `sa` (its stored object).
pub fn claims_for(sa: &Value, request: &Value, now: SystemTime) -> (Value, SystemTime) {
    let seconds = request["spec"]["expirationSeconds"]
        .as_i64()
        .unwrap_or(DEFAULT_EXPIRY)
        .clamp(MIN_EXPIRY, MAX_EXPIRY);
    let issued = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let expires = issued + u64::try_from(seconds).unwrap_or(0);
    let audiences = match request["spec"]["audiences"].as_array() {
        Some(a) if !a.is_empty() => Value::Array(a.clone()),
        _ => json!([ISSUER]),
    };
    let namespace = sa["metadata"]["namespace"].as_str().unwrap_or_default();
    let name = sa["metadata"]["name"].as_str().unwrap_or_default();
    let mut kubernetes = json!({
        "namespace": namespace,
        "serviceaccount": {"name": name, "uid": sa["metadata"]["uid"]},
    });
    let bound = &request["spec"]["boundObjectRef"];
    if let Some(kind) = bound["kind"].as_str() {
        kubernetes[kind.to_lowercase()] = json!({"name": bound["name"], "uid": bound["uid"]});
    }
    let claims = json!({
        "aud": audiences,
        "exp": expires,
        "iat": issued,
        "nbf": issued,
        "iss": ISSUER,
        // Upstream's token id (authentication reports it as the `credential-id` extra).
        "jti": crate::objects::new_uid(),
        "sub": format!("system:serviceaccount:{namespace}:{name}"),
        "kubernetes.io": kubernetes,
    });
    (claims, UNIX_EPOCH + Duration::from_secs(expires))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_signed_bound_and_expire() {
        let dir = tempfile::tempdir().unwrap();
        let signer = Signer::load_or_create(dir.path()).unwrap();
        let again = Signer::load_or_create(dir.path()).unwrap();
        assert_eq!(signer.kid, again.kid, "the key is kept");
        let sa = json!({"metadata": {"name": "default", "namespace": "team", "uid": "u1"}});
        let now = SystemTime::now();
        let request = json!({"spec": {"expirationSeconds": 60,
            "boundObjectRef": {"kind": "Pod", "name": "p", "uid": "u2"}}});
        let (claims, expires) = claims_for(&sa, &request, now);
        assert_eq!(claims["sub"], "system:serviceaccount:team:default");
        assert_eq!(claims["kubernetes.io"]["pod"]["name"], "p");
        assert_eq!(claims["aud"], json!([ISSUER]));
        assert!(
            expires >= now + Duration::from_secs(MIN_EXPIRY as u64 - 1),
            "at least 10 minutes"
        );
        let token = signer.sign(&claims);
        assert_eq!(again.verify(&token, now), Some(claims.clone()));
        assert_eq!(
            signer.verify(&token, expires + Duration::from_secs(1)),
            None,
            "expired"
        );
        let mut forged = token.clone();
        forged.replace_range(token.len() - 3.., "AAA");
        assert_eq!(signer.verify(&forged, now), None);
    }
}
