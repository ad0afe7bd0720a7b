//! Builds Scalar's script into the binary when `AGORA_SCALAR_JS` names it (scripts fetch the
//! pinned npm package: scripts/docs-assets.sh), so `/docs` needs no CDN. Without it the edge
//! still builds, and `/docs` says how to build the reference in.
fn main() {
    println!("cargo::rustc-check-cfg=cfg(scalar_embedded)");
    println!("cargo::rerun-if-env-changed=AGORA_SCALAR_JS");
    if let Ok(path) = std::env::var("AGORA_SCALAR_JS") {
        if std::path::Path::new(&path).is_file() {
            println!("cargo::rerun-if-changed={path}");
            println!("cargo::rustc-cfg=scalar_embedded");
            println!("cargo::rustc-env=AGORA_SCALAR_JS_PATH={path}");
        }
    }
}
