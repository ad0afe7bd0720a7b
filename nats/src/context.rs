use std::time::{Duration, SystemTime, UNIX_EPOCH};

use agora_kernel::CorrelationId;
use async_nats::HeaderMap;

/// Header names Agora uses on NATS messages.
pub mod headers {
    pub const CORRELATION_ID: &str = "Agora-Correlation-Id";
    pub const CAUSATION_ID: &str = "Agora-Causation-Id";
    /// W3C trace context, passed through unchanged.
    pub const TRACEPARENT: &str = "traceparent";
    /// Absolute deadline in Unix milliseconds; work past it is not started.
    pub const DEADLINE: &str = "Agora-Deadline";
    /// The stable error code of an error reply.
    pub const ERROR_CODE: &str = "Agora-Error-Code";
    pub const SERVICE_ERROR: &str = "Nats-Service-Error";
    pub const SERVICE_ERROR_CODE: &str = "Nats-Service-Error-Code";
    /// JetStream's de-duplication key.
    pub const MSG_ID: &str = "Nats-Msg-Id";
}

/// What travels with every request: ids tying it to the user action, trace context, deadline.
#[derive(Clone, Debug)]
pub struct RequestContext {
    pub correlation_id: CorrelationId,
    /// The id of the message that caused this request (an HTTP request id, a command id, ...).
    pub causation_id: String,
    pub traceparent: Option<String>,
    /// Unix milliseconds.
    pub deadline_ms: u64,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl RequestContext {
    /// A fresh context for work that starts here, with `budget` to finish.
    pub fn new(budget: Duration) -> Self {
        let correlation_id = CorrelationId::new_random();
        RequestContext {
            correlation_id,
            causation_id: correlation_id.to_string(),
            traceparent: None,
            deadline_ms: now_ms() + budget.as_millis() as u64,
        }
    }

    pub fn remaining(&self) -> Duration {
        Duration::from_millis(self.deadline_ms.saturating_sub(now_ms()))
    }

    pub fn expired(&self) -> bool {
        now_ms() >= self.deadline_ms
    }

    pub fn to_headers(&self) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            headers::CORRELATION_ID,
            self.correlation_id.to_string().as_str(),
        );
        h.insert(headers::CAUSATION_ID, self.causation_id.as_str());
        h.insert(headers::DEADLINE, self.deadline_ms.to_string().as_str());
        if let Some(tp) = &self.traceparent {
            h.insert(headers::TRACEPARENT, tp.as_str());
        }
        h
    }

    /// Reads a context from request headers; missing or malformed values get fresh defaults
    /// (a new correlation id, a 10 s deadline) rather than failing the request.
    pub fn from_headers(h: Option<&HeaderMap>) -> Self {
        let get = |name: &str| h.and_then(|h| h.get(name)).map(|v| v.as_str().to_string());
        let mut ctx = RequestContext::new(Duration::from_secs(10));
        if let Some(c) = get(headers::CORRELATION_ID).and_then(|c| c.parse().ok()) {
            ctx.correlation_id = c;
        }
        ctx.causation_id =
            get(headers::CAUSATION_ID).unwrap_or_else(|| ctx.correlation_id.to_string());
        ctx.traceparent = get(headers::TRACEPARENT);
        if let Some(d) = get(headers::DEADLINE).and_then(|d| d.parse().ok()) {
            ctx.deadline_ms = d;
        }
        ctx
    }
}
