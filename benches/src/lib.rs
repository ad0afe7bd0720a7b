//! What the benchmark binaries share.

use std::net::IpAddr;

use hdrhistogram::Histogram;
use reqwest::Url;

/// Microseconds as milliseconds, for reports.
pub fn ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

/// A latency histogram in microseconds as one report line:
/// `p50 … ms  p90 … ms  p99 … ms  max … ms  (mean … ms)`.
pub fn quantiles(h: &Histogram<u64>) -> String {
    format!(
        "p50 {:.3} ms  p90 {:.3} ms  p99 {:.3} ms  max {:.3} ms  (mean {:.3} ms)",
        ms(h.value_at_quantile(0.50)),
        ms(h.value_at_quantile(0.90)),
        ms(h.value_at_quantile(0.99)),
        ms(h.max()),
        h.mean() / 1000.0
    )
}

/// Whether `url` names this machine (`localhost`, `127.0.0.0/8` or `::1`): load generators
/// target a local `agora all` only.
pub fn is_loopback(url: &Url) -> bool {
    match url.host_str() {
        Some(host) => {
            let host = host.trim_start_matches('[').trim_end_matches(']');
            host.eq_ignore_ascii_case("localhost")
                || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
        }
        None => false,
    }
}

/// A latency histogram in microseconds as report fields: `p50_ms`, `p90_ms`, `p99_ms`,
/// `max_ms`, `mean_ms`.
pub fn quantile_fields(h: &Histogram<u64>) -> serde_json::Map<String, serde_json::Value> {
    let mut fields = serde_json::Map::new();
    for (name, q) in [("p50_ms", 0.50), ("p90_ms", 0.90), ("p99_ms", 0.99)] {
        fields.insert(name.into(), ms(h.value_at_quantile(q)).into());
    }
    fields.insert("max_ms".into(), ms(h.max()).into());
    fields.insert("mean_ms".into(), (h.mean() / 1000.0).into());
    fields
}

/// The hits and misses an edge cache has counted so far (`<metric>{outcome="hit"|"miss"}`,
/// e.g. `agora_read_cache_requests_total`), from `<base>/metrics`; `(0, 0)` when that is not
/// served.
pub async fn hits_and_misses(client: &reqwest::Client, base: &str, metric: &str) -> (f64, f64) {
    let base = base.trim_end_matches('/');
    let Ok(r) = client.get(format!("{base}/metrics")).send().await else {
        return (0.0, 0.0);
    };
    let text = r.text().await.unwrap_or_default();
    let count = |outcome: &str| -> f64 {
        text.lines()
            .filter(|l| l.starts_with(metric) && l.contains(&format!("outcome=\"{outcome}\"")))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    (count("hit"), count("miss"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_machine_is_loopback() -> anyhow::Result<()> {
        let this_machine = [
            "http://127.0.0.1:8080",
            "http://[::1]:80/x",
            "http://LOCALHOST/",
            "http://127.9.9.9",
        ];
        for url in this_machine {
            assert!(is_loopback(&Url::parse(url)?), "{url}");
        }
        let elsewhere = [
            "http://10.0.0.1",
            "http://example.com",
            "http://[::2]/",
            "file:///tmp",
        ];
        for url in elsewhere {
            assert!(!is_loopback(&Url::parse(url)?), "{url}");
        }
        Ok(())
    }
}
