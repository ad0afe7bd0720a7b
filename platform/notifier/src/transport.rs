//! The two ways out: SMTP (lettre) and a Twilio-shaped SMS API (reqwest).

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use uuid::Uuid;

/// Why a delivery failed.
#[derive(Debug)]
pub struct SendError {
    /// The provider refused for good (an SMTP 5xx, an HTTP 4xx): retrying cannot help, so the
    /// notification fails at once.
    pub permanent: bool,
    pub message: String,
}

impl SendError {
    fn transient(message: impl Into<String>) -> SendError {
        SendError {
            permanent: false,
            message: message.into(),
        }
    }
    fn permanent(message: impl Into<String>) -> SendError {
        SendError {
            permanent: true,
            message: message.into(),
        }
    }
}

/// SMTP settings.
#[derive(Clone, Debug)]
pub struct SmtpConfig {
    /// `smtp://host:port` (plain, or `?tls=required` for STARTTLS) or `smtps://host:port`
    /// (implicit TLS), as lettre reads it.
    pub url: String,
    pub username: Option<String>,
    pub password: Option<String>,
    /// The `From:` mailbox (`Shop <shop@example.com>`).
    pub from: String,
    /// Longest wait for the SMTP server per command; shorter than the sending lease.
    pub timeout: Duration,
}

/// Sends email over SMTP.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// The right-hand side of every Message-ID: the sender's domain.
    domain: String,
}

impl Mailer {
    pub fn new(config: &SmtpConfig) -> anyhow::Result<Mailer> {
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|e| anyhow::anyhow!("AGORA_MAIL_FROM {:?}: {e}", config.from))?;
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(&config.url)
            .map_err(|e| anyhow::anyhow!("AGORA_SMTP_URL: {e}"))?
            .timeout(Some(config.timeout));
        if let (Some(user), Some(password)) = (&config.username, &config.password) {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        Ok(Mailer {
            transport: builder.build(),
            domain: from.email.domain().to_string(),
            from,
        })
    }

    /// The Message-ID of notification `id`: the same for every attempt, so a receiver (or an
    /// MTA that de-duplicates) can recognise a repeat.
    pub fn message_id(&self, id: Uuid) -> String {
        format!("<{id}@{}>", self.domain)
    }

    /// Sends one message; `Ok` means the server accepted it (250 after DATA).
    pub async fn send(
        &self,
        id: Uuid,
        to: &str,
        subject: &str,
        text: &str,
        html: &str,
    ) -> Result<(), SendError> {
        let to: Mailbox = to
            .parse()
            .map_err(|e| SendError::permanent(format!("recipient {to:?}: {e}")))?;
        let message = Message::builder()
            .message_id(Some(self.message_id(id)))
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .multipart(MultiPart::alternative_plain_html(
                text.to_string(),
                html.to_string(),
            ))
            .map_err(|e| SendError::permanent(format!("build message: {e}")))?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(SendError::permanent(format!("smtp: {e}"))),
            Err(e) => Err(SendError::transient(format!("smtp: {e}"))),
        }
    }
}

/// A Twilio-shaped SMS API.
#[derive(Clone, Debug)]
pub struct SmsConfig {
    pub account_sid: String,
    pub auth_token: String,
    /// The sending number or messaging service (`+15005550006`).
    pub from: String,
    /// `https://api.twilio.com`, or a local stand-in in tests.
    pub api_base: String,
    pub timeout: Duration,
}

#[derive(Clone)]
pub struct Sms {
    http: reqwest::Client,
    config: SmsConfig,
}

impl Sms {
    pub fn new(config: SmsConfig) -> anyhow::Result<Sms> {
        let http = reqwest::Client::builder().timeout(config.timeout).build()?;
        Ok(Sms { http, config })
    }

    /// `POST /2010-04-01/Accounts/{sid}/Messages.json`, form-encoded, basic auth.
    pub async fn send(&self, to: &str, body: &str) -> Result<(), SendError> {
        let url = format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            self.config.api_base.trim_end_matches('/'),
            agora_notifications::render::encode_component(&self.config.account_sid)
        );
        let response = self
            .http
            .post(url)
            .basic_auth(&self.config.account_sid, Some(&self.config.auth_token))
            .form(&[
                ("To", to),
                ("From", self.config.from.as_str()),
                ("Body", body),
            ])
            .send()
            .await
            .map_err(|e| SendError::transient(format!("sms: {e}")))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let text: String = response
            .text()
            .await
            .unwrap_or_default()
            .chars()
            .take(300)
            .collect();
        let message = format!("sms: HTTP {status}: {text}");
        if status.is_client_error() && status.as_u16() != 429 && status.as_u16() != 408 {
            Err(SendError::permanent(message))
        } else {
            Err(SendError::transient(message))
        }
    }
}
