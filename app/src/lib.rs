//! The `agora` binary's library: configuration, role wiring and start-up.
//!
//! This is the only crate that reads configuration (see [`Config`]); it hands plain structs to
//! the libraries. Every role can run in its own process or all together ([`start`] with
//! [`Roles::all`]); any role can run as several processes at once.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use agora_nats::Bus;
use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, PgPool};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub mod audit;
pub mod catalog_seed;
pub mod reconcile;
mod roles;
pub mod seed;
mod singleton;

pub use roles::{rebuild, PROJECTIONS, SERVICES};

/// Configuration shared by every role. Each field is also an environment variable.
#[derive(Clone, Debug, clap::Args)]
pub struct Config {
    /// Postgres URL: the event store and the read models.
    #[arg(
        long,
        env = "AGORA_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/agora"
    )]
    pub database_url: String,
    /// NATS URL (a server ≥ 2.10 with JetStream).
    #[arg(long, env = "AGORA_NATS_URL", default_value = "nats://127.0.0.1:4222")]
    pub nats_url: String,
    /// Address the edge listens on.
    #[arg(long, env = "AGORA_HTTP_ADDR", default_value = "127.0.0.1:8080")]
    pub http_addr: SocketAddr,
    /// Where this process serves its Prometheus metrics (`GET /metrics`), whatever roles it
    /// runs; unset: only the edge serves them, on its own address. Every process that runs no
    /// edge (a service or projection on its own) needs this to be observable.
    #[arg(long, env = "AGORA_METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,
    /// Bearer token for /admin and /audit (unset: those routes answer 403).
    #[arg(long, env = "AGORA_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Seconds an aggregate actor stays in memory without messages.
    #[arg(long, env = "AGORA_ACTOR_IDLE_SECS", default_value_t = 60)]
    pub actor_idle_secs: u64,
    /// Postgres connections per process.
    #[arg(long, env = "AGORA_DB_POOL_SIZE", default_value_t = 32)]
    pub db_pool_size: u32,
    /// Meilisearch URL; unset, search runs on Postgres full text (also the fallback when set).
    #[arg(long, env = "MEILI_URL")]
    pub meili_url: Option<String>,
    /// Meilisearch API key.
    #[arg(long, env = "MEILI_KEY", hide_env_values = true)]
    pub meili_key: Option<String>,
    /// The Meilisearch index holding products.
    #[arg(long, env = "AGORA_MEILI_INDEX", default_value = "products")]
    pub meili_index: String,
    /// Budget in milliseconds for one HTTP request's calls to services.
    #[arg(long, env = "AGORA_REQUEST_TIMEOUT_MS", default_value_t = 5000)]
    pub request_timeout_ms: u64,
    /// Megabytes of public catalog answers (search, products, categories, reviews) the edge
    /// keeps until a read model they come from changes; 0 turns the cache off.
    #[arg(long, env = "AGORA_READ_CACHE_MB", default_value_t = 64)]
    pub read_cache_mb: u64,
    /// Payment provider: `test` (built in, behaves like Stripe's test mode, keeps its state in
    /// Postgres) or `stripe` (needs AGORA_STRIPE_SECRET_KEY).
    #[arg(long, env = "AGORA_PAYMENT_GATEWAY", default_value = "test")]
    pub payment_gateway: String,
    /// Stripe secret key (`sk_live_...` / `sk_test_...`).
    #[arg(long, env = "AGORA_STRIPE_SECRET_KEY", hide_env_values = true)]
    pub stripe_secret_key: Option<String>,
    /// Stripe API base URL.
    #[arg(
        long,
        env = "AGORA_STRIPE_API_BASE",
        default_value = "https://api.stripe.com"
    )]
    pub stripe_api_base: String,
    /// Secret that signs Stripe's webhooks (`whsec_...`); unset, /hooks/payments/stripe answers 404.
    #[arg(long, env = "AGORA_STRIPE_WEBHOOK_SECRET", hide_env_values = true)]
    pub stripe_webhook_secret: Option<String>,
    /// Shipping charged per order, in minor units.
    #[arg(long, env = "AGORA_SHIPPING_FLAT_MINOR", default_value_t = 499)]
    pub shipping_flat_minor: i64,
    /// Orders whose subtotal reaches this many minor units ship free (0 turns free shipping off).
    #[arg(long, env = "AGORA_FREE_SHIPPING_FROM_MINOR", default_value_t = 10_000)]
    pub free_shipping_from_minor: i64,
    /// Tax in basis points of subtotal plus shipping (1900 = 19 %): the one rate everywhere
    /// when `AGORA_TAX_RULES` is unset, and the cart page's estimate.
    #[arg(long, env = "AGORA_TAX_RATE_BP", default_value_t = 1900)]
    pub tax_rate_bp: u32,
    /// Tax rules per country and region, which replace the flat rate at checkout: comma-separated
    /// `JURISDICTION:RATE_BP[:incl|:excl][:shipping=same|exempt|RATE_BP]`, the jurisdiction a
    /// country (`DE`), a region of one (`US-CA`) or `*` (everywhere else); for example
    /// `DE:1900:incl,US-CA:725:excl:shipping=exempt,*:1900`. An address no rule covers cannot
    /// check out (`tax.no_rate`).
    #[arg(long, env = "AGORA_TAX_RULES")]
    pub tax_rules: Option<String>,
    /// How the checkout rounds tax, half up: `order` (once per rate, as the flat rate always
    /// did) or `line` (each line and shipping on its own, so each invoice line's tax adds up).
    #[arg(long, env = "AGORA_TAX_ROUNDING", default_value = "order")]
    pub tax_rounding: String,
    /// Days after delivery within which a shopper may return units.
    #[arg(long, env = "AGORA_RETURN_WINDOW_DAYS", default_value_t = 30)]
    pub return_window_days: u32,
    /// The provider vendors are paid through: `test` (built in, kept in Postgres) or `stripe`
    /// (Stripe Connect transfers, with `AGORA_STRIPE_SECRET_KEY`).
    #[arg(long, env = "AGORA_PAYOUT_GATEWAY", default_value = "test")]
    pub payout_gateway: String,
    /// Scheduled payouts: every this many seconds each active vendor is paid what is
    /// available; 0 pays only on request (`POST /admin/vendors/{id}/payouts`).
    #[arg(long, env = "AGORA_PAYOUT_SCHEDULE_SECS", default_value_t = 0)]
    pub payout_schedule_secs: u64,
    /// The smallest payout, in minor units of the shop's currency.
    #[arg(long, env = "AGORA_PAYOUT_MINIMUM_MINOR", default_value_t = 1000)]
    pub payout_minimum_minor: i64,
    /// Secret that signs carrier tracking webhooks in Agora's own shape
    /// (`/hooks/carriers/generic`, header `Agora-Signature`); unset turns the route off.
    #[arg(long, env = "AGORA_CARRIER_WEBHOOK_SECRET")]
    pub carrier_webhook_secret: Option<String>,
    /// EasyPost's webhook secret (`/hooks/carriers/easypost`, header `X-Hmac-Signature`);
    /// unset turns the route off.
    #[arg(long, env = "AGORA_EASYPOST_WEBHOOK_SECRET")]
    pub easypost_webhook_secret: Option<String>,
    /// The payment provider's fees to check in reconciliation, as `PERCENT%+FIXED` in minor
    /// units (`2.9%+30`); unset: the test provider's own rule, and no fee check with Stripe.
    #[arg(long, env = "AGORA_PROVIDER_FEES")]
    pub provider_fees: Option<String>,
    /// Seconds between reconciliations of the provider's statement with our payments (86400:
    /// nightly; 0: only `agora reconcile`).
    #[arg(long, env = "AGORA_RECONCILE_EVERY_SECS", default_value_t = 86_400)]
    pub reconcile_every_secs: u64,
    /// Days of payments each scheduled reconciliation covers.
    #[arg(long, env = "AGORA_RECONCILE_WINDOW_DAYS", default_value_t = 90)]
    pub reconcile_window_days: u32,
    /// The auditor's signing key: a file holding an Ed25519 seed (64 hex characters), created
    /// on first use. It signs checkpoints and exports and never enters the database; keep it
    /// where the database's administrators cannot write. Unset: no checkpoints are taken.
    #[arg(long, env = "AGORA_AUDIT_KEY_FILE")]
    pub audit_key_file: Option<std::path::PathBuf>,
    /// Seconds between signed checkpoints of every stream's head (0: only on demand, with
    /// `agora audit checkpoint`).
    #[arg(long, env = "AGORA_AUDIT_CHECKPOINT_SECS", default_value_t = 3600)]
    pub audit_checkpoint_secs: u64,
    /// A directory (the auditor's) where each checkpoint is also written as a file.
    #[arg(long, env = "AGORA_AUDIT_PUBLISH_DIR")]
    pub audit_publish_dir: Option<std::path::PathBuf>,
    /// Seconds a promotion's use may stay held for a checkout that never reached its commit
    /// point (the process died between the reservation and the saga's start, and the shopper
    /// never retried) before the promotion service gives it back.
    #[arg(long, env = "AGORA_PROMOTION_HOLD_SECS", default_value_t = 900)]
    pub promotion_hold_secs: u64,
    /// Fault injection for tests: abort the process right after the checkout saga performed this
    /// action and before it recorded the outcome (`reserve_stock`, `authorize`, `capture`...).
    #[arg(long, env = "AGORA_FAULT_CRASH_AFTER", hide = true)]
    pub fault_crash_after: Option<String>,
    /// Notifications: SMTP, SMS, the shop's name and links.
    #[command(flatten)]
    pub notify: NotifyConfig,
    /// Keys of access tokens (HS256): comma-separated `kid:secret` pairs, secrets of at least
    /// 32 bytes; the first signs, all verify (list the old key after the new one to rotate).
    /// Unset: one random key per process, which only works when every role runs in one process.
    #[arg(long, env = "AGORA_JWT_KEYS", hide_env_values = true)]
    pub jwt_keys: Option<String>,
    /// argon2id memory per password hash in KiB (default 19456, OWASP's minimum; weaker
    /// settings are refused at start-up).
    #[arg(long, env = "AGORA_ARGON2_M_KIB")]
    pub argon2_m_kib: Option<u32>,
    /// argon2id passes (default 2).
    #[arg(long, env = "AGORA_ARGON2_T")]
    pub argon2_t: Option<u32>,
    /// argon2id lanes (default 1).
    #[arg(long, env = "AGORA_ARGON2_P")]
    pub argon2_p: Option<u32>,
    /// The account registered with this email becomes admin once it verified the email (how a
    /// fresh shop gets its first admin). Remove it once that admin exists.
    #[arg(long, env = "AGORA_BOOTSTRAP_ADMIN_EMAIL")]
    pub bootstrap_admin_email: Option<String>,
    /// The edge's CORS origins, rate limits and OpenID provider.
    #[command(flatten)]
    pub edge_security: EdgeSecurityConfig,
}

/// The edge's browser-facing security settings.
#[derive(Clone, Debug, clap::Args)]
pub struct EdgeSecurityConfig {
    /// Browser origins allowed to call the API, comma-separated (the storefront's, e.g.
    /// `https://shop.example.com`); unset: no cross-origin calls.
    #[arg(long, env = "AGORA_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,
    /// Sign-in, sign-up and password-reset requests per minute per client address and route.
    #[arg(long, env = "AGORA_AUTH_RATE_PER_MINUTE", default_value_t = 10)]
    pub auth_rate_per_minute: u32,
    /// Such requests a client may send at once before the per-minute rate applies.
    #[arg(long, env = "AGORA_AUTH_RATE_BURST", default_value_t = 10)]
    pub auth_rate_burst: u32,
    /// Take the client address from X-Forwarded-For (only behind one trusted proxy).
    #[arg(long, env = "AGORA_TRUST_FORWARDED_FOR", default_value_t = false)]
    pub trust_forwarded_for: bool,
    /// The OpenID provider's name, recorded with linked accounts (`google`, `github`...).
    #[arg(long, env = "AGORA_OIDC_PROVIDER", default_value = "oidc")]
    pub oidc_provider: String,
    /// The provider's issuer URL; unset: "sign in with a provider" is off. Endpoints not set
    /// below are read from its discovery document at start-up.
    #[arg(long, env = "AGORA_OIDC_ISSUER")]
    pub oidc_issuer: Option<String>,
    #[arg(long, env = "AGORA_OIDC_AUTHORIZE_URL")]
    pub oidc_authorize_url: Option<String>,
    #[arg(long, env = "AGORA_OIDC_TOKEN_URL")]
    pub oidc_token_url: Option<String>,
    #[arg(long, env = "AGORA_OIDC_JWKS_URL")]
    pub oidc_jwks_url: Option<String>,
    #[arg(long, env = "AGORA_OIDC_CLIENT_ID")]
    pub oidc_client_id: Option<String>,
    #[arg(long, env = "AGORA_OIDC_CLIENT_SECRET", hide_env_values = true)]
    pub oidc_client_secret: Option<String>,
    /// Our callback as registered with the provider: `https://<edge>/store/auth/oidc/callback`.
    #[arg(long, env = "AGORA_OIDC_REDIRECT_URI")]
    pub oidc_redirect_uri: Option<String>,
    /// Signs the short-lived login-attempt cookie (at least 32 bytes; every edge instance needs
    /// the same). Unset: derived from the client secret, or random per process without one.
    #[arg(long, env = "AGORA_OIDC_STATE_SECRET", hide_env_values = true)]
    pub oidc_state_secret: Option<String>,
    /// Mark the web pages' session and cart cookies `Secure` (set when the site is served
    /// over https, as it should be in production).
    #[arg(long, env = "AGORA_WEB_SECURE_COOKIES", default_value_t = false)]
    pub web_secure_cookies: bool,
}

impl Default for EdgeSecurityConfig {
    /// The command line's defaults (for tests and embedders).
    fn default() -> Self {
        EdgeSecurityConfig {
            cors_origins: vec![],
            auth_rate_per_minute: 10,
            auth_rate_burst: 10,
            trust_forwarded_for: false,
            oidc_provider: "oidc".into(),
            oidc_issuer: None,
            oidc_authorize_url: None,
            oidc_token_url: None,
            oidc_jwks_url: None,
            oidc_client_id: None,
            oidc_client_secret: None,
            oidc_redirect_uri: None,
            oidc_state_secret: None,
            web_secure_cookies: false,
        }
    }
}

/// The OpenID provider of the edge, if one is configured (compose passes unset values as empty
/// strings, which count as unset).
pub async fn oidc_config(config: &Config) -> anyhow::Result<Option<agora_edge::OidcConfig>> {
    let c = &config.edge_security;
    let set = |v: &Option<String>| v.clone().filter(|s| !s.trim().is_empty());
    let Some(issuer) = set(&c.oidc_issuer) else {
        return Ok(None);
    };
    let client_id =
        set(&c.oidc_client_id).context("AGORA_OIDC_ISSUER needs AGORA_OIDC_CLIENT_ID")?;
    let redirect_uri =
        set(&c.oidc_redirect_uri).context("AGORA_OIDC_ISSUER needs AGORA_OIDC_REDIRECT_URI")?;
    let (mut authorize_url, mut token_url, mut jwks_url) = (
        set(&c.oidc_authorize_url),
        set(&c.oidc_token_url),
        set(&c.oidc_jwks_url),
    );
    if authorize_url.is_none() || token_url.is_none() || jwks_url.is_none() {
        let found = agora_edge::discover_oidc(&issuer)
            .await
            .with_context(|| format!("read the OpenID discovery document of {issuer}"))?;
        authorize_url.get_or_insert(found.authorization_endpoint);
        token_url.get_or_insert(found.token_endpoint);
        jwks_url.get_or_insert(found.jwks_uri);
    }
    let client_secret = set(&c.oidc_client_secret);
    let state_key = match (set(&c.oidc_state_secret), &client_secret) {
        (Some(secret), _) => {
            anyhow::ensure!(
                secret.len() >= 32,
                "AGORA_OIDC_STATE_SECRET needs at least 32 bytes"
            );
            secret.into_bytes()
        }
        (None, Some(client_secret)) => {
            agora_auth::token_sha256(&format!("agora-oidc-state\n{client_secret}")).into_bytes()
        }
        (None, None) => {
            tracing::warn!("AGORA_OIDC_STATE_SECRET is unset and there is no client secret: provider sign-ins only work when one edge process serves both start and callback");
            agora_auth::new_opaque_token().into_bytes()
        }
    };
    Ok(Some(agora_edge::OidcConfig {
        provider: c.oidc_provider.clone(),
        issuer,
        authorize_url: authorize_url.context("no authorize URL")?,
        token_url: token_url.context("no token URL")?,
        jwks_url: jwks_url.context("no JWKS URL")?,
        client_id,
        client_secret,
        redirect_uri,
        state_key,
    }))
}

/// The search index: Postgres always, Meilisearch in front of it when configured.
pub async fn search(config: &Config, pool: &PgPool) -> anyhow::Result<agora_search::Search> {
    use agora_search::SearchIndex;
    let meili = match &config.meili_url {
        Some(url) => Some(
            agora_search::MeiliSearch::new(url, config.meili_key.as_deref(), &config.meili_index)
                .map_err(|e| anyhow::anyhow!("Meilisearch configuration: {e}"))?,
        ),
        None => None,
    };
    let pg = agora_search::PgSearch::new(pool.clone());
    pg.ensure()
        .await
        .map_err(|e| anyhow::anyhow!("prepare the search table: {e}"))?;
    if let Some(m) = &meili {
        // Meilisearch being down must not stop the platform: reads fall back to Postgres and
        // the search projection queues what Meilisearch missed.
        if let Err(e) = m.ensure().await {
            tracing::warn!(error = %e, "Meilisearch is not reachable; searching with Postgres until it is");
        }
    }
    Ok(agora_search::Search::new(pg, meili))
}

/// Notification settings (`agora service notifier`, and `agora all`).
#[derive(Clone, Debug, clap::Args)]
pub struct NotifyConfig {
    /// SMTP server for email: `smtp://host:port` (plain; `?tls=required` for STARTTLS) or
    /// `smtps://host:port` (implicit TLS). Unset: email waits, pending, until one is configured.
    #[arg(long, env = "AGORA_SMTP_URL")]
    pub smtp_url: Option<String>,
    /// SMTP user name (with AGORA_SMTP_PASSWORD).
    #[arg(long, env = "AGORA_SMTP_USER")]
    pub smtp_user: Option<String>,
    /// SMTP password.
    #[arg(long, env = "AGORA_SMTP_PASSWORD", hide_env_values = true)]
    pub smtp_password: Option<String>,
    /// The From: of every email; its domain is also the Message-ID's.
    #[arg(
        long,
        env = "AGORA_MAIL_FROM",
        default_value = "Agora <shop@agora.localhost>"
    )]
    pub mail_from: String,
    /// The shop's name in messages.
    #[arg(long, env = "AGORA_SHOP_NAME", default_value = "Agora")]
    pub shop_name: String,
    /// The storefront's base URL for links in messages.
    #[arg(long, env = "AGORA_SHOP_URL", default_value = "http://localhost:8080")]
    pub shop_url: String,
    /// Where low-stock alerts go (unset: none are sent).
    #[arg(long, env = "AGORA_STAFF_EMAIL")]
    pub staff_email: Option<String>,
    /// Twilio account SID for SMS (with the token and the sender; unset: no SMS).
    #[arg(long, env = "AGORA_TWILIO_ACCOUNT_SID")]
    pub twilio_account_sid: Option<String>,
    /// Twilio auth token.
    #[arg(long, env = "AGORA_TWILIO_AUTH_TOKEN", hide_env_values = true)]
    pub twilio_auth_token: Option<String>,
    /// The SMS sender: a Twilio number in E.164 form.
    #[arg(long, env = "AGORA_TWILIO_FROM")]
    pub twilio_from: Option<String>,
    /// Twilio's API base URL.
    #[arg(
        long,
        env = "AGORA_TWILIO_API_BASE",
        default_value = "https://api.twilio.com"
    )]
    pub twilio_api_base: String,
    /// Delivery attempts before a notification is marked failed.
    #[arg(long, env = "AGORA_NOTIFY_MAX_ATTEMPTS", default_value_t = 8)]
    pub notify_max_attempts: u32,
    /// The first retry's delay in milliseconds; it doubles per attempt.
    #[arg(long, env = "AGORA_NOTIFY_RETRY_BASE_MS", default_value_t = 30_000)]
    pub notify_retry_base_ms: u64,
    /// The longest delay between attempts, in milliseconds.
    #[arg(long, env = "AGORA_NOTIFY_RETRY_CAP_MS", default_value_t = 3_600_000)]
    pub notify_retry_cap_ms: u64,
    /// Seconds a sender's claim on a notification holds; after a crash mid-send, the message
    /// is sent again (same Message-ID) once this passed.
    #[arg(long, env = "AGORA_NOTIFY_LEASE_SECS", default_value_t = 120)]
    pub notify_lease_secs: u64,
}

impl Default for NotifyConfig {
    /// The command line's defaults (for tests and embedders).
    fn default() -> Self {
        NotifyConfig {
            smtp_url: None,
            smtp_user: None,
            smtp_password: None,
            mail_from: "Agora <shop@agora.localhost>".into(),
            shop_name: "Agora".into(),
            shop_url: "http://localhost:8080".into(),
            staff_email: None,
            twilio_account_sid: None,
            twilio_auth_token: None,
            twilio_from: None,
            twilio_api_base: "https://api.twilio.com".into(),
            notify_max_attempts: 8,
            notify_retry_base_ms: 30_000,
            notify_retry_cap_ms: 3_600_000,
            notify_lease_secs: 120,
        }
    }
}

/// The notifier's configuration from [`NotifyConfig`] (compose passes unset values as empty
/// strings, which count as unset).
pub fn notifier_config(config: &Config) -> anyhow::Result<agora_notifier::NotifierConfig> {
    let n = &config.notify;
    let set = |v: &Option<String>| v.clone().filter(|s| !s.trim().is_empty());
    let lease = Duration::from_secs(n.notify_lease_secs.max(1));
    let smtp = set(&n.smtp_url).map(|url| agora_notifier::SmtpConfig {
        url,
        username: set(&n.smtp_user),
        password: set(&n.smtp_password),
        from: n.mail_from.clone(),
        timeout: Duration::from_secs(30),
    });
    let sms = match (
        set(&n.twilio_account_sid),
        set(&n.twilio_auth_token),
        set(&n.twilio_from),
    ) {
        (Some(account_sid), Some(auth_token), Some(from)) => Some(agora_notifier::SmsConfig {
            account_sid,
            auth_token,
            from,
            api_base: n.twilio_api_base.clone(),
            timeout: Duration::from_secs(15),
        }),
        (None, None, None) => None,
        _ => anyhow::bail!(
            "SMS needs all of AGORA_TWILIO_ACCOUNT_SID, AGORA_TWILIO_AUTH_TOKEN and AGORA_TWILIO_FROM"
        ),
    };
    Ok(agora_notifier::NotifierConfig {
        shop: agora_notifications::Shop::new(n.shop_name.clone(), n.shop_url.clone()),
        smtp,
        sms,
        staff_email: set(&n.staff_email),
        retry: agora_notifications::RetryPolicy {
            base: Duration::from_millis(n.notify_retry_base_ms),
            cap: Duration::from_millis(n.notify_retry_cap_ms.max(n.notify_retry_base_ms)),
            max_attempts: n.notify_max_attempts.max(1),
        },
        lease,
        poll: Duration::from_millis(500),
        crash_after: config.fault_crash_after.clone(),
    })
}

pub const JWT_ISSUER: &str = "agora";
/// The `aud` of Agora's access tokens.
pub const JWT_AUDIENCE: &str = "agora";

/// The key generated when `AGORA_JWT_KEYS` is unset: one per process, so the identity service
/// and the edge of one process agree.
static GENERATED_JWT_KEY: std::sync::OnceLock<agora_auth::HmacKey> = std::sync::OnceLock::new();

/// The access-token keys from `AGORA_JWT_KEYS` (`kid:secret,kid:secret`; the first signs, all
/// verify), or a random key for this process when it is unset.
pub fn token_keys(config: &Config) -> anyhow::Result<agora_auth::TokenKeys> {
    let configured = config.jwt_keys.as_deref().map(str::trim).unwrap_or("");
    let mut keys = Vec::new();
    if configured.is_empty() {
        let key = match GENERATED_JWT_KEY.get() {
            Some(key) => key.clone(),
            None => {
                tracing::warn!("AGORA_JWT_KEYS is unset: signing access tokens with a random key of this process; tokens will not work across processes or restarts");
                let key = agora_auth::HmacKey::generate("dev")
                    .map_err(|e| anyhow::anyhow!("generate a JWT key: {e}"))?;
                GENERATED_JWT_KEY.get_or_init(|| key).clone()
            }
        };
        keys.push(key);
    } else {
        for (i, pair) in configured.split(',').map(str::trim).enumerate() {
            let (kid, secret) = pair
                .split_once(':')
                .with_context(|| format!("AGORA_JWT_KEYS entry {} is not kid:secret", i + 1))?;
            keys.push(
                agora_auth::HmacKey::new(kid.trim(), secret.trim().as_bytes().to_vec())
                    .map_err(|e| anyhow::anyhow!("AGORA_JWT_KEYS entry {}: {e}", i + 1))?,
            );
        }
    }
    let mut keys = keys.into_iter();
    let current = keys.next().context("AGORA_JWT_KEYS holds no key")?;
    agora_auth::TokenKeys::new(JWT_ISSUER, JWT_AUDIENCE, current, keys.collect())
        .map_err(|e| anyhow::anyhow!("AGORA_JWT_KEYS: {e}"))
}

/// The password hasher at the configured argon2id cost (never below OWASP's minimum).
pub fn password_hasher(config: &Config) -> anyhow::Result<agora_auth::PasswordHasher> {
    let defaults = agora_auth::Argon2Params::default();
    let params = agora_auth::Argon2Params {
        memory_kib: config.argon2_m_kib.unwrap_or(defaults.memory_kib),
        iterations: config.argon2_t.unwrap_or(defaults.iterations),
        parallelism: config.argon2_p.unwrap_or(defaults.parallelism),
    };
    agora_auth::PasswordHasher::new(params).map_err(|e| {
        anyhow::anyhow!("AGORA_ARGON2_M_KIB/T/P: {e} (OWASP's minimum is m=19456 KiB, t=2, p=1, or an equivalent row)")
    })
}

/// The identity service's settings.
pub fn identity_settings(config: &Config) -> anyhow::Result<agora_workflows::IdentitySettings> {
    let bootstrap_admin_email = match config.bootstrap_admin_email.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(email) => Some(
            agora_identity::normalize_email(email)
                .map_err(|e| anyhow::anyhow!("AGORA_BOOTSTRAP_ADMIN_EMAIL: {e}"))?,
        ),
    };
    Ok(agora_workflows::IdentitySettings {
        bootstrap_admin_email,
        ..agora_workflows::IdentitySettings::default()
    })
}

/// The payment provider the configuration names.
pub async fn payment_gateway(
    config: &Config,
    pool: &PgPool,
) -> anyhow::Result<Arc<dyn agora_gateway::PaymentGateway>> {
    type Gateway = Arc<dyn agora_gateway::PaymentGateway>;
    named_provider(
        config,
        pool,
        |g| -> Gateway { Arc::new(g) },
        |g| -> Gateway { Arc::new(g) },
    )
    .await
}

/// The provider `AGORA_PAYMENT_GATEWAY` names, as what the caller uses of it (`test` or
/// `wrap_stripe`d).
async fn named_provider<T: ?Sized>(
    config: &Config,
    pool: &PgPool,
    wrap_test: fn(agora_gateway::TestGateway) -> Arc<T>,
    wrap_stripe: fn(agora_gateway::StripeGateway) -> Arc<T>,
) -> anyhow::Result<Arc<T>> {
    match config.payment_gateway.as_str() {
        "test" => Ok(wrap_test(
            agora_gateway::TestGateway::new(pool.clone()).await?,
        )),
        "stripe" => Ok(wrap_stripe(agora_gateway::StripeGateway::new(
            stripe_config(config, "AGORA_PAYMENT_GATEWAY")?,
        )?)),
        other => anyhow::bail!("unknown payment gateway {other:?}; known: test, stripe"),
    }
}

/// Stripe's API settings, for the provider `setting` (`AGORA_PAYMENT_GATEWAY`) names.
fn stripe_config(config: &Config, setting: &str) -> anyhow::Result<agora_gateway::StripeConfig> {
    let secret_key = config
        .stripe_secret_key
        .clone()
        .filter(|s| !s.is_empty())
        .with_context(|| format!("{setting}=stripe needs AGORA_STRIPE_SECRET_KEY"))?;
    Ok(agora_gateway::StripeConfig {
        secret_key,
        api_base: config.stripe_api_base.clone(),
        timeout: Duration::from_secs(20),
    })
}

/// The statement of the payment provider the configuration names, for reconciliation.
pub async fn provider_statement(
    config: &Config,
    pool: &PgPool,
) -> anyhow::Result<Arc<dyn agora_gateway::ProviderStatement>> {
    type Statement = Arc<dyn agora_gateway::ProviderStatement>;
    named_provider(
        config,
        pool,
        |g| -> Statement { Arc::new(g) },
        |g| -> Statement { Arc::new(g) },
    )
    .await
}

/// The fee rule reconciliation checks: `AGORA_PROVIDER_FEES`, else the test provider's own.
pub fn provider_fees(config: &Config) -> anyhow::Result<Option<agora_gateway::FeeRule>> {
    match (&config.provider_fees, config.payment_gateway.as_str()) {
        (Some(rule), _) => {
            Ok(Some(rule.parse().with_context(|| {
                format!("AGORA_PROVIDER_FEES {rule:?}")
            })?))
        }
        (None, "test") => Ok(Some(agora_gateway::TestGateway::FEES)),
        (None, _) => Ok(None),
    }
}

/// The payout provider the configuration names.
pub async fn payout_gateway(
    config: &Config,
    pool: &PgPool,
) -> anyhow::Result<Arc<dyn agora_gateway::PayoutGateway>> {
    match config.payout_gateway.as_str() {
        "test" => Ok(Arc::new(
            agora_gateway::TestPayouts::new(pool.clone()).await?,
        )),
        "stripe" => Ok(Arc::new(agora_gateway::StripeConnectPayouts::new(
            stripe_config(config, "AGORA_PAYOUT_GATEWAY")?,
        )?)),
        other => anyhow::bail!("unknown payout gateway {other:?}; known: test, stripe"),
    }
}

/// Which roles one process runs.
#[derive(Clone, Debug, Default)]
pub struct Roles {
    pub edge: bool,
    pub services: Vec<String>,
    pub projections: Vec<String>,
    /// Stand by as the feed relay (one relay is active at a time, elected by Postgres).
    pub relay: bool,
}

impl Roles {
    pub fn all() -> Self {
        Roles {
            edge: true,
            services: SERVICES.iter().map(|s| s.to_string()).collect(),
            projections: PROJECTIONS.iter().map(|s| s.to_string()).collect(),
            relay: true,
        }
    }

    /// Domain services, each process also a standby relay.
    pub fn services(names: Vec<String>) -> Self {
        Roles {
            services: names,
            relay: true,
            ..Roles::default()
        }
    }
}

/// A running set of roles.
pub struct Platform {
    /// Where the edge listens, when it runs.
    pub http_addr: Option<SocketAddr>,
    /// Where this process serves `/metrics` on its own (`Config::metrics_addr`).
    pub metrics_addr: Option<SocketAddr>,
    pub pool: PgPool,
    shutdown: CancellationToken,
    tasks: JoinSet<anyhow::Result<()>>,
}

impl Platform {
    /// Stops every role and waits for them.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        while let Some(r) = self.tasks.join_next().await {
            r??;
        }
        Ok(())
    }

    /// Waits until a role fails or `signal` resolves, then stops the rest.
    pub async fn run_until(
        mut self,
        signal: impl std::future::Future<Output = ()>,
    ) -> anyhow::Result<()> {
        tokio::select! {
            _ = signal => {}
            Some(r) = self.tasks.join_next() => {
                self.shutdown.cancel();
                r??;
                anyhow::bail!("a role stopped unexpectedly");
            }
        }
        self.stop().await
    }
}

/// Connects to Postgres, creating the database if it is missing.
pub async fn connect_db(config: &Config) -> anyhow::Result<PgPool> {
    let mut options: PgConnectOptions =
        config.database_url.parse().context("parse database URL")?;
    // TLS to a server on this very machine protects nothing and costs both sides CPU on every
    // round trip; unless the URL asks for an sslmode, loopback connections go without it.
    let loopback = ["localhost", "127.0.0.1", "::1", "[::1]"].contains(&options.get_host());
    if loopback && !config.database_url.contains("sslmode=") {
        options = options.ssl_mode(sqlx::postgres::PgSslMode::Disable);
    }
    let options = options.log_statements(tracing::log::LevelFilter::Trace);
    ensure_database(&options).await?;
    PgPoolOptions::new()
        .max_connections(config.db_pool_size)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await
        .context("connect to Postgres")
}

async fn ensure_database(options: &PgConnectOptions) -> anyhow::Result<()> {
    let Some(name) = options.get_database().map(str::to_string) else {
        return Ok(());
    };
    let admin = options.clone().database("postgres");
    let Ok(mut conn) = admin.connect().await else {
        // No access to the maintenance database: assume the target exists.
        return Ok(());
    };
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&mut conn)
            .await?;
    if !exists {
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        // A concurrent creator may win; that is fine.
        let _ = sqlx::query(&format!("CREATE DATABASE {quoted}"))
            .execute(&mut conn)
            .await;
    }
    Ok(())
}

/// Applies every migration (also done at start-up by every role).
pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    agora_runtime::MIGRATOR
        .run(pool)
        .await
        .context("apply migrations")
}

pub async fn connect_nats(config: &Config, name: &str) -> anyhow::Result<async_nats::Client> {
    async_nats::ConnectOptions::new()
        .name(name)
        .connection_timeout(Duration::from_secs(5))
        .connect(&config.nats_url)
        .await
        .with_context(|| format!("connect to NATS at {}", config.nats_url))
}

/// Starts the given roles in this process.
pub async fn start(
    config: &Config,
    roles: &Roles,
    metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
) -> anyhow::Result<Platform> {
    // Configuration first: a bad tax rule stops the start before anything connects.
    let pricing = pricing(config)?;
    let pool = connect_db(config).await?;
    migrate(&pool).await?;
    let shutdown = CancellationToken::new();
    let mut tasks = JoinSet::new();
    let mut http_addr = None;

    let mut starter = roles::Starter {
        config,
        pool: &pool,
        pricing: &pricing,
        shutdown: &shutdown,
        tasks: &mut tasks,
        accounts: None,
        sessions: None,
    };
    for service in &roles.services {
        roles::start_service(service, &mut starter).await?;
    }
    for projection in &roles.projections {
        roles::run_projection(projection, &mut starter).await?;
    }
    if roles.relay {
        // Every process that writes events also stands by as the feed relay; one is active.
        let client = connect_nats(config, "agora-relay").await?;
        let token = shutdown.clone();
        let pool = pool.clone();
        tasks.spawn(async move {
            agora_runtime::feed::run_relay(pool, client, async move { token.cancelled().await })
                .await
        });
    }
    if roles.edge {
        let client = connect_nats(config, "agora-edge").await?;
        let listener = tokio::net::TcpListener::bind(config.http_addr)
            .await
            .with_context(|| format!("listen on {}", config.http_addr))?;
        http_addr = Some(listener.local_addr()?);
        let read_cache = Arc::new(agora_edge::read_cache::ReadCache::new(
            agora_edge::read_cache::ReadCacheConfig {
                max_bytes: config.read_cache_mb.saturating_mul(1024 * 1024),
                ..Default::default()
            },
        ));
        // Cart pricings share the read cache's budget and time-to-live.
        let pricing_memo = Arc::new(agora_edge::pricing_memo::PricingMemo::new(
            config.read_cache_mb.saturating_mul(1024 * 1024),
            agora_edge::read_cache::ReadCacheConfig::default().ttl,
        ));
        {
            let followers: Vec<Arc<dyn agora_edge::read_cache::Follower>> =
                vec![read_cache.clone(), pricing_memo.clone()];
            let (pool, token) = (pool.clone(), shutdown.clone());
            tasks.spawn(async move {
                agora_edge::read_cache::follow(
                    pool,
                    async move { token.cancelled().await },
                    followers,
                )
                .await
            });
        }
        let state = agora_edge::AppState {
            bus: Arc::new(Bus::new(client)),
            pool: pool.clone(),
            config: Arc::new(agora_edge::EdgeConfig {
                admin_token: config.admin_token.clone().filter(|t| !t.is_empty()),
                token_keys: Arc::new(token_keys(config)?),
                cors_origins: config
                    .edge_security
                    .cors_origins
                    .iter()
                    .map(|o| o.trim().to_string())
                    .filter(|o| !o.is_empty())
                    .collect(),
                oidc: oidc_config(config).await?,
                rate_limit: agora_edge::RateLimitConfig {
                    per_minute: config.edge_security.auth_rate_per_minute,
                    burst: config.edge_security.auth_rate_burst,
                    trust_forwarded_for: config.edge_security.trust_forwarded_for,
                },
                // compose passes unset secrets as empty strings.
                stripe_webhook_secret: config
                    .stripe_webhook_secret
                    .clone()
                    .filter(|s| !s.is_empty()),
                request_timeout: Duration::from_millis(config.request_timeout_ms),
                return_window_days: config.return_window_days,
                payout_minimum_minor: config.payout_minimum_minor,
                carrier_webhook_secret: config
                    .carrier_webhook_secret
                    .clone()
                    .filter(|s| !s.is_empty()),
                easypost_webhook_secret: config
                    .easypost_webhook_secret
                    .clone()
                    .filter(|s| !s.is_empty()),
                audit_signer: match &config.audit_key_file {
                    Some(path) => Some(Arc::new(audit::KeySigner {
                        pool: pool.clone(),
                        key: agora_audit::AuditKey::load_or_create(path)?,
                        publish_dir: config.audit_publish_dir.clone(),
                    })),
                    None => None,
                },
            }),
            metrics: metrics.clone(),
            search: Arc::new(search(config, &pool).await?),
            read_cache,
            pricing_memo,
        };
        // The web pages call the same API router in process, and are served beside it.
        let api = agora_edge::router(state.clone());
        let web = agora_web::router(
            state,
            api.clone(),
            agora_web::WebConfig {
                secure_cookies: config.edge_security.web_secure_cookies,
                pricing: pricing.clone(),
            },
        );
        let app = agora_edge::timed(web.merge(api));
        let token = shutdown.clone();
        tasks.spawn(async move {
            agora_edge::serve_router(listener, app, async move { token.cancelled().await }).await
        });
    }
    let mut metrics_addr = None;
    if let Some(addr) = config.metrics_addr {
        let handle = metrics.ok_or_else(|| {
            anyhow::anyhow!("AGORA_METRICS_ADDR is set but this process records no metrics")
        })?;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("listen for metrics on {addr}"))?;
        metrics_addr = Some(listener.local_addr()?);
        let token = shutdown.clone();
        tasks.spawn(async move {
            agora_edge::serve_metrics(listener, handle, async move { token.cancelled().await })
                .await
        });
    }
    Ok(Platform {
        http_addr,
        metrics_addr,
        pool,
        shutdown,
        tasks,
    })
}

/// The shop's shipping and tax rules: what the checkout charges and the cart page estimates.
/// A tax configuration that does not parse stops the start-up, saying which setting is wrong.
pub fn pricing(config: &Config) -> anyhow::Result<agora_workflows::Pricing> {
    use agora_promotion::{TaxRounding, TaxTable};
    let tax = match config.tax_rules.as_deref() {
        Some(rules) if !rules.trim().is_empty() => TaxTable::parse(rules)
            .map_err(|e| anyhow::anyhow!("AGORA_TAX_RULES is invalid ({e}): {rules:?}"))?,
        _ => TaxTable::flat(config.tax_rate_bp)
            .map_err(|e| anyhow::anyhow!("AGORA_TAX_RATE_BP is invalid: {e}"))?,
    };
    let tax_rounding = TaxRounding::parse(&config.tax_rounding)
        .map_err(|e| anyhow::anyhow!("AGORA_TAX_ROUNDING is invalid: {e}"))?;
    Ok(agora_workflows::Pricing {
        shipping_flat_minor: config.shipping_flat_minor,
        free_shipping_from_minor: (config.free_shipping_from_minor > 0)
            .then_some(config.free_shipping_from_minor),
        tax_rate_bp: config.tax_rate_bp,
        tax,
        tax_rounding,
    })
}
