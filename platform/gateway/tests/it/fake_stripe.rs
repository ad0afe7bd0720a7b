//! A fake Stripe for the Stripe adapters' tests: a local server (port 0) that records every
//! request and answers from a script.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use agora_gateway::stripe::STRIPE_API_VERSION;
use agora_gateway::{StripeConfig, StripeConnectPayouts, StripeGateway};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Form, Json, Router};
use serde_json::{json, Value};

pub(crate) const SECRET: &str = "sk_test_51Hsecretsecret";

/// One request as the fake Stripe saw it.
#[derive(Clone, Debug)]
pub(crate) struct Recorded {
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) headers: HeaderMap,
    pub(crate) form: Vec<(String, String)>,
}

impl Recorded {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub(crate) fn field(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What the fake answers.
pub(crate) enum Reply {
    Json(StatusCode, Value),
    /// Never answers: the client's timeout must fire.
    Hang,
}

type Script = Arc<dyn Fn(&Recorded) -> Reply + Send + Sync>;

#[derive(Clone)]
struct FakeState {
    script: Script,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

/// A fake Stripe on a random port; the server stops when this is dropped.
pub(crate) struct FakeStripe {
    base: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeStripe {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeStripe {
    pub(crate) async fn start(
        script: impl Fn(&Recorded) -> Reply + Send + Sync + 'static,
    ) -> FakeStripe {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let state = FakeState {
            script: Arc::new(script),
            requests: requests.clone(),
        };
        let app = Router::new().fallback(handle).with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind port 0");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeStripe {
            base,
            requests,
            server,
        }
    }

    /// The configuration that points an adapter at this fake.
    pub(crate) fn config(&self, timeout: Duration) -> StripeConfig {
        StripeConfig {
            secret_key: SECRET.to_string(),
            api_base: self.base.clone(),
            timeout,
        }
    }

    pub(crate) fn gateway(&self) -> StripeGateway {
        self.gateway_with_timeout(Duration::from_secs(10))
    }

    pub(crate) fn gateway_with_timeout(&self, timeout: Duration) -> StripeGateway {
        StripeGateway::new(self.config(timeout)).expect("client")
    }

    pub(crate) fn payouts(&self) -> StripeConnectPayouts {
        self.payouts_with_timeout(Duration::from_secs(10))
    }

    pub(crate) fn payouts_with_timeout(&self, timeout: Duration) -> StripeConnectPayouts {
        StripeConnectPayouts::new(self.config(timeout)).expect("client")
    }

    pub(crate) fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().expect("lock").clone()
    }

    pub(crate) fn only_request(&self) -> Recorded {
        let requests = self.requests();
        assert_eq!(requests.len(), 1, "{requests:#?}");
        requests.into_iter().next().expect("one request")
    }
}

async fn handle(
    State(state): State<FakeState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let recorded = Recorded {
        method,
        path: uri.path().to_string(),
        headers,
        form,
    };
    let reply = (state.script)(&recorded);
    state.requests.lock().expect("lock").push(recorded);
    match reply {
        Reply::Json(status, body) => (status, Json(body)).into_response(),
        Reply::Hang => futures::future::pending().await,
    }
}

pub(crate) fn ok(body: Value) -> Reply {
    Reply::Json(StatusCode::OK, body)
}

pub(crate) fn stripe_error(status: StatusCode, error: Value) -> Reply {
    Reply::Json(status, json!({ "error": error }))
}

/// The headers every call to Stripe must carry.
pub(crate) fn assert_signed(r: &Recorded) {
    assert_eq!(
        r.header("authorization"),
        Some(&*format!("Bearer {SECRET}"))
    );
    assert_eq!(r.header("stripe-version"), Some(STRIPE_API_VERSION));
}

pub(crate) fn assert_posted(r: &Recorded, path: &str, key: &str) {
    assert_eq!(r.method, Method::POST);
    assert_eq!(r.path, path);
    assert_signed(r);
    assert_eq!(r.header("idempotency-key"), Some(key));
    assert_eq!(
        r.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
}
