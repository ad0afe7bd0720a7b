use agora_kernel::{DomainError, ErrorKind};

/// Why notification input was refused. Codes are stable API: never rename one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NotificationError {
    #[error(
        "an email address is 3 to 254 characters, one '@', a domain with a dot, and no spaces"
    )]
    InvalidEmail,
    #[error("a phone number is in E.164 form: '+' then 8 to 15 digits, the first not 0")]
    InvalidPhone,
    #[error("text messages need a phone number")]
    SmsNeedsPhone,
    #[error("text messages need an explicit opt-in (sms_opt_in: true)")]
    SmsNeedsOptIn,
}

impl DomainError for NotificationError {
    fn code(&self) -> &'static str {
        match self {
            NotificationError::InvalidEmail => "notifications.invalid_email",
            NotificationError::InvalidPhone => "notifications.invalid_phone",
            NotificationError::SmsNeedsPhone => "notifications.sms_needs_phone",
            NotificationError::SmsNeedsOptIn => "notifications.sms_needs_opt_in",
        }
    }

    fn kind(&self) -> ErrorKind {
        ErrorKind::Invalid
    }
}
