//! Sessions for people: cookies, the CSRF check and access-token renewal.
//!
//! - `agora_session` holds the identity service's access and refresh tokens (`access~refresh`),
//!   HttpOnly and SameSite=Lax (Secure when the site is served over https). When the access
//!   token no longer verifies, the refresh token is exchanged for a new pair before the page
//!   runs; a refused exchange signs the person out.
//! - `agora_cart` names the shopper's cart (`cart_id~cart_token`; a customer's own cart has no
//!   token: the session proves ownership). `agora_order` keeps a guest's access to the order
//!   they just placed (`order_id~cart_token`).
//! - `agora_csrf` is a random value that every form repeats in its `csrf` field (double
//!   submit): a POST whose field does not match the cookie is refused before any handler runs,
//!   and a cross-site page can neither read the cookie nor set it.

use std::net::SocketAddr;

use agora_kernel::Principal;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use serde_json::json;

use crate::api::Creds;
use crate::Web;

pub const SESSION_COOKIE: &str = "agora_session";
pub const CART_COOKIE: &str = "agora_cart";
pub const ORDER_COOKIE: &str = "agora_order";
pub const CSRF_COOKIE: &str = "agora_csrf";
/// The form field that repeats the CSRF cookie.
pub const CSRF_FIELD: &str = "csrf";
/// The largest form body accepted (the API's own limit).
const MAX_FORM_BYTES: usize = 64 * 1024;

/// The signed-in person: their tokens and who the access token says they are.
#[derive(Clone, Debug)]
pub struct Session {
    pub access: String,
    pub refresh: String,
    pub principal: Principal,
}

impl Session {
    /// Whether the person works in the back office: staff, or a vendor's user.
    pub fn is_staff(&self) -> bool {
        matches!(
            self.principal,
            Principal::Staff { .. } | Principal::Vendor { .. }
        )
    }

    pub fn role(&self) -> &str {
        match &self.principal {
            Principal::Staff { role, .. } => role,
            Principal::Vendor { .. } => "vendor",
            Principal::Customer { .. } => "customer",
            _ => "",
        }
    }
}

/// The shopper's cart cookie.
#[derive(Clone, Debug)]
pub struct CartRef {
    pub id: String,
    /// The guest token; `None` for a signed-in customer's cart.
    pub token: Option<String>,
}

/// What a page knows about its visitor, resolved once per request by [`middleware`].
#[derive(Clone, Debug)]
pub struct Ctx {
    pub csrf: String,
    pub session: Option<Session>,
    pub cart: Option<CartRef>,
    /// A guest's latest order and the token of the cart it came from.
    pub order: Option<(String, String)>,
    pub peer: Option<SocketAddr>,
    pub secure: bool,
}

impl Ctx {
    /// Credentials of the signed-in person only.
    pub fn person(&self) -> Creds {
        Creds {
            bearer: self.session.as_ref().map(|s| s.access.clone()),
            cart_token: None,
            peer: self.peer,
        }
    }

    /// Credentials for the cart: its guest token when it has one, else the session.
    pub fn for_cart(&self) -> Creds {
        let mut creds = self.person();
        creds.cart_token = self.cart.as_ref().and_then(|c| c.token.clone());
        creds
    }

    /// The visitor's display name in the header.
    pub fn signed_in(&self) -> bool {
        self.session.is_some()
    }

    pub fn cookie(&self, name: &str, value: &str, max_age_secs: Option<i64>) -> HeaderValue {
        set_cookie(name, value, max_age_secs, self.secure)
    }

    pub fn clear(&self, name: &str) -> HeaderValue {
        set_cookie(name, "", Some(0), self.secure)
    }
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Lax, whole site.
pub fn set_cookie(name: &str, value: &str, max_age_secs: Option<i64>, secure: bool) -> HeaderValue {
    let mut cookie = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
    if let Some(age) = max_age_secs {
        cookie.push_str(&format!("; Max-Age={age}"));
    }
    if secure {
        cookie.push_str("; Secure");
    }
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static("invalid=1"))
}

/// The value of cookie `name` in the request.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

fn pair(raw: Option<&str>) -> Option<(String, String)> {
    let (a, b) = raw?.split_once('~')?;
    Some((a.to_string(), b.to_string()))
}

/// A value that is safe inside a cookie (tokens are base64url, hex or JWT; anything else is
/// refused rather than escaped).
pub fn cookie_safe(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_.~".contains(&b))
}

/// The session cookie's value for a token pair.
pub fn session_value(access: &str, refresh: &str) -> Option<String> {
    (cookie_safe(access) && cookie_safe(refresh) && !access.contains('~') && !refresh.contains('~'))
        .then(|| format!("{access}~{refresh}"))
}

/// Who an access token stands for, if it still verifies.
pub fn principal_of(web: &Web, access: &str) -> Option<Principal> {
    let claims = web
        .state
        .config
        .token_keys
        .verify(access, chrono::Utc::now().timestamp())
        .ok()?;
    claims.principal().ok()
}

fn forbidden_form() -> Response {
    (
        StatusCode::FORBIDDEN,
        crate::layout::bare_page(
            "Form expired",
            "This form was not sent from this site or has expired. Go back, reload the page and try again.",
        ),
    )
        .into_response()
}

/// Middleware of every page: resolves [`Ctx`], refuses a changing request without its CSRF
/// token, renews the access token, and sets the cookies that changed.
pub async fn middleware(State(web): State<Web>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let mut set: Vec<HeaderValue> = Vec::new();
    let secure = web.config.secure_cookies;
    let csrf = match cookie(&parts.headers, CSRF_COOKIE).filter(|v| cookie_safe(v) && v.len() >= 32)
    {
        Some(v) => v.to_string(),
        None => {
            let fresh = hex::encode(rand::random::<[u8; 32]>());
            set.push(set_cookie(CSRF_COOKIE, &fresh, None, secure));
            fresh
        }
    };
    let body = if parts.method == Method::POST {
        let bytes = match http_body_util::Limited::new(body, MAX_FORM_BYTES)
            .collect()
            .await
        {
            Ok(collected) => collected.to_bytes(),
            Err(_) => return (StatusCode::PAYLOAD_TOO_LARGE, "form too large").into_response(),
        };
        let sent = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&bytes)
            .ok()
            .and_then(|fields| {
                fields
                    .into_iter()
                    .find(|(k, _)| k == CSRF_FIELD)
                    .map(|(_, v)| v)
            });
        // A fresh cookie means the browser sent none: nothing to compare with.
        let expected = cookie(&parts.headers, CSRF_COOKIE);
        let ok = matches!((sent.as_deref(), expected), (Some(s), Some(e))
            if agora_auth::constant_time_eq(s.as_bytes(), e.as_bytes()));
        if !ok {
            return forbidden_form();
        }
        Body::from(bytes)
    } else {
        body
    };
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let mut session = None;
    if let Some((access, refresh)) = pair(cookie(&parts.headers, SESSION_COOKIE)) {
        if let Some(principal) = principal_of(&web, &access) {
            session = Some(Session {
                access,
                refresh,
                principal,
            });
        } else {
            // The access token expired (or the keys rotated): exchange the refresh token.
            let creds = Creds {
                peer,
                ..Creds::default()
            };
            let renewed = web
                .api
                .post(
                    "/store/auth/refresh",
                    &creds,
                    None,
                    &json!({"refresh_token": refresh}),
                )
                .await
                .ok();
            let pair = renewed.as_ref().and_then(|r| {
                let access = r["access_token"].as_str()?;
                let refresh = r["refresh_token"].as_str()?;
                Some((access.to_string(), refresh.to_string()))
            });
            match pair.and_then(|(a, r)| {
                let principal = principal_of(&web, &a)?;
                let value = session_value(&a, &r)?;
                Some((a, r, principal, value))
            }) {
                Some((access, refresh, principal, value)) => {
                    set.push(set_cookie(SESSION_COOKIE, &value, None, secure));
                    session = Some(Session {
                        access,
                        refresh,
                        principal,
                    });
                }
                None => set.push(set_cookie(SESSION_COOKIE, "", Some(0), secure)),
            }
        }
    }
    let cart = pair(cookie(&parts.headers, CART_COOKIE)).map(|(id, token)| CartRef {
        id,
        token: (!token.is_empty()).then_some(token),
    });
    let order = pair(cookie(&parts.headers, ORDER_COOKIE));
    parts.extensions.insert(Ctx {
        csrf,
        session,
        cart,
        order,
        peer,
        secure,
    });
    let mut response = next.run(Request::from_parts(parts, body)).await;
    let headers = response.headers_mut();
    for value in set {
        headers.append(header::SET_COOKIE, value);
    }
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
             object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        // Pages show carts, orders and accounts: never cached by a shared cache.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_read_by_exact_name() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("xagora_cart=1; agora_cart=abc~def; agora_csrf="),
        );
        assert_eq!(cookie(&headers, CART_COOKIE), Some("abc~def"));
        assert_eq!(
            cookie(&headers, CSRF_COOKIE),
            None,
            "an empty cookie is no cookie"
        );
    }

    #[test]
    fn session_cookies_are_http_only_lax_and_secure_over_https() {
        let plain = set_cookie(SESSION_COOKIE, "a~b", None, false);
        let plain = plain.to_str().expect("ascii");
        assert!(
            plain.contains("HttpOnly")
                && plain.contains("SameSite=Lax")
                && !plain.contains("Secure")
        );
        let secure = set_cookie(SESSION_COOKIE, "a~b", Some(60), true);
        assert!(secure.to_str().expect("ascii").ends_with("; Secure"));
    }

    #[test]
    fn only_token_characters_go_into_a_session_cookie() {
        assert!(session_value("eyJ.abc-_", "r3fr3sh").is_some());
        assert!(session_value("a;b", "r").is_none());
        assert!(session_value("a", "r~s").is_none());
    }
}
