# Sourced by scripts/test (and so by .ci/run): what the web pages' browser tests need.
# - Debian's chromium and chromium-driver, installed with apt-get when missing (as root).
# - axe-core from npm, version pinned, into .agora/tools/axe (its LICENSE comes with it);
#   AGORA_AXE_JS then names the script the tests inject into the pages.
AXE_CORE_PIN="4.14.1"

ensure_browser() {
  if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
    return 0
  fi
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing chromium and chromium-driver (Debian) for the web browser tests" >&2
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >&2 \
      || echo "could not install chromium; the web browser tests will be skipped" >&2
  else
    echo "no chromium/chromedriver and no root to install them: the web browser tests will be skipped" >&2
  fi
}

# Debian's promtool (package prometheus), which checks deploy/prometheus's alerting rules in
# app/tests/architecture.rs; without it that check only looks at the metric names.
ensure_promtool() {
  if command -v promtool >/dev/null; then
    return 0
  fi
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing promtool (Debian's prometheus) for the alerting rules' check" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >&2 \
      || { apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >&2; } \
      || echo "could not install promtool; the alerting rules' syntax will not be checked" >&2
  fi
}

ensure_axe() {
  local dir=".agora/tools/axe"
  local js="$dir/node_modules/axe-core/axe.min.js"
  local have=""
  [ -f "$dir/node_modules/axe-core/package.json" ] &&
    have=$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$dir/node_modules/axe-core/package.json")
  if [ "$have" != "$AXE_CORE_PIN" ]; then
    if command -v npm >/dev/null; then
      mkdir -p "$dir"
      npm install --silent --no-audit --no-fund --prefix "$dir" "axe-core@$AXE_CORE_PIN" >&2 \
        || echo "could not install axe-core; the accessibility checks will be skipped" >&2
    else
      echo "no npm: the accessibility checks will be skipped" >&2
    fi
  fi
  if [ -f "$js" ]; then
    AGORA_AXE_JS="$PWD/$js"
    export AGORA_AXE_JS
  fi
}
