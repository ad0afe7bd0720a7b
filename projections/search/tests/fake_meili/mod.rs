//! A scripted stand-in for a Meilisearch server, speaking just enough HTTP/1.1 (keep-alive,
//! chunked or sized request bodies) for our client. It checks our side of the wire: which requests the
//! backend sends, with which bodies, and how it reads the answers (task outcomes, multi-search
//! results). It does no searching: the answers are scripted after the Meilisearch v1 API
//! reference, so it cannot prove that a real server agrees with them.

use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// One request as the fake received it.
#[derive(Clone, Debug)]
pub struct Req {
    pub method: String,
    /// Path plus query string, e.g. `/indexes/products/documents?primaryKey=id`.
    pub path: String,
    pub body: Value,
    /// Whether the body came in chunks (no length given).
    pub chunked: bool,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
}

/// What the fake answers.
#[derive(Default)]
pub struct Script {
    /// The task made by a request whose method matches and whose path starts with the prefix
    /// fails with this Meilisearch error code.
    pub failing: Vec<(&'static str, &'static str, &'static str)>,
    /// Every task stays `processing` forever.
    pub stuck: bool,
    /// Direct (non-task) answers: method, path prefix, JSON body (status 200).
    pub replies: Vec<(&'static str, &'static str, Value)>,
}

struct State {
    script: Script,
    log: Vec<Req>,
    /// (task type, index uid, failure code) by task uid - 1.
    tasks: Vec<(String, Option<String>, Option<&'static str>)>,
}

pub struct FakeMeili {
    pub url: String,
    state: Arc<Mutex<State>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeMeili {
    fn drop(&mut self) {
        self.server.abort();
    }
}

const AT: &str = "2026-01-01T00:00:00Z";

impl FakeMeili {
    pub async fn start(script: Script) -> FakeMeili {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
        let url = format!("http://{}", listener.local_addr().expect("local addr"));
        let state = Arc::new(Mutex::new(State {
            script,
            log: Vec::new(),
            tasks: Vec::new(),
        }));
        let shared = state.clone();
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = shared.clone();
                tokio::spawn(async move {
                    let _ = serve(stream, state).await;
                });
            }
        });
        FakeMeili { url, state, server }
    }

    /// Requests received so far, without task polling.
    pub fn requests(&self) -> Vec<Req> {
        let state = self.state.lock().expect("fake state");
        state
            .log
            .iter()
            .filter(|r| !r.path.starts_with("/tasks/"))
            .cloned()
            .collect()
    }

    /// `METHOD path` of each request, without task polling.
    pub fn calls(&self) -> Vec<String> {
        self.requests()
            .iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect()
    }
}

async fn serve(stream: TcpStream, state: Arc<Mutex<State>>) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    loop {
        let mut line = String::new();
        if read.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_string();
        let path = parts.next().unwrap_or_default().to_string();
        let mut length = 0;
        let mut chunked = false;
        let mut authorization = None;
        loop {
            let mut header = String::new();
            read.read_line(&mut header).await?;
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            let (name, value) = header.split_once(':').unwrap_or((header, ""));
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse().unwrap_or(0),
                "transfer-encoding" => chunked = value.trim().eq_ignore_ascii_case("chunked"),
                "authorization" => authorization = Some(value.trim().to_string()),
                _ => {}
            }
        }
        let mut body = Vec::new();
        if chunked {
            loop {
                let mut size = String::new();
                read.read_line(&mut size).await?;
                let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
                let mut chunk = vec![0; size + 2];
                read.read_exact(&mut chunk).await?;
                if size == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..size]);
            }
        } else {
            body.resize(length, 0);
            read.read_exact(&mut body).await?;
        }
        let req = Req {
            method,
            path,
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
            chunked,
            authorization,
        };
        let (status, reply) = answer(&state, req);
        let reply = reply.to_string();
        let head = format!(
            "HTTP/1.1 {status} OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            reply.len()
        );
        write.write_all(head.as_bytes()).await?;
        write.write_all(reply.as_bytes()).await?;
    }
}

fn answer(state: &Mutex<State>, req: Req) -> (u16, Value) {
    let mut state = state.lock().expect("fake state");
    state.log.push(req.clone());
    if let Some(uid) = req.path.strip_prefix("/tasks/") {
        let uid: usize = uid.parse().unwrap_or(0);
        let Some((kind, index, failure)) = state.tasks.get(uid.wrapping_sub(1)).cloned() else {
            return (
                404,
                json!({"message": "task not found", "code": "task_not_found", "type": "invalid_request", "link": ""}),
            );
        };
        let mut task = json!({
            "uid": uid, "indexUid": index, "type": kind, "details": null, "canceledBy": null,
            "error": null, "duration": "PT0.001S",
            "enqueuedAt": AT, "startedAt": AT, "finishedAt": AT,
        });
        if state.script.stuck {
            task["status"] = json!("processing");
        } else if let Some(code) = failure {
            task["status"] = json!("failed");
            task["error"] = json!({"message": format!("scripted {code}"), "code": code, "type": "invalid_request", "link": ""});
        } else {
            task["status"] = json!("succeeded");
        }
        return (200, task);
    }
    let direct = state
        .script
        .replies
        .iter()
        .find(|(m, p, _)| *m == req.method && req.path.starts_with(p))
        .map(|(_, _, v)| v.clone());
    if let Some(reply) = direct {
        return (200, reply);
    }
    // Everything else is a write: enqueue a task.
    let segments: Vec<&str> = req
        .path
        .split(['/', '?'])
        .filter(|s| !s.is_empty())
        .collect();
    let index = segments.get(1).map(|s| s.to_string());
    let kind = match (req.method.as_str(), segments.as_slice()) {
        ("POST", ["indexes"]) => "indexCreation",
        ("DELETE", ["indexes", _]) => "indexDeletion",
        (_, ["indexes", _, "settings", ..]) => "settingsUpdate",
        ("POST", ["indexes", _, "documents", "delete-batch", ..]) => "documentDeletion",
        (_, ["indexes", _, "documents", ..]) => "documentAdditionOrUpdate",
        ("POST", ["swap-indexes"]) => "indexSwap",
        _ => {
            return (
                404,
                json!({"message": "no route", "code": "not_found", "type": "invalid_request", "link": ""}),
            )
        }
    };
    let index = if kind == "indexCreation" {
        req.body["uid"].as_str().map(str::to_string)
    } else {
        index
    };
    let failure = state
        .script
        .failing
        .iter()
        .find(|(m, p, _)| *m == req.method && req.path.starts_with(p))
        .map(|(_, _, code)| *code);
    state.tasks.push((kind.to_string(), index.clone(), failure));
    let uid = state.tasks.len();
    (
        202,
        json!({"taskUid": uid, "indexUid": index, "status": "enqueued", "type": kind, "enqueuedAt": AT}),
    )
}
