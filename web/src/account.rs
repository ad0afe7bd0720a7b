//! The signed-in customer's own pages beside `/account`: profile (`/account/profile`),
//! password (`/account/password`) and notification preferences (`/account/notifications`).
//!
//! Each form becomes the API's request for it (`PATCH /store/customers/me`,
//! `POST /store/customers/me/password`, `PUT /store/customers/me/notifications`), so what may
//! change, and how a value is checked, is the API's decision; a refusal is shown above the form
//! with what the person typed kept (passwords excepted).

use axum::extract::{Query, State};
use axum::http::Method;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::api::ApiFailure;
use crate::layout::{csrf, error_box, error_page, page};
use crate::session::Ctx;
use crate::Web;

/// `?notice=…` after a saved form.
#[derive(Debug, Default, Deserialize)]
pub struct Saved {
    #[serde(default)]
    notice: Option<String>,
}

/// The links between the account pages.
fn account_nav(current: &str) -> Markup {
    html! {
        nav aria-label="Your account" {
            ul.subnav {
                @for (href, label) in [("/account", "Overview"), ("/account/profile", "Profile"),
                                       ("/account/password", "Password"), ("/account/notifications", "Notifications")] {
                    li {
                        @if href == current { a href=(href) aria-current="page" { strong { (label) } } }
                        @else { a href=(href) { (label) } }
                    }
                }
            }
        }
    }
}

pub fn account_links() -> Markup {
    account_nav("/account")
}

/// Signed-in people only: the others go to sign in and come back.
// The refusal is a redirect, built once per refused request: no hot path.
#[allow(clippy::result_large_err)]
fn signed_in(ctx: &Ctx, here: &str) -> Result<(), Response> {
    if ctx.signed_in() {
        Ok(())
    } else {
        Err(Redirect::to(&format!("/account/signin?next={here}")).into_response())
    }
}

/// A refused form: shown again in place for the person's own mistakes (4xx but 401/403),
/// an error page otherwise.
fn refused(ctx: &Ctx, e: &ApiFailure, again: impl FnOnce(&str) -> Response) -> Response {
    if e.status.is_client_error() && e.status.as_u16() != 401 && e.status.as_u16() != 403 {
        let mut r = again(&e.message);
        *r.status_mut() = e.status;
        r
    } else {
        error_page(ctx, e)
    }
}

fn saved_notice(saved: &Saved) -> Markup {
    html! { @if saved.notice.is_some() { div.notice role="status" { "Saved." } } }
}

// ---------------------------------------------------------------------------------------------
// Profile

#[derive(Debug, Default, Deserialize)]
pub struct ProfileForm {
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    marketing_opt_in: Option<String>,
}

fn profile_page(
    ctx: &Ctx,
    email: &str,
    form: &ProfileForm,
    saved: &Saved,
    error: Option<&str>,
) -> Response {
    page(
        ctx,
        "Your profile",
        html! {
            (account_nav("/account/profile"))
            h1 { "Your profile" }
            (saved_notice(saved))
            (error_box(error))
            form #profile-form method="post" action="/account/profile" style="max-width:30rem" {
                (csrf(ctx))
                p { "Email: " strong #profile-email { (email) } }
                label for="display_name" { "Name" }
                input #display_name type="text" name="display_name" value=(form.display_name) maxlength="100" autocomplete="name";
                label for="phone" { "Phone (optional)" }
                input #phone type="tel" name="phone" value=(form.phone) autocomplete="tel" aria-describedby="phone-help";
                p #phone-help .muted { "International format, like +447700900123. Leave empty to remove it." }
                label.inline {
                    input #marketing_opt_in type="checkbox" name="marketing_opt_in" value="1" checked[form.marketing_opt_in.is_some()];
                    "Send me news and offers by email"
                }
                p { button type="submit" { "Save profile" } }
            }
        },
    )
    .into_response()
}

/// `GET /account/profile`.
pub async fn profile_form(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Query(saved): Query<Saved>,
) -> Response {
    if let Err(r) = signed_in(&ctx, "/account/profile") {
        return r;
    }
    let me: Value = match web.api.get("/store/customers/me", &ctx.person()).await {
        Ok(me) => me,
        Err(e) => return error_page(&ctx, &e),
    };
    let form = ProfileForm {
        display_name: me["display_name"].as_str().unwrap_or_default().into(),
        phone: me["phone"].as_str().unwrap_or_default().into(),
        marketing_opt_in: me["marketing_opt_in"]
            .as_bool()
            .unwrap_or(false)
            .then(|| "1".into()),
    };
    profile_page(
        &ctx,
        me["email"].as_str().unwrap_or_default(),
        &form,
        &saved,
        None,
    )
}

/// `POST /account/profile`: name, phone and marketing consent (`PATCH /store/customers/me`).
pub async fn profile(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Form(form): Form<ProfileForm>,
) -> Response {
    if let Err(r) = signed_in(&ctx, "/account/profile") {
        return r;
    }
    let body = json!({
        "display_name": form.display_name.trim(),
        "phone": form.phone.trim(),
        "marketing_opt_in": form.marketing_opt_in.is_some(),
    });
    match web
        .api
        .call(
            Method::PATCH,
            "/store/customers/me",
            &ctx.person(),
            None,
            Some(&body),
        )
        .await
    {
        Ok(_) => Redirect::to("/account/profile?notice=saved").into_response(),
        Err(e) => {
            let email = web
                .api
                .get::<Value>("/store/customers/me", &ctx.person())
                .await
                .ok()
                .and_then(|me| me["email"].as_str().map(str::to_string))
                .unwrap_or_default();
            refused(&ctx, &e, |m| {
                profile_page(&ctx, &email, &form, &Saved::default(), Some(m))
            })
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Password

#[derive(Debug, Default, Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    confirm_password: String,
}

fn password_page(ctx: &Ctx, saved: &Saved, error: Option<&str>) -> Response {
    page(
        ctx,
        "Change your password",
        html! {
            (account_nav("/account/password"))
            h1 { "Change your password" }
            (saved_notice(saved))
            (error_box(error))
            p.muted { "Changing it signs you out everywhere else; this browser stays signed in." }
            form #password-form method="post" action="/account/password" style="max-width:26rem" {
                (csrf(ctx))
                label for="current_password" { "Current password" }
                input #current_password type="password" name="current_password" required autocomplete="current-password";
                label for="new_password" { "New password" }
                input #new_password type="password" name="new_password" required minlength="12" maxlength="128" autocomplete="new-password" aria-describedby="new-pw-help";
                p #new-pw-help .muted { "12 to 128 characters; not a common password and not your email." }
                label for="confirm_password" { "New password again" }
                input #confirm_password type="password" name="confirm_password" required minlength="12" maxlength="128" autocomplete="new-password";
                p { button type="submit" { "Change password" } }
            }
        },
    )
    .into_response()
}

/// `GET /account/password`.
pub async fn password_form(Extension(ctx): Extension<Ctx>, Query(saved): Query<Saved>) -> Response {
    if let Err(r) = signed_in(&ctx, "/account/password") {
        return r;
    }
    password_page(&ctx, &saved, None)
}

/// `POST /account/password`: the current password is checked by the identity service.
pub async fn password(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Form(form): Form<PasswordForm>,
) -> Response {
    if let Err(r) = signed_in(&ctx, "/account/password") {
        return r;
    }
    if form.new_password != form.confirm_password {
        let mut r = password_page(
            &ctx,
            &Saved::default(),
            Some("The two new passwords differ. Type the same one twice."),
        );
        *r.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
        return r;
    }
    let body =
        json!({"current_password": form.current_password, "new_password": form.new_password});
    match web
        .api
        .post("/store/customers/me/password", &ctx.person(), None, &body)
        .await
    {
        Ok(_) => Redirect::to("/account/password?notice=changed").into_response(),
        Err(e) => {
            // A wrong current password is the person's mistake, not a sign-in problem.
            let e = if e.code == "auth.invalid_credentials" {
                ApiFailure {
                    status: axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                    message: "Your current password is not right.".into(),
                    ..e
                }
            } else {
                e
            };
            refused(&ctx, &e, |m| {
                password_page(&ctx, &Saved::default(), Some(m))
            })
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Notification preferences

#[derive(Debug, Default, Deserialize)]
pub struct PreferencesForm {
    #[serde(default)]
    order_updates_email: Option<String>,
    #[serde(default)]
    order_updates_sms: Option<String>,
    #[serde(default)]
    back_in_stock_email: Option<String>,
    #[serde(default)]
    back_in_stock_sms: Option<String>,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    sms_opt_in: Option<String>,
}

impl PreferencesForm {
    fn from_api(p: &Value) -> Self {
        let on = |v: &Value| v.as_bool().unwrap_or(false).then(|| "1".to_string());
        PreferencesForm {
            order_updates_email: on(&p["order_updates"]["email"]),
            order_updates_sms: on(&p["order_updates"]["sms"]),
            back_in_stock_email: on(&p["back_in_stock"]["email"]),
            back_in_stock_sms: on(&p["back_in_stock"]["sms"]),
            phone: p["phone"].as_str().unwrap_or_default().into(),
            sms_opt_in: on(&p["sms_opt_in"]),
        }
    }

    /// The API's body: an empty phone is no phone.
    fn to_api(&self) -> Value {
        let phone = self.phone.trim();
        json!({
            "order_updates": {"email": self.order_updates_email.is_some(), "sms": self.order_updates_sms.is_some()},
            "back_in_stock": {"email": self.back_in_stock_email.is_some(), "sms": self.back_in_stock_sms.is_some()},
            "phone": (!phone.is_empty()).then_some(phone),
            "sms_opt_in": self.sms_opt_in.is_some(),
        })
    }
}

fn preferences_page(
    ctx: &Ctx,
    form: &PreferencesForm,
    saved: &Saved,
    error: Option<&str>,
) -> Response {
    let check = |id: &str, name: &str, on: bool, label: &str| {
        html! { label.inline { input id=(id) type="checkbox" name=(name) value="1" checked[on]; (label) } }
    };
    page(
        ctx,
        "Notifications",
        html! {
            (account_nav("/account/notifications"))
            h1 { "Notifications" }
            (saved_notice(saved))
            (error_box(error))
            p.muted { "Mail about your account (email confirmation, password reset) is always sent." }
            form #preferences-form method="post" action="/account/notifications" style="max-width:30rem" {
                (csrf(ctx))
                fieldset {
                    legend { "Order updates" }
                    (check("ou-email", "order_updates_email", form.order_updates_email.is_some(), "By email"))
                    (check("ou-sms", "order_updates_sms", form.order_updates_sms.is_some(), "By text message"))
                }
                fieldset {
                    legend { "Back in stock alerts" }
                    (check("bis-email", "back_in_stock_email", form.back_in_stock_email.is_some(), "By email"))
                    (check("bis-sms", "back_in_stock_sms", form.back_in_stock_sms.is_some(), "By text message"))
                }
                fieldset {
                    legend { "Text messages" }
                    label for="n-phone" { "Mobile number" }
                    input #n-phone type="tel" name="phone" value=(form.phone) autocomplete="tel" aria-describedby="n-phone-help";
                    p #n-phone-help .muted { "International format, like +447700900123." }
                    (check("sms-opt-in", "sms_opt_in", form.sms_opt_in.is_some(), "I agree to receive text messages"))
                }
                p { button type="submit" { "Save preferences" } }
            }
        },
    )
    .into_response()
}

/// `GET /account/notifications`.
pub async fn preferences_form(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Query(saved): Query<Saved>,
) -> Response {
    if let Err(r) = signed_in(&ctx, "/account/notifications") {
        return r;
    }
    match web
        .api
        .get::<Value>("/store/customers/me/notifications", &ctx.person())
        .await
    {
        Ok(p) => preferences_page(&ctx, &PreferencesForm::from_api(&p), &saved, None),
        Err(e) => error_page(&ctx, &e),
    }
}

/// `POST /account/notifications`: replaces the preferences (`PUT
/// /store/customers/me/notifications`); the API checks that text messages have a number and
/// the consent.
pub async fn preferences(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Form(form): Form<PreferencesForm>,
) -> Response {
    if let Err(r) = signed_in(&ctx, "/account/notifications") {
        return r;
    }
    match web
        .api
        .call(
            Method::PUT,
            "/store/customers/me/notifications",
            &ctx.person(),
            None,
            Some(&form.to_api()),
        )
        .await
    {
        Ok(_) => Redirect::to("/account/notifications?notice=saved").into_response(),
        Err(e) => refused(&ctx, &e, |m| {
            preferences_page(&ctx, &form, &Saved::default(), Some(m))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preferences_survive_the_round_trip_through_the_form() {
        let api = json!({"order_updates": {"email": true, "sms": true},
                         "back_in_stock": {"email": false, "sms": false},
                         "phone": "+447700900123", "sms_opt_in": true});
        assert_eq!(PreferencesForm::from_api(&api).to_api(), api);
        let empty_phone = PreferencesForm {
            phone: "  ".into(),
            ..PreferencesForm::default()
        };
        assert_eq!(empty_phone.to_api()["phone"], Value::Null);
    }
}
