# Sourced by scripts/demo, scripts/test and .ci/run: the API reference page (/docs) runs
# Scalar's standalone script, built into the binary instead of loaded from a CDN, so the docs
# work offline. `fetch_docs_assets` takes the pinned @scalar/api-reference package from npm
# (just that package: `npm pack`, no dependency tree) into .agora/tools/scalar, keeps its
# package.json (which states its MIT licence; the package ships no separate licence file),
# and exports AGORA_SCALAR_JS for the edge's build script to embed.
SCALAR_PIN="1.76.4"

fetch_docs_assets() {
  local dir=".agora/tools/scalar/$SCALAR_PIN"
  if [ ! -f "$dir/standalone.js" ]; then
    if command -v npm >/dev/null; then
      mkdir -p "$dir"
      (cd "$dir" && npm pack --silent "@scalar/api-reference@$SCALAR_PIN" >/dev/null &&
        tar xzf "scalar-api-reference-$SCALAR_PIN.tgz" package/dist/browser/standalone.js package/package.json package/README.md &&
        mv package/dist/browser/standalone.js standalone.js && mv package/package.json package.json &&
        printf 'Scalar API Reference %s (npm @scalar/api-reference), licence: %s\n' "$SCALAR_PIN" \
          "$(sed -n 's/^  "license": "\(.*\)",$/\1/p' package.json)" > LICENSE.txt &&
        rm -rf package "scalar-api-reference-$SCALAR_PIN.tgz") >&2 \
        || echo "could not fetch @scalar/api-reference; /docs will explain how to build it in" >&2
    else
      echo "no npm: /docs will explain how to build the API reference in" >&2
    fi
  fi
  if [ -f "$dir/standalone.js" ]; then
    AGORA_SCALAR_JS="$PWD/$dir/standalone.js"
    export AGORA_SCALAR_JS
  fi
}
