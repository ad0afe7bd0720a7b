//! The architecture's rules that a compiler does not check, checked over the source tree.

use std::path::{Path, PathBuf};

/// Every `.rs` file of the workspace, outside build output.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if path.is_dir() {
            if !matches!(name.as_ref(), "target" | ".git" | "node_modules" | ".agora") {
                sources(&path, out);
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .to_path_buf()
}

/// Only the `agora-nats` crate turns a service and a command name into a subject: everyone
/// else sends a typed command of a contract (`Bus::send`, `Bus::call`, `Bus::read`), so no
/// endpoint or command name is written as a string to route a request. The one exception is
/// the transport benchmark's own echo service, which is not an Agora service.
#[test]
fn no_request_is_routed_by_a_hand_written_name() {
    let root = workspace();
    let mut files = Vec::new();
    sources(&root, &mut files);
    assert!(files.len() > 100, "found only {} sources", files.len());
    let allowed = [
        root.join("nats/src"),
        root.join("benches/src/bin/nats_rtt.rs"),
        root.join("app/tests/architecture.rs"),
    ];
    let mut offenders = Vec::new();
    for file in &files {
        if allowed.iter().any(|a| file.starts_with(a)) {
            continue;
        }
        let text = std::fs::read_to_string(file).expect("read source");
        for (n, line) in text.lines().enumerate() {
            let routed = line.contains("subjects::endpoint(")
                || line.contains("request_within(")
                || line.contains("GET_ENDPOINT");
            if routed {
                offenders.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(offenders.is_empty(), "{}", offenders.join("\n"));
}

/// The pure domain crates do no IO: none of them depends on a crate of the shell or the edge.
#[test]
fn domain_crates_do_not_depend_on_the_shell_or_the_edge() {
    let root = workspace();
    let shell = [
        "agora-runtime",
        "agora-workflows",
        "agora-notifier",
        "agora-gateway",
        "agora-nats",
        "agora-edge",
        "agora-web",
        "agora-projections",
        "agora-search",
    ];
    let mut checked = 0;
    for entry in std::fs::read_dir(root.join("domains")).expect("domains/") {
        let manifest = entry.expect("entry").path().join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&manifest) else {
            continue;
        };
        for crate_name in shell {
            assert!(
                !text.contains(&format!("{crate_name}.workspace")),
                "{} depends on {crate_name}",
                manifest.display()
            );
        }
        checked += 1;
    }
    assert!(checked >= 9, "only {checked} domain crates");
}

/// The compose file runs every role of the registry: a service or projection added to
/// `app/src/roles.rs` and forgotten in `compose.yaml` would leave the composed platform without it.
#[test]
fn compose_runs_every_service_and_projection_of_the_registry() {
    let compose =
        std::fs::read_to_string(workspace().join("compose.yaml")).expect("read compose.yaml");
    let commands: Vec<Vec<String>> = compose
        .lines()
        .filter_map(|l| l.trim().strip_prefix("command: ["))
        .map(|l| {
            l.trim_end_matches(']')
                .split(',')
                .map(|w| w.trim().trim_matches('"').to_string())
                .collect()
        })
        .collect();
    let runs = |role: &str, name: &str| {
        commands.iter().any(|c| {
            c.first().map(String::as_str) == Some(role) && c[1..].iter().any(|n| n == name)
        })
    };
    for service in agora::SERVICES {
        assert!(
            runs("service", service),
            "compose.yaml runs no `service {service}`"
        );
    }
    for projection in agora::PROJECTIONS {
        assert!(
            runs("project", projection),
            "compose.yaml runs no `project {projection}`"
        );
    }
}

/// The alerting rules are valid Prometheus rules, and every metric they alert on is one the
/// platform records. Checked with `promtool` when it is installed (Debian's `prometheus`).
#[test]
fn the_alerting_rules_are_valid_and_name_real_metrics() {
    let rules = workspace().join("deploy/prometheus/agora-alerts.yml");
    let text = std::fs::read_to_string(&rules).expect("read the rules");
    let mut code = String::new();
    let mut files = Vec::new();
    sources(&workspace(), &mut files);
    for f in files {
        code.push_str(&std::fs::read_to_string(f).unwrap_or_default());
    }
    for metric in text
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("agora_"))
    {
        assert!(
            code.contains(&format!("\"{metric}\"")),
            "the rules alert on {metric}, which no code records"
        );
    }
    match std::process::Command::new("promtool")
        .arg("check")
        .arg("rules")
        .arg(&rules)
        .output()
    {
        Ok(out) => assert!(
            out.status.success(),
            "promtool: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(_) => eprintln!("promtool is not installed: the rules' syntax is not checked"),
    }
}
