//! A small OpenID provider for tests: discovery, a JWKS with an RS256 key made at start, an
//! authorization endpoint that signs in one configured user at once (checking the client, the
//! redirect URI and that PKCE is S256), and a token endpoint that checks the client secret,
//! the code (single use) and the PKCE verifier, and answers an id token with the nonce.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Form, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use serde_json::{json, Value};

pub const CLIENT_ID: &str = "agora-shop";
pub const CLIENT_SECRET: &str = "test-client-secret";
/// The callback registered with the provider. The test follows the redirect to it itself, on
/// the platform's real address.
pub const REDIRECT_URI: &str = "http://shop.test/store/auth/oidc/callback";
const KID: &str = "test-rsa-1";

/// The user the provider signs in.
#[derive(Clone, Debug)]
pub struct User {
    pub sub: String,
    pub email: String,
    pub email_verified: bool,
}

struct Pending {
    nonce: String,
    challenge: String,
    redirect_uri: String,
}

struct Inner {
    issuer: String,
    encoding: jsonwebtoken::EncodingKey,
    jwk: Value,
    user: Mutex<User>,
    codes: Mutex<HashMap<String, Pending>>,
}

/// A running provider; stops with the test's runtime.
#[derive(Clone)]
pub struct Provider {
    inner: Arc<Inner>,
}

impl Provider {
    pub async fn start(user: User) -> Provider {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let issuer = format!("http://{}", listener.local_addr().expect("addr"));
        let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("an RSA key");
        let der = key.to_pkcs1_der().expect("DER");
        let jwk = json!({
            "kty": "RSA",
            "kid": KID,
            "use": "sig",
            "alg": "RS256",
            "n": URL_SAFE_NO_PAD.encode(key.n().to_bytes_be()),
            "e": URL_SAFE_NO_PAD.encode(key.e().to_bytes_be()),
        });
        let provider = Provider {
            inner: Arc::new(Inner {
                issuer,
                encoding: jsonwebtoken::EncodingKey::from_rsa_der(der.as_bytes()),
                jwk,
                user: Mutex::new(user),
                codes: Mutex::new(HashMap::new()),
            }),
        };
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .with_state(provider.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        provider
    }

    pub fn issuer(&self) -> String {
        self.inner.issuer.clone()
    }

    pub fn set_user(&self, user: User) {
        *self.inner.user.lock().expect("lock") = user;
    }
}

async fn discovery(State(p): State<Provider>) -> Json<Value> {
    let issuer = &p.inner.issuer;
    Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks"),
        "response_types_supported": ["code"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "code_challenge_methods_supported": ["S256"],
    }))
}

async fn jwks(State(p): State<Provider>) -> Json<Value> {
    Json(json!({ "keys": [p.inner.jwk.clone()] }))
}

fn refuse(error: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": error }))).into_response()
}

async fn authorize(
    State(p): State<Provider>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    if get("response_type") != "code"
        || get("client_id") != CLIENT_ID
        || get("redirect_uri") != REDIRECT_URI
        || get("code_challenge_method") != "S256"
        || get("code_challenge").is_empty()
        || get("nonce").is_empty()
        || get("state").is_empty()
        || !get("scope").split(' ').any(|s| s == "openid")
    {
        return refuse("invalid_request");
    }
    let code = agora_auth::new_opaque_token();
    p.inner.codes.lock().expect("lock").insert(
        code.clone(),
        Pending {
            nonce: get("nonce"),
            challenge: get("code_challenge"),
            redirect_uri: get("redirect_uri"),
        },
    );
    let mut location = reqwest::Url::parse(REDIRECT_URI).expect("url");
    location
        .query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &get("state"));
    (
        StatusCode::FOUND,
        [(header::LOCATION, location.to_string())],
    )
        .into_response()
}

async fn token(State(p): State<Provider>, Form(f): Form<HashMap<String, String>>) -> Response {
    let get = |k: &str| f.get(k).cloned().unwrap_or_default();
    if get("grant_type") != "authorization_code"
        || get("client_id") != CLIENT_ID
        || get("client_secret") != CLIENT_SECRET
    {
        return refuse("invalid_client");
    }
    // A code works once.
    let Some(pending) = p.inner.codes.lock().expect("lock").remove(&get("code")) else {
        return refuse("invalid_grant");
    };
    if pending.redirect_uri != get("redirect_uri")
        || !agora_auth::pkce_matches(&get("code_verifier"), &pending.challenge)
    {
        return refuse("invalid_grant");
    }
    let user = p.inner.user.lock().expect("lock").clone();
    let now = chrono::Utc::now().timestamp();
    let claims = json!({
        "iss": p.inner.issuer,
        "aud": CLIENT_ID,
        "sub": user.sub,
        "email": user.email,
        "email_verified": user.email_verified,
        "nonce": pending.nonce,
        "iat": now,
        "exp": now + 300,
    });
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some(KID.into());
    let id_token = jsonwebtoken::encode(&header, &claims, &p.inner.encoding).expect("sign");
    Json(json!({
        "access_token": "provider-access-token",
        "token_type": "Bearer",
        "expires_in": 300,
        "id_token": id_token,
    }))
    .into_response()
}
