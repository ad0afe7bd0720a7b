/// Checks that a domain crate's `[dependencies]` name only crates from `allowed`: domain crates
/// do no IO, so nothing that opens a socket or a file may appear. Each domain crate calls this
/// from a test with `include_str!("../Cargo.toml")`.
pub fn assert_only_dependencies(manifest: &str, allowed: &[&str]) {
    let dependencies = manifest
        .split("[dependencies]")
        .nth(1)
        .and_then(|rest| rest.split("\n[").next())
        .unwrap_or_default();
    for line in dependencies
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
    {
        let name = line.split(['.', ' ', '=']).next().unwrap_or_default();
        assert!(allowed.contains(&name), "unexpected dependency {name}");
    }
}
