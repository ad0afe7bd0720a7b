//! Id-token tests sign with fixed test keys (generated once with openssl for these tests and
//! used nowhere else) and verify against their public halves as a provider's JWKS.

use jsonwebtoken::{EncodingKey, Header};
use serde_json::{json, Value};

use super::*;

const NOW: i64 = 1_800_000_000;
const ISSUER: &str = "https://accounts.provider.test";
const CLIENT_ID: &str = "agora-storefront";
const NONCE: &str = "n-0S6_WzA2Mj";

/// Test-only RSA 2048 private key (PKCS#1).
const RSA_PRIVATE_PEM: &str = concat!(
    "-----BEGIN RSA PRIVATE KEY-----\n",
    "MIIEogIBAAKCAQEAwg2n9uYML/A2EiLOlNVGDSB/3/EzxybElQj/KhGIAwNjCAmS\n",
    "uPsfpV9dM7bB3meqoRncrlqA5KXxW6C03QGnq/6PNEXWxH2z6dIGrrmnI0Urz5S7\n",
    "k6F8lX8lBVjQ/ZabwCnwNNuSHDaAk4XqfJZrdoEOsrgscOmYwVBjQ07nfRbyFGJK\n",
    "2QG3Nm9ub4PE7vpohCqvBA8lGGejjvN2YED6A7qUdG6r7TwGRIRf2w8WO/pc3IWe\n",
    "RTtd6I5p4qjaU25CQE4EpHr0DPG4MBWEjqpbHjoGAbqpr8xCVRTHEP7cuEFE4hs/\n",
    "U4rZP/bLCX98/RUgmLPKyh18vf7c/EEiWFxJ/QIDAQABAoIBAACpl4oAgbd6UA6K\n",
    "/kbiMnEofz66EjUMHAjDBCrriCKJbo5zZrc6aqS1FdY8bPPw4u0JVhllen/3/uzO\n",
    "wPn61zMqDKS0ge5j7VXX0GCxZDoDZef1HG3BqT4nRxlX+VhGagRfQmne+1ulTIU0\n",
    "aKHbL3iZbg7h3lgrzZUqTI6WAD1gi0jIyw+KOPvRENXqR8ybtS9/namdDWZnhkm4\n",
    "bHosekYDx55ZUMsBjIMgeun27KbjIOiVz/ykF1Qyn7Ay3uyL8uTu8xjWelrUD4UU\n",
    "JD2pXJfrMTXUZSQVZamlQeWoLfAds/iDn164JtWuFNoWxC617oH+H/phLSLiPfQu\n",
    "B+aKBPECgYEA7sCE24e7ubyHZa4ncYJ1jhM63Y7HQE58lpaSl40HHCUyP6lO+j99\n",
    "/0D9fPtO6BUrW8fxPGqdsZLYsrgWoDGxjyia7J7Q6BiW2dOCNkDsWDs9W5eg4Beu\n",
    "ewK9ObaXzNg0g1aM4gvBWxmY+Cg1HpZNzAUYm5raFvAuVdiea5cGm3cCgYEA0BJ6\n",
    "wGea03oAnP3fF/m+6RR7dR/KZUH+s6tvcV1FQTv+EkgSVcXp6Ah+cteLc3pb5o6R\n",
    "SWIAkXVYLCfyvCvgH5+BoPYhqgpOavDy02kzWGHb8iuLQFm2epwyi4tJn45hyWHq\n",
    "CNPGzJtm05m3wC6oVsyNB40kN/dpqF91KIZieysCgYAp6bApHdXt0FPwnLcd7SoX\n",
    "6/ZMiNEfz+d9RCet5TsXTMxacq2Drvu+gLk/ZJrAkV7QOPR3h7vxPXc/QKPwMWkb\n",
    "WaSA34yLAi4RRVk5jwIupw+pcZ/zVxTxUVTIue5CLr5hRCNtV2T1SjQZdG2G1hoI\n",
    "M+jTAEdC+Z0YwvNkrdmiFwKBgFTWBAio9X6eMtvPwwOCh61+9Wtm393zT4cwMgsV\n",
    "zWPwswH/MsKYJGu/8taePbSCwi+6F1DFTZgBMUcnrpe8h/A819yqHkW3WAvQXCGI\n",
    "ti+mDsipqmg9a+KIBy/QRd9xbTtv2b1po5fPENjbxwjrvSVO132ptYfAL+s/qIQy\n",
    "brrrAoGALv//khuZDtIiXJu/B4f/7cRN6N8Y7wH12C2/xdxEyqIldv9EXqznzUoP\n",
    "vlv+0Qxzy4h3PbUTmwoeGm3Rvfyrc/gwKrR0JT/iDk/2iC6EqbEF5y6FDf2c4EH8\n",
    "lEjq5mbpB2QguFX1eFmWds03cmUw9lCwXf2FtlU0bL7MZ+rmnmE=\n",
    "-----END RSA PRIVATE KEY-----\n",
);
/// Its public half, as an attacker would download it.
const RSA_PUBLIC_PEM: &str = concat!(
    "-----BEGIN PUBLIC KEY-----\n",
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAwg2n9uYML/A2EiLOlNVG\n",
    "DSB/3/EzxybElQj/KhGIAwNjCAmSuPsfpV9dM7bB3meqoRncrlqA5KXxW6C03QGn\n",
    "q/6PNEXWxH2z6dIGrrmnI0Urz5S7k6F8lX8lBVjQ/ZabwCnwNNuSHDaAk4XqfJZr\n",
    "doEOsrgscOmYwVBjQ07nfRbyFGJK2QG3Nm9ub4PE7vpohCqvBA8lGGejjvN2YED6\n",
    "A7qUdG6r7TwGRIRf2w8WO/pc3IWeRTtd6I5p4qjaU25CQE4EpHr0DPG4MBWEjqpb\n",
    "HjoGAbqpr8xCVRTHEP7cuEFE4hs/U4rZP/bLCX98/RUgmLPKyh18vf7c/EEiWFxJ\n",
    "/QIDAQAB\n",
    "-----END PUBLIC KEY-----\n",
);
/// Test-only P-256 private key (PKCS#8).
const EC_PRIVATE_PEM: &str = concat!(
    "-----BEGIN PRIVATE KEY-----\n",
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgczLqy/fX3rzV/gWi\n",
    "+ghSJ+KdSKwqXie7OfRj4ECu1+ShRANCAASvKa4McdpBxR9Sxb/8jsazO/WyuoSk\n",
    "zL5FNdAe9w7U/em+x9i4XVI5Hdli1hmWkklyrn3A+xzNMizL8SkpVNvv\n",
    "-----END PRIVATE KEY-----\n",
);

/// The provider's key set: the two public keys above, plus keys that must never be picked.
fn jwks() -> String {
    json!({"keys": [
        {"kty": "OKP", "crv": "X448", "kid": "exotic", "x": "AAAA"},
        {"kty": "RSA", "kid": "rsa-1", "use": "sig", "alg": "RS256", "n": "wg2n9uYML_A2EiLOlNVGDSB_3_EzxybElQj_KhGIAwNjCAmSuPsfpV9dM7bB3meqoRncrlqA5KXxW6C03QGnq_6PNEXWxH2z6dIGrrmnI0Urz5S7k6F8lX8lBVjQ_ZabwCnwNNuSHDaAk4XqfJZrdoEOsrgscOmYwVBjQ07nfRbyFGJK2QG3Nm9ub4PE7vpohCqvBA8lGGejjvN2YED6A7qUdG6r7TwGRIRf2w8WO_pc3IWeRTtd6I5p4qjaU25CQE4EpHr0DPG4MBWEjqpbHjoGAbqpr8xCVRTHEP7cuEFE4hs_U4rZP_bLCX98_RUgmLPKyh18vf7c_EEiWFxJ_Q", "e": "AQAB"},
        {"kty": "EC", "kid": "ec-1", "use": "sig", "crv": "P-256", "x": "rymuDHHaQcUfUsW__I7Gszv1srqEpMy-RTXQHvcO1P0", "y": "6b7H2LhdUjkd2WLWGZaSSXKufcD7HM0yLMvxKSlU2-8"},
        {"kty": "RSA", "kid": "rsa-enc", "use": "enc", "n": "wg2n9uYML_A2EiLOlNVGDSB_3_EzxybElQj_KhGIAwNjCAmSuPsfpV9dM7bB3meqoRncrlqA5KXxW6C03QGnq_6PNEXWxH2z6dIGrrmnI0Urz5S7k6F8lX8lBVjQ_ZabwCnwNNuSHDaAk4XqfJZrdoEOsrgscOmYwVBjQ07nfRbyFGJK2QG3Nm9ub4PE7vpohCqvBA8lGGejjvN2YED6A7qUdG6r7TwGRIRf2w8WO_pc3IWeRTtd6I5p4qjaU25CQE4EpHr0DPG4MBWEjqpbHjoGAbqpr8xCVRTHEP7cuEFE4hs_U4rZP_bLCX98_RUgmLPKyh18vf7c_EEiWFxJ_Q", "e": "AQAB"},
    ]})
    .to_string()
}

fn claims() -> Value {
    json!({
        "iss": ISSUER,
        "aud": CLIENT_ID,
        "sub": "provider-user-42",
        "email": "alice@example.com",
        "email_verified": true,
        "name": "Alice Example",
        "nonce": NONCE,
        "iat": NOW - 2,
        "exp": NOW + 3600,
    })
}

fn sign(algorithm: Algorithm, kid: &str, claims: &Value) -> String {
    let key = match algorithm {
        Algorithm::RS256 => EncodingKey::from_rsa_pem(RSA_PRIVATE_PEM.as_bytes()),
        Algorithm::ES256 => EncodingKey::from_ec_pem(EC_PRIVATE_PEM.as_bytes()),
        other => panic!("no test key for {other:?}"),
    }
    .expect("test key");
    let mut header = Header::new(algorithm);
    header.kid = Some(kid.to_string());
    jsonwebtoken::encode(&header, claims, &key).expect("sign")
}

fn verify(token: &str) -> Result<IdTokenClaims, TokenError> {
    verify_id_token(token, &jwks(), ISSUER, CLIENT_ID, NONCE, NOW)
}

fn with(changes: Value) -> Value {
    let mut claims = claims();
    for (k, v) in changes.as_object().expect("object") {
        if v.is_null() {
            claims.as_object_mut().expect("object").remove(k);
        } else {
            claims[k] = v.clone();
        }
    }
    claims
}

fn invalid(reason: InvalidReason) -> Result<IdTokenClaims, TokenError> {
    Err(TokenError::Invalid(reason))
}

#[test]
fn the_s256_challenge_matches_rfc_7636_appendix_b() {
    // RFC 7636 Appendix B: these 32 random octets, base64url-encoded, are the verifier; their
    // SHA-256, base64url-encoded, is the challenge.
    let octets: [u8; 32] = [
        116, 24, 223, 180, 151, 153, 224, 37, 79, 250, 96, 125, 216, 173, 187, 186, 22, 212, 37,
        77, 105, 214, 191, 240, 91, 88, 5, 88, 83, 132, 141, 121,
    ];
    let verifier = URL_SAFE_NO_PAD.encode(octets);
    assert_eq!(verifier, "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
    let pair = PkcePair::from_verifier(verifier).expect("valid");
    assert_eq!(
        pair.challenge,
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    );
    assert!(pkce_matches(&pair.verifier, &pair.challenge));
    assert!(!pkce_matches(
        &pair.verifier,
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cN"
    ));
}

#[test]
fn a_new_pkce_pair_has_a_valid_random_verifier() {
    let a = PkcePair::new();
    let b = PkcePair::new();
    assert!(is_valid_verifier(&a.verifier), "{}", a.verifier);
    assert_eq!(a.challenge, s256_challenge(&a.verifier));
    assert_ne!(a.verifier, b.verifier);
    assert!(!format!("{a:?}").contains(&a.verifier));
    assert_eq!(PKCE_METHOD, "S256");
}

#[test]
fn a_verifier_that_is_too_short_too_long_or_reserved_is_refused() {
    for verifier in [
        "x".repeat(42),
        "x".repeat(129),
        format!("{}+", "x".repeat(42)),
    ] {
        assert_eq!(
            PkcePair::from_verifier(verifier.clone()),
            Err(PkceError::InvalidVerifier),
            "{verifier}"
        );
    }
    assert!(PkcePair::from_verifier("a-b.c_d~".repeat(16)).is_ok());
    assert_eq!(
        PkceError::InvalidVerifier.code(),
        "auth.invalid_pkce_verifier"
    );
}

#[test]
fn state_and_nonce_are_fresh_each_time() {
    assert_ne!(new_state(), new_state());
    assert_ne!(new_nonce(), new_nonce());
    assert_eq!(new_nonce().len(), 43);
}

#[test]
fn an_rs256_id_token_from_the_provider_verifies() {
    let token = sign(Algorithm::RS256, "rsa-1", &claims());
    assert_eq!(
        verify(&token),
        Ok(IdTokenClaims {
            sub: "provider-user-42".into(),
            email: Some("alice@example.com".into()),
            email_verified: true,
            name: Some("Alice Example".into()),
        })
    );
}

#[test]
fn an_es256_id_token_from_the_provider_verifies() {
    let token = sign(
        Algorithm::ES256,
        "ec-1",
        &with(
            json!({"email_verified": "true", "name": null, "aud": [CLIENT_ID], "azp": CLIENT_ID}),
        ),
    );
    let claims = verify(&token).expect("valid");
    assert!(claims.email_verified);
    assert_eq!(claims.name, None);
}

#[test]
fn an_unverified_or_missing_email_is_reported_as_such() {
    let token = sign(
        Algorithm::RS256,
        "rsa-1",
        &with(json!({"email_verified": null, "email": null})),
    );
    let claims = verify(&token).expect("valid");
    assert_eq!(claims.email, None);
    assert!(!claims.email_verified);
}

#[test]
fn an_id_token_with_a_wrong_or_missing_nonce_is_refused() {
    let token = sign(
        Algorithm::RS256,
        "rsa-1",
        &with(json!({"nonce": "another-nonce"})),
    );
    assert_eq!(verify(&token), invalid(InvalidReason::Nonce));
    let token = sign(Algorithm::RS256, "rsa-1", &with(json!({"nonce": null})));
    assert_eq!(verify(&token), invalid(InvalidReason::Nonce));
    let token = sign(Algorithm::RS256, "rsa-1", &claims());
    assert_eq!(
        verify_id_token(&token, &jwks(), ISSUER, CLIENT_ID, "", NOW),
        invalid(InvalidReason::Nonce)
    );
}

#[test]
fn an_id_token_for_another_audience_is_refused() {
    let token = sign(
        Algorithm::RS256,
        "rsa-1",
        &with(json!({"aud": "another-client"})),
    );
    assert_eq!(verify(&token), invalid(InvalidReason::Audience));
    // Listed among several audiences, but authorized for another party.
    let token = sign(
        Algorithm::RS256,
        "rsa-1",
        &with(json!({"aud": [CLIENT_ID, "another-client"], "azp": "another-client"})),
    );
    assert_eq!(verify(&token), invalid(InvalidReason::Audience));
    let token = sign(
        Algorithm::RS256,
        "rsa-1",
        &with(json!({"aud": [CLIENT_ID, "another-client"]})),
    );
    assert_eq!(verify(&token), invalid(InvalidReason::Audience));
}

#[test]
fn an_id_token_from_another_issuer_is_refused() {
    let token = sign(
        Algorithm::RS256,
        "rsa-1",
        &with(json!({"iss": "https://evil.test"})),
    );
    assert_eq!(verify(&token), invalid(InvalidReason::Issuer));
}

#[test]
fn an_expired_id_token_is_refused() {
    let token = sign(
        Algorithm::RS256,
        "rsa-1",
        &with(json!({"exp": NOW - ID_TOKEN_LEEWAY_SECS, "iat": NOW - 300})),
    );
    assert_eq!(verify(&token), Err(TokenError::Expired));
}

#[test]
fn an_id_token_issued_too_long_ago_or_in_the_future_is_refused() {
    let old = sign(
        Algorithm::RS256,
        "rsa-1",
        &with(json!({"iat": NOW - ID_TOKEN_MAX_AGE_SECS - 1})),
    );
    assert_eq!(verify(&old), invalid(InvalidReason::IssuedAt));
    let future = sign(Algorithm::RS256, "rsa-1", &with(json!({"iat": NOW + 3600})));
    assert_eq!(verify(&future), invalid(InvalidReason::IssuedAt));
    let missing = sign(Algorithm::RS256, "rsa-1", &with(json!({"iat": null})));
    assert_eq!(verify(&missing), invalid(InvalidReason::MissingClaim));
}

#[test]
fn an_alg_none_id_token_is_refused() {
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT","kid":"rsa-1"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims().to_string());
    assert_eq!(
        verify(&format!("{header}.{payload}.")),
        invalid(InvalidReason::Algorithm)
    );
}

#[test]
fn an_hs256_id_token_signed_with_the_public_key_is_refused() {
    // The classic key-confusion attack: the public key, published by the provider, used as an
    // HMAC secret, hoping the verifier feeds "the key for this kid" to whatever alg says.
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("rsa-1".into());
    for secret in [RSA_PUBLIC_PEM.as_bytes().to_vec(), jwks().into_bytes()] {
        let token = jsonwebtoken::encode(&header, &claims(), &EncodingKey::from_secret(&secret))
            .expect("sign");
        assert_eq!(verify(&token), invalid(InvalidReason::Algorithm));
    }
}

#[test]
fn an_id_token_with_an_unknown_kid_or_a_key_of_the_wrong_type_is_refused() {
    let unknown = sign(Algorithm::RS256, "rsa-2", &claims());
    assert_eq!(verify(&unknown), invalid(InvalidReason::UnknownKey));
    // An RS256 header naming the EC key, and a key marked for encryption only.
    let wrong_type = sign(Algorithm::RS256, "ec-1", &claims());
    assert_eq!(verify(&wrong_type), invalid(InvalidReason::Key));
    let encryption_key = sign(Algorithm::RS256, "rsa-enc", &claims());
    assert_eq!(verify(&encryption_key), invalid(InvalidReason::Key));
    let token = sign(Algorithm::RS256, "rsa-1", &claims());
    assert_eq!(
        verify_id_token(&token, "not json", ISSUER, CLIENT_ID, NONCE, NOW),
        invalid(InvalidReason::Key)
    );
}

#[test]
fn an_id_token_with_a_tampered_payload_is_refused() {
    let token = sign(Algorithm::ES256, "ec-1", &claims());
    let parts: Vec<&str> = token.split('.').collect();
    let forged = URL_SAFE_NO_PAD.encode(with(json!({"sub": "victim"})).to_string());
    let tampered = format!("{}.{}.{}", parts[0], forged, parts[2]);
    assert_eq!(verify(&tampered), invalid(InvalidReason::Signature));
}
