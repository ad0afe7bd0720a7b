use agora_kernel::{CustomerId, Decider, Principal};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{Responder, ReviewCommand, ReviewError, ReviewEvent};

/// Longest title, in characters.
pub const MAX_TITLE_CHARS: usize = 120;
/// Longest review text, in characters.
pub const MAX_BODY_CHARS: usize = 5_000;
/// Longest display name of the author, in characters.
pub const MAX_NAME_CHARS: usize = 80;
/// Longest response of the seller, in characters.
pub const MAX_RESPONSE_CHARS: usize = 2_000;
/// Longest rejection reason, in characters.
pub const MAX_REASON_CHARS: usize = 500;
/// Longest product or vendor id, in characters.
pub const MAX_ID_CHARS: usize = 128;

/// Where a review is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewStatus {
    /// Nothing submitted yet.
    #[default]
    New,
    /// Waiting for moderation.
    Pending,
    /// Published.
    Approved,
    Rejected,
    Withdrawn,
}

impl ReviewStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            ReviewStatus::New => "new",
            ReviewStatus::Pending => "pending",
            ReviewStatus::Approved => "approved",
            ReviewStatus::Rejected => "rejected",
            ReviewStatus::Withdrawn => "withdrawn",
        }
    }
}

/// What the review says, as last written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Content {
    author_name: String,
    rating: u8,
    title: String,
    body: String,
    verified_purchase: bool,
}

impl Content {
    /// The content a submission or an edit writes (and its event records).
    fn of(author_name: &str, rating: u8, title: &str, body: &str, verified_purchase: bool) -> Self {
        Content {
            author_name: author_name.to_string(),
            rating,
            title: title.to_string(),
            body: body.to_string(),
            verified_purchase,
        }
    }
}

/// What the first submission fixed for good.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Subject {
    product_id: String,
    vendor_id: Option<String>,
    author: CustomerId,
    submitted_at: DateTime<Utc>,
}

/// The seller's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    pub text: String,
    pub by: Responder,
    pub at: DateTime<Utc>,
}

/// One review, folded from its events.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Review {
    status: ReviewStatus,
    subject: Option<Subject>,
    content: Option<Content>,
    rejection_reason: Option<String>,
    response: Option<Response>,
    updated_at: Option<DateTime<Utc>>,
}

/// A review as its readers see it. A vendor's user never sees `author_id`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewView {
    pub id: String,
    pub version: u64,
    pub status: ReviewStatus,
    pub product_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor_id: Option<String>,
    /// The author's customer id: for the author, staff and auditors only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author_id: Option<CustomerId>,
    pub author_name: String,
    pub rating: u8,
    pub title: String,
    pub body: String,
    pub verified_purchase: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejection_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<Response>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
}

fn text_ok(text: &str, max: usize, lines: bool) -> bool {
    text.chars().count() <= max
        && !text
            .chars()
            .any(|c| c.is_control() && !(lines && (c == '\n' || c == '\r' || c == '\t')))
}

fn present(text: &str, max: usize, lines: bool) -> bool {
    !text.trim().is_empty() && text_ok(text, max, lines)
}

/// Who may moderate: staff and admins.
fn moderator(by: &Principal) -> bool {
    matches!(by, Principal::Staff { role, .. } if role == "admin" || role == "staff")
}

/// Who reads every review: the platform, staff, admins, auditors.
fn back_office_reader(by: &Principal) -> bool {
    match by {
        Principal::System { .. } => true,
        Principal::Staff { role, .. } => matches!(role.as_str(), "admin" | "staff" | "auditor"),
        _ => false,
    }
}

impl Review {
    pub fn status(&self) -> ReviewStatus {
        self.status
    }

    pub fn product_id(&self) -> Option<&str> {
        self.subject.as_ref().map(|s| s.product_id.as_str())
    }

    pub fn vendor_id(&self) -> Option<&str> {
        self.subject.as_ref().and_then(|s| s.vendor_id.as_deref())
    }

    pub fn author(&self) -> Option<CustomerId> {
        self.subject.as_ref().map(|s| s.author)
    }

    fn is_author(&self, by: &Principal) -> bool {
        matches!((by, &self.subject), (Principal::Customer { id }, Some(s)) if *id == s.author)
    }

    fn is_seller(&self, by: &Principal) -> bool {
        match (by.vendor(), self.vendor_id()) {
            (Some(theirs), Some(ours)) => theirs == ours,
            _ => false,
        }
    }

    fn submit(
        &self,
        command: &ReviewCommand,
        by: &Principal,
    ) -> Result<Vec<ReviewEvent>, ReviewError> {
        let ReviewCommand::Submit {
            product_id,
            vendor_id,
            author,
            author_name,
            rating,
            title,
            body,
            verified_purchase,
            now,
        } = command
        else {
            return Err(ReviewError::InvalidTransition);
        };
        let author = match (by, author) {
            (Principal::Customer { id }, None) => *id,
            (Principal::System { .. }, Some(named)) => *named,
            _ => return Err(ReviewError::Forbidden),
        };
        if let Some(subject) = &self.subject {
            // One author per stream, on one product.
            if subject.author != author {
                return Err(ReviewError::Forbidden);
            }
            if subject.product_id != *product_id {
                return Err(ReviewError::InvalidProduct);
            }
        }
        if !present(product_id, MAX_ID_CHARS, false)
            || vendor_id
                .as_deref()
                .is_some_and(|v| !present(v, MAX_ID_CHARS, false))
        {
            return Err(ReviewError::InvalidProduct);
        }
        if !(1..=5).contains(rating) {
            return Err(ReviewError::InvalidRating);
        }
        if !present(title, MAX_TITLE_CHARS, false) {
            return Err(ReviewError::InvalidTitle);
        }
        if !text_ok(body, MAX_BODY_CHARS, true) {
            return Err(ReviewError::InvalidBody);
        }
        if !present(author_name, MAX_NAME_CHARS, false) {
            return Err(ReviewError::InvalidName);
        }
        let content = Content::of(author_name, *rating, title, body, *verified_purchase);
        if self.subject.is_none() {
            return Ok(vec![ReviewEvent::ReviewSubmitted {
                product_id: product_id.clone(),
                vendor_id: vendor_id.clone(),
                author,
                author_name: content.author_name,
                rating: content.rating,
                title: content.title,
                body: content.body,
                verified_purchase: content.verified_purchase,
                at: *now,
            }]);
        }
        // The same words again change nothing, unless the review was withdrawn: then they
        // bring it back.
        if self.content.as_ref() == Some(&content) && self.status != ReviewStatus::Withdrawn {
            return Ok(vec![]);
        }
        Ok(vec![ReviewEvent::ReviewEdited {
            author_name: content.author_name,
            rating: content.rating,
            title: content.title,
            body: content.body,
            verified_purchase: content.verified_purchase,
            at: *now,
        }])
    }
}

impl Decider for Review {
    const TYPE: &'static str = "review";
    type Command = ReviewCommand;
    type Event = ReviewEvent;
    type Error = ReviewError;
    type View = ReviewView;

    fn decide(
        &self,
        _id: &str,
        command: &ReviewCommand,
        by: &Principal,
    ) -> Result<Vec<ReviewEvent>, ReviewError> {
        use ReviewStatus as S;
        if let ReviewCommand::Submit { .. } = command {
            return self.submit(command, by);
        }
        if self.subject.is_none() {
            return Err(ReviewError::NotFound);
        }
        // Whoever may not read it learns nothing, not even that it exists.
        self.authorize_read(by)?;
        match command {
            ReviewCommand::Submit { .. } => self.submit(command, by),
            ReviewCommand::Withdraw { now } => {
                if !self.is_author(by) && !matches!(by, Principal::System { .. }) {
                    return Err(ReviewError::Forbidden);
                }
                Ok(match self.status {
                    S::Withdrawn => vec![],
                    _ => vec![ReviewEvent::ReviewWithdrawn { at: *now }],
                })
            }
            ReviewCommand::Approve { now } => {
                if !moderator(by) && !matches!(by, Principal::System { .. }) {
                    return Err(ReviewError::Forbidden);
                }
                match self.status {
                    S::Approved => Ok(vec![]),
                    S::Pending => Ok(vec![ReviewEvent::ReviewApproved { at: *now }]),
                    S::New | S::Rejected | S::Withdrawn => Err(ReviewError::InvalidTransition),
                }
            }
            ReviewCommand::Reject { reason, now } => {
                if !moderator(by) && !matches!(by, Principal::System { .. }) {
                    return Err(ReviewError::Forbidden);
                }
                if !present(reason, MAX_REASON_CHARS, false) {
                    return Err(ReviewError::InvalidReason);
                }
                match self.status {
                    S::Rejected => Ok(vec![]),
                    S::Pending | S::Approved => Ok(vec![ReviewEvent::ReviewRejected {
                        reason: reason.clone(),
                        at: *now,
                    }]),
                    S::New | S::Withdrawn => Err(ReviewError::InvalidTransition),
                }
            }
            ReviewCommand::Respond { text, now } => {
                let by_whom = if self.is_seller(by) {
                    Responder::Vendor
                } else if moderator(by) {
                    Responder::Shop
                } else {
                    return Err(ReviewError::Forbidden);
                };
                if !present(text, MAX_RESPONSE_CHARS, true) {
                    return Err(ReviewError::InvalidResponse);
                }
                if self.status != S::Approved {
                    return Err(ReviewError::InvalidTransition);
                }
                if self
                    .response
                    .as_ref()
                    .is_some_and(|r| r.text == *text && r.by == by_whom)
                {
                    return Ok(vec![]);
                }
                Ok(vec![ReviewEvent::ReviewResponded {
                    text: text.clone(),
                    by: by_whom,
                    at: *now,
                }])
            }
        }
    }

    fn evolve(&mut self, event: &ReviewEvent) {
        match event {
            ReviewEvent::ReviewSubmitted {
                product_id,
                vendor_id,
                author,
                author_name,
                rating,
                title,
                body,
                verified_purchase,
                at,
            } => {
                self.subject = Some(Subject {
                    product_id: product_id.clone(),
                    vendor_id: vendor_id.clone(),
                    author: *author,
                    submitted_at: *at,
                });
                self.content = Some(Content::of(
                    author_name,
                    *rating,
                    title,
                    body,
                    *verified_purchase,
                ));
                self.status = ReviewStatus::Pending;
                self.updated_at = Some(*at);
            }
            ReviewEvent::ReviewEdited {
                author_name,
                rating,
                title,
                body,
                verified_purchase,
                at,
            } => {
                self.content = Some(Content::of(
                    author_name,
                    *rating,
                    title,
                    body,
                    *verified_purchase,
                ));
                self.status = ReviewStatus::Pending;
                self.rejection_reason = None;
                self.updated_at = Some(*at);
            }
            ReviewEvent::ReviewApproved { at } => {
                self.status = ReviewStatus::Approved;
                self.updated_at = Some(*at);
            }
            ReviewEvent::ReviewRejected { reason, at } => {
                self.status = ReviewStatus::Rejected;
                self.rejection_reason = Some(reason.clone());
                self.updated_at = Some(*at);
            }
            ReviewEvent::ReviewWithdrawn { at } => {
                self.status = ReviewStatus::Withdrawn;
                self.updated_at = Some(*at);
            }
            ReviewEvent::ReviewResponded { text, by, at } => {
                self.response = Some(Response {
                    text: text.clone(),
                    by: *by,
                    at: *at,
                });
                self.updated_at = Some(*at);
            }
        }
    }

    /// The author, the back office and the product's vendor's users read a review; to anyone
    /// else it does not exist.
    fn authorize_read(&self, by: &Principal) -> Result<(), ReviewError> {
        if self.subject.is_some()
            && (back_office_reader(by) || self.is_author(by) || self.is_seller(by))
        {
            Ok(())
        } else {
            Err(ReviewError::NotFound)
        }
    }

    fn view(&self, id: &str, version: u64) -> ReviewView {
        let content = self.content.clone();
        ReviewView {
            id: id.to_string(),
            version,
            status: self.status,
            product_id: self.product_id().unwrap_or_default().to_string(),
            vendor_id: self.vendor_id().map(str::to_string),
            author_id: self.author(),
            author_name: content
                .as_ref()
                .map(|c| c.author_name.clone())
                .unwrap_or_default(),
            rating: content.as_ref().map_or(0, |c| c.rating),
            title: content
                .as_ref()
                .map(|c| c.title.clone())
                .unwrap_or_default(),
            body: content.as_ref().map(|c| c.body.clone()).unwrap_or_default(),
            verified_purchase: content.as_ref().is_some_and(|c| c.verified_purchase),
            rejection_reason: self.rejection_reason.clone(),
            response: self.response.clone(),
            submitted_at: self.subject.as_ref().map(|s| s.submitted_at),
            updated_at: self.updated_at,
        }
    }

    /// A vendor's user sees the review without its author's customer id or the moderators'
    /// reason.
    fn view_for(&self, id: &str, version: u64, by: &Principal) -> ReviewView {
        let view = self.view(id, version);
        if by.vendor().is_some() {
            ReviewView {
                author_id: None,
                rejection_reason: None,
                ..view
            }
        } else {
            view
        }
    }

    fn command_view_for(&self, id: &str, version: u64, by: &Principal) -> ReviewView {
        self.view_for(id, version, by)
    }

    fn event_type(event: &ReviewEvent) -> &'static str {
        event.event_type()
    }
}

// cqrs-es compatibility: the aggregate also runs inside `cqrs_es::CqrsFramework` and its
// `TestFramework`, delegating to the pure `decide`/`evolve` above.
agora_kernel::cqrs_aggregate!(Review, ReviewEvent);

pub use agora_kernel::CqrsEnvelope;

#[cfg(test)]
mod tests;
