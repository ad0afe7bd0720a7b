//! The auditor's console: the event log searched and paged, one stream's history with its
//! hash chain checked against the latest signed checkpoint, an aggregate's state at any point
//! and what changed between two points, one event with its metadata, everything one request
//! caused as a tree, and the signed checkpoints. Every page reads the `/audit` API as the
//! signed-in person, so only admins and auditors see it.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use maud::{html, Markup};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{act, flash, gate, get_json, office_page, Flash, Page};
use crate::api::enc;
use crate::session::Ctx;
use crate::Web;

fn text<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field].as_str().unwrap_or_default()
}

fn stream_href(aggregate_type: &str, aggregate_id: &str) -> String {
    format!(
        "/backoffice/audit/streams/{}/{}",
        enc(aggregate_type),
        enc(aggregate_id)
    )
}

fn actor(v: &Value) -> String {
    let kind = text(v, "kind");
    match v["id"].as_str() {
        Some(id) => format!("{kind} {id}"),
        None => kind.to_string(),
    }
}

/// A short form of an RFC 3339 instant: `2026-12-07 08:12:03.123`.
fn when(v: &Value) -> String {
    v.as_str()
        .map(|s| {
            s.replace('T', " ")
                .trim_end_matches('Z')
                .chars()
                .take(23)
                .collect()
        })
        .unwrap_or_default()
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

/// What a stream's verification found, for a person.
fn problem(p: &Value) -> String {
    let n = |f: &str| p[f].as_u64().unwrap_or(0);
    match text(p, "kind") {
        "chain_broken" => format!(
            "The hash chain breaks at event #{}: an event was changed, removed or reordered without its hashes.",
            n("at")
        ),
        "rewritten_since_checkpoint" => format!(
            "History rewritten since the signed checkpoint: event #{} now hashes to {}, the checkpoint anchored {}.",
            n("sequence"),
            text(p, "found"),
            text(p, "anchored")
        ),
        "truncated_since_checkpoint" => format!(
            "Events deleted since the signed checkpoint: it anchored {} events, {} are left.",
            n("anchored_sequence"),
            n("found_sequence")
        ),
        "missing_since_checkpoint" => {
            "The whole stream was deleted since the signed checkpoint.".to_string()
        }
        other => other.replace('_', " "),
    }
}

fn sub_nav() -> Markup {
    html! {
        p.muted {
            a href="/backoffice/audit" { "Event log" } " · "
            a href="/backoffice/audit/checkpoints" { "Signed checkpoints" }
        }
    }
}

/// The filters of the log search, as the URL holds them.
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct LogQuery {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    aggregate_type: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    aggregate_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    event_type: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    actor: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    correlation_id: String,
    /// `YYYY-MM-DDTHH:MM` from a datetime-local input, read as UTC.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    from: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    to: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    before: Option<i64>,
}

/// A datetime-local value (`2026-12-07T08:00`) as RFC 3339 UTC.
fn instant(local: &str) -> String {
    let t = local.trim();
    match t.len() {
        16 => format!("{t}:00Z"),
        19 => format!("{t}Z"),
        _ => t.to_string(),
    }
}

/// `GET /backoffice/audit`: the event log, newest first, searched by stream, event type,
/// actor, correlation id and time.
pub async fn log(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Query(q): Query<LogQuery>,
) -> Page {
    gate(&ctx)?;
    let mut api: Vec<(&str, String)> = vec![("limit", "50".into())];
    for (name, value) in [
        ("aggregate_type", &q.aggregate_type),
        ("aggregate_id", &q.aggregate_id),
        ("event_type", &q.event_type),
        ("actor", &q.actor),
        ("correlation_id", &q.correlation_id),
    ] {
        if !value.trim().is_empty() {
            api.push((name, value.trim().to_string()));
        }
    }
    for (name, value) in [("from", &q.from), ("to", &q.to)] {
        if !value.trim().is_empty() {
            api.push((name, instant(value)));
        }
    }
    if let Some(b) = q.before {
        api.push(("before", b.to_string()));
    }
    let page = get_json(
        &web,
        &ctx,
        &format!(
            "/audit/events?{}",
            serde_urlencoded::to_string(&api).unwrap_or_default()
        ),
    )
    .await?;
    let items = page["items"].as_array().cloned().unwrap_or_default();
    let older = page["next_before"].as_i64().map(|b| {
        let next = LogQuery {
            before: Some(b),
            ..LogQuery {
                aggregate_type: q.aggregate_type.clone(),
                aggregate_id: q.aggregate_id.clone(),
                event_type: q.event_type.clone(),
                actor: q.actor.clone(),
                correlation_id: q.correlation_id.clone(),
                from: q.from.clone(),
                to: q.to.clone(),
                before: None,
            }
        };
        format!(
            "/backoffice/audit?{}",
            serde_urlencoded::to_string(&next).unwrap_or_default()
        )
    });
    let one_stream = !q.aggregate_type.trim().is_empty() && !q.aggregate_id.trim().is_empty();
    Ok(office_page(
        &ctx,
        "Audit",
        html! {
            h1 { "Audit log" }
            (sub_nav())
            form.filters method="get" action="/backoffice/audit" {
                div { label for="at" { "Stream type" } input #at type="text" name="aggregate_type" value=(q.aggregate_type) placeholder="order"; }
                div { label for="ai" { "Stream id" } input #ai type="text" name="aggregate_id" value=(q.aggregate_id); }
                div { label for="et" { "Event type" } input #et type="text" name="event_type" value=(q.event_type) placeholder="OrderPlaced"; }
                div { label for="actor" { "Actor" } input #actor type="text" name="actor" value=(q.actor) placeholder="account id, staff id, guest"; }
                div { label for="corr" { "Correlation id" } input #corr type="text" name="correlation_id" value=(q.correlation_id); }
                div { label for="from" { "From (UTC)" } input #from type="datetime-local" name="from" value=(q.from); }
                div { label for="to" { "To (UTC)" } input #to type="datetime-local" name="to" value=(q.to); }
                div { button type="submit" { "Search" } }
            }
            @if one_stream {
                p { a #stream-link href=(stream_href(q.aggregate_type.trim(), q.aggregate_id.trim())) { "Open this stream's history, its verification and time travel" } }
            }
            @if items.is_empty() {
                p #no-events { "No event matches." }
            } @else {
                div.table-wrap { table.stack #events {
                    thead { tr {
                        th scope="col" { "Position" } th scope="col" { "Recorded (UTC)" } th scope="col" { "Stream" }
                        th scope="col" { "#" } th scope="col" { "Event" } th scope="col" { "Actor" }
                    } }
                    tbody { @for e in &items {
                        tr {
                            td data-label="Position" { a href=(format!("/backoffice/audit/events/{}", e["position"])) { (e["position"]) } }
                            td data-label="Recorded" { (when(&e["metadata"]["recorded_at"])) }
                            td data-label="Stream" { a href=(stream_href(text(e, "aggregate_type"), text(e, "aggregate_id"))) { (text(e, "aggregate_type")) "/" (text(e, "aggregate_id")) } }
                            td data-label="#" { (e["sequence"]) }
                            td data-label="Event" { (text(e, "event_type")) }
                            td data-label="Actor" { (actor(&e["metadata"]["actor"])) }
                        }
                    } }
                } }
            }
            @if let Some(href) = older { p { a #older href=(href) { "Older events →" } } }
        },
    ))
}

#[derive(Debug, Default, Deserialize)]
pub struct StreamQuery {
    after: Option<u64>,
    /// Time travel: the state after this sequence...
    sequence: Option<u64>,
    /// ... or at this instant (datetime-local, UTC).
    #[serde(default)]
    at: String,
    /// A diff between two sequences.
    from_sequence: Option<u64>,
    to_sequence: Option<u64>,
}

/// `GET /backoffice/audit/streams/{type}/{id}`: one stream's events (paged), its verification
/// against the latest checkpoint, and time travel.
pub async fn stream(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Path((aggregate_type, aggregate_id)): Path<(String, String)>,
    Query(q): Query<StreamQuery>,
) -> Page {
    gate(&ctx)?;
    let base = format!(
        "/audit/streams/{}/{}",
        enc(&aggregate_type),
        enc(&aggregate_id)
    );
    let mut uri = format!("{base}?verify=true&limit=50");
    if let Some(after) = q.after {
        uri.push_str(&format!("&after={after}"));
    }
    let s = get_json(&web, &ctx, &uri).await?;
    let state = match (q.sequence, q.at.trim()) {
        (Some(n), _) => Some(get_json(&web, &ctx, &format!("{base}/state?sequence={n}")).await?),
        (None, at) if !at.is_empty() => Some(
            get_json(
                &web,
                &ctx,
                &format!("{base}/state?at={}", enc(&instant(at))),
            )
            .await?,
        ),
        _ => None,
    };
    let diff = match (q.from_sequence, q.to_sequence) {
        (Some(a), Some(b)) => Some(
            get_json(
                &web,
                &ctx,
                &format!("{base}/diff?from_sequence={a}&to_sequence={b}"),
            )
            .await?,
        ),
        _ => None,
    };
    let head = s["head"]["sequence"].as_u64().unwrap_or(0);
    let v = &s["verdict"];
    let intact = v["intact"].as_bool().unwrap_or(false);
    let events = s["events"].as_array().cloned().unwrap_or_default();
    let href = stream_href(&aggregate_type, &aggregate_id);
    Ok(office_page(
        &ctx,
        &format!("{aggregate_type} {aggregate_id}"),
        html! {
            p { a href="/backoffice/audit" { "← Audit log" } }
            h1 { "Stream " (aggregate_type) "/" (aggregate_id) }
            p #verdict {
                @if intact { span.badge.ok { "Hash chain intact" } } @else { span.badge.bad { "Does not check out" } }
                " · " (v["events"].as_u64().unwrap_or(0)) " events"
                @if let Some(at) = v["broken_at"].as_u64() { " · broken at " (at) }
                @match v["checkpoint"].as_i64() {
                    Some(c) => { " · compared with signed checkpoint " a href="/backoffice/audit/checkpoints" { (c) } }
                    None => { " · not anchored by a checkpoint yet" }
                }
            }
            @if let Some(p) = v.get("problem").filter(|p| !p.is_null()) {
                p #problem .error { (problem(p)) }
            }
            p { a #export href=(format!("{href}/export.tar")) download { "Download a signed export of this stream" }
                span.muted { " (check it with " code { "agora-audit-verify export" } ")" } }
            section {
                h2 { "Time travel" }
                form.inline-form method="get" action=(href) {
                    div { label for="seq" { "State after event #" } input #seq type="number" name="sequence" min="0" max=(head) value=[q.sequence]; }
                    div { button type="submit" { "Show state" } }
                }
                form.inline-form method="get" action=(href) {
                    div { label for="at-time" { "State at (UTC)" } input #at-time type="datetime-local" step="1" name="at" value=(q.at); }
                    div { button type="submit" { "Show state" } }
                }
                form.inline-form method="get" action=(href) {
                    div { label for="from-seq" { "Changes from #" } input #from-seq type="number" name="from_sequence" min="0" max=(head) value=[q.from_sequence]; }
                    div { label for="to-seq" { "to #" } input #to-seq type="number" name="to_sequence" min="0" max=(head) value=[q.to_sequence]; }
                    div { button type="submit" { "Compare" } }
                }
                @if let Some(st) = &state {
                    h3 #state-title { "State after event #" (st["as_of"]["sequence"]) " (" (when(&st["as_of"]["recorded_at"])) ")" }
                    pre #state tabindex="0" aria-label="The state" { (pretty(&st["state"])) }
                }
                @if let Some(d) = &diff {
                    @let ops = d["patch"].as_array().cloned().unwrap_or_default();
                    h3 { "Changes from #" (d["from"]["sequence"]) " to #" (d["to"]["sequence"]) }
                    @if ops.is_empty() { p #diff-empty { "No change." } } @else {
                        div.table-wrap { table.stack #diff {
                            thead { tr { th scope="col" { "Change" } th scope="col" { "Field" } th scope="col" { "New value" } } }
                            tbody { @for op in &ops { tr {
                                td data-label="Change" { (text(op, "op")) }
                                td data-label="Field" { code { (text(op, "path")) } }
                                td data-label="New value" { @if let Some(val) = op.get("value") { code { (val.to_string()) } } }
                            } } }
                        } }
                    }
                }
            }
            section {
                h2 { "Events" }
                div.table-wrap { table.stack #stream-events {
                    thead { tr { th scope="col" { "#" } th scope="col" { "Recorded (UTC)" } th scope="col" { "Event" } th scope="col" { "Actor" } th scope="col" { "Request" } } }
                    tbody { @for e in &events {
                        tr {
                            td data-label="#" { a href=(format!("/backoffice/audit/events/{}", e["position"])) { (e["sequence"]) } }
                            td data-label="Recorded" { (when(&e["metadata"]["recorded_at"])) }
                            td data-label="Event" { (text(e, "event_type")) }
                            td data-label="Actor" { (actor(&e["metadata"]["actor"])) }
                            td data-label="Request" {
                                @if let Some(c) = e["metadata"]["correlation_id"].as_str() {
                                    a href=(format!("/backoffice/audit/correlations/{}", enc(c))) { "what it caused" }
                                }
                            }
                        }
                    } }
                } }
                @if let Some(after) = s["next_after"].as_u64() {
                    p { a #later href=(format!("{href}?after={after}")) { "Later events →" } }
                }
            }
        },
    ))
}

/// `GET /backoffice/audit/events/{position}`: one event with its metadata.
pub async fn event(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Path(position): Path<String>,
) -> Page {
    gate(&ctx)?;
    let e = get_json(&web, &ctx, &format!("/audit/events/{}", enc(&position))).await?;
    let m = &e["metadata"];
    let (t, id) = (text(&e, "aggregate_type"), text(&e, "aggregate_id"));
    let seq = e["sequence"].as_u64().unwrap_or(0);
    Ok(office_page(
        &ctx,
        &format!("Event {position}"),
        html! {
            p { a href="/backoffice/audit" { "← Audit log" } }
            h1 { (text(&e, "event_type")) }
            dl.facts #event-facts {
                dt { "Position" } dd { (e["position"]) }
                dt { "Stream" } dd { a href=(stream_href(t, id)) { (t) "/" (id) } " #" (seq) }
                dt { "Recorded (UTC)" } dd { (when(&m["recorded_at"])) }
                dt { "Actor" } dd { (actor(&m["actor"])) }
                dt { "Command" } dd { code { (text(m, "command_id")) } }
                dt { "Request (correlation)" } dd { a #correlation href=(format!("/backoffice/audit/correlations/{}", enc(text(m, "correlation_id")))) { (text(m, "correlation_id")) } }
                dt { "Caused by" } dd { code { (text(m, "causation_id")) } }
                dt { "Previous hash" } dd { code { (text(m, "prev_hash")) } }
                dt { "Hash" } dd { code { (text(m, "hash")) } }
            }
            p { a href=(format!("{}?sequence={seq}", stream_href(t, id))) { "The state after this event" } }
            h2 { "Payload" }
            pre #payload tabindex="0" aria-label="The event's payload" { (pretty(&e["payload"])) }
        },
    ))
}

fn node(n: &Value, by_position: &std::collections::HashMap<i64, &Value>) -> Markup {
    let position = n["position"].as_i64().unwrap_or(0);
    let caused = n["caused"].as_array().cloned().unwrap_or_default();
    html! {
        li {
            @if let Some(e) = by_position.get(&position) {
                a href=(format!("/backoffice/audit/events/{position}")) { (text(e, "event_type")) }
                " on " (text(e, "aggregate_type")) "/" (text(e, "aggregate_id")) " #" (e["sequence"])
                span.muted { " · " (actor(&e["actor"])) }
            }
            @if !caused.is_empty() {
                ul { @for c in &caused { (node(c, by_position)) } }
            }
        }
    }
}

/// `GET /backoffice/audit/correlations/{id}`: everything one request caused, as a tree.
pub async fn correlation(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
) -> Page {
    gate(&ctx)?;
    let c = get_json(&web, &ctx, &format!("/audit/correlations/{}", enc(&id))).await?;
    let events = c["events"].as_array().cloned().unwrap_or_default();
    let by_position: std::collections::HashMap<i64, &Value> = events
        .iter()
        .filter_map(|e| e["position"].as_i64().map(|p| (p, e)))
        .collect();
    let mut streams: Vec<(String, u64)> = c["streams"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
                .collect()
        })
        .unwrap_or_default();
    streams.sort();
    let tree = c["tree"].as_array().cloned().unwrap_or_default();
    Ok(office_page(
        &ctx,
        "What one request caused",
        html! {
            p { a href="/backoffice/audit" { "← Audit log" } }
            h1 { "What request " code { (id) } " caused" }
            p #summary {
                (events.len()) " events: "
                @for (i, (t, n)) in streams.iter().enumerate() {
                    @if i > 0 { ", " } (n) " " (t)
                }
            }
            h2 { "Causes" }
            ul.tree #tree { @for n in &tree { (node(n, &by_position)) } }
            h2 { "In order" }
            div.table-wrap { table.stack #chain {
                thead { tr { th scope="col" { "Position" } th scope="col" { "Recorded (UTC)" } th scope="col" { "Stream" } th scope="col" { "Event" } th scope="col" { "Caused by" } } }
                tbody { @for e in &events { tr {
                    td data-label="Position" { a href=(format!("/backoffice/audit/events/{}", e["position"])) { (e["position"]) } }
                    td data-label="Recorded" { (when(&e["recorded_at"])) }
                    td data-label="Stream" { a href=(stream_href(text(e, "aggregate_type"), text(e, "aggregate_id"))) { (text(e, "aggregate_type")) "/" (text(e, "aggregate_id")) } " #" (e["sequence"]) }
                    td data-label="Event" { (text(e, "event_type")) }
                    td data-label="Caused by" { @match e["caused_by"].as_i64() { Some(p) => { "event " (p) } None => { "the request" } } }
                } } }
            } }
        },
    ))
}

/// `POST /backoffice/audit/checkpoints`: signs a checkpoint now (where this process holds the
/// key), then back to the list.
pub async fn sign_now(State(web): State<Web>, Extension(ctx): Extension<Ctx>) -> Response {
    act(
        &web,
        &ctx,
        "/audit/checkpoints",
        "/backoffice/audit/checkpoints",
    )
    .await
}

/// `GET /backoffice/audit/streams/{type}/{id}/export.tar`: a signed export of the stream.
pub async fn export_stream(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Path((aggregate_type, aggregate_id)): Path<(String, String)>,
) -> Page {
    gate(&ctx)?;
    let uri = format!(
        "/audit/export?streams={}",
        enc(&format!("{aggregate_type}/{aggregate_id}"))
    );
    let bytes = web
        .api
        .get_bytes(&uri, &ctx.person())
        .await
        .map_err(|e| crate::layout::error_page(&ctx, &e))?;
    Ok((
        [
            (
                axum::http::header::CONTENT_TYPE,
                "application/x-tar".to_string(),
            ),
            (
                axum::http::header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{aggregate_type}-{aggregate_id}.tar\""),
            ),
        ],
        bytes,
    )
        .into_response())
}

/// `GET /backoffice/audit/checkpoints`: the signed checkpoints, newest first.
pub async fn checkpoints(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Query(f): Query<Flash>,
) -> Page {
    gate(&ctx)?;
    let list = get_json(&web, &ctx, "/audit/checkpoints").await?;
    let items = list["items"].as_array().cloned().unwrap_or_default();
    Ok(office_page(
        &ctx,
        "Signed checkpoints",
        html! {
            p { a href="/backoffice/audit" { "← Audit log" } }
            h1 { "Signed checkpoints" }
            (flash(&f))
            form #sign-now method="post" action="/backoffice/audit/checkpoints" {
                (crate::layout::csrf(&ctx))
                button type="submit" { "Sign a checkpoint now" }
            }
            p.muted { "Each checkpoint signs the Merkle root over every stream's last hash with the auditor's Ed25519 key, which the database does not hold. "
                code { "agora audit verify" } " names every stream whose history changed since." }
            @if items.is_empty() { p #no-checkpoints { "No checkpoint yet: run " code { "agora audit checkpoint" } "." } } @else {
                div.table-wrap { table.stack #checkpoints {
                    thead { tr { th scope="col" { "#" } th scope="col" { "Signed (UTC)" } th scope="col" { "Streams" } th scope="col" { "Events" } th scope="col" { "Merkle root" } th scope="col" { "Key" } } }
                    tbody { @for c in &items { tr {
                        td data-label="#" { (c["id"]) }
                        td data-label="Signed" { (when(&c["created_at"])) }
                        td data-label="Streams" { (c["streams"]) }
                        td data-label="Events" { (c["events"]) }
                        td data-label="Merkle root" { code { (text(c, "merkle_root").chars().take(16).collect::<String>()) "…" } }
                        td data-label="Key" { code { (text(c, "key_id")) } }
                    } } }
                } }
            }
        },
    ))
}
