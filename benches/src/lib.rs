//! What the benchmark binaries share.

use std::net::IpAddr;

use reqwest::Url;

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
    fn only_this_machine_is_loopback() {
        for url in ["http://127.0.0.1:8080", "http://[::1]:80/x", "http://LOCALHOST/", "http://127.9.9.9"] {
            assert!(is_loopback(&Url::parse(url).unwrap()), "{url}");
        }
        for url in ["http://10.0.0.1", "http://example.com", "http://[::2]/", "file:///tmp"] {
            assert!(!is_loopback(&Url::parse(url).unwrap()), "{url}");
        }
    }
}
