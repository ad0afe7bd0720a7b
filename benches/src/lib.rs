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
