#!/usr/bin/env bash
# Install the Debian packages the test suite runs for real, when missing, in one apt-get call:
# PostgreSQL (the production store), Chromium (the cockpit's browser test), Redis (the Celery broker).
set -euo pipefail
missing=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing ${missing[*]}…" >&2
  SUDO=(); [ "$(id -u)" = 0 ] || SUDO=(sudo)
  ("${SUDO[@]}" apt-get update -qq && DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq \
     --no-install-recommends "${missing[@]}") >&2
  # Debian starts a redis-server service on 6379 when installed; the tests start their own on loopback.
  { command -v systemctl >/dev/null && "${SUDO[@]}" systemctl disable --now redis-server; } >/dev/null 2>&1 || true
fi
