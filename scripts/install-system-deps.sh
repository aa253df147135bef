#!/usr/bin/env bash
# Install what the TLS and proxy tests need, and nothing else:
#
#   Debian: tinyproxy (HTTP CONNECT proxy), microsocks (SOCKS5 proxy with user/password),
#           stunnel4 (TLS in front of tinyproxy: an https:// proxy)
#           nginx, haproxy (reverse proxies the serving tests start in front of tether),
#           bc and coreutils (programs the exec bridge tests run)
#   PyPI:   trustme (test CA and certificates, made at test time), websockets (interop)
#
#   scripts/install-system-deps.sh
#
# Idempotent and quick when everything is there: `apt-get update` runs once, and only when a
# package is missing (scripts/lib/apt.sh).  Needs root (or sudo) on Debian bookworm.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1
log() { echo "[install-system-deps] $*"; }

# shellcheck source=lib/apt.sh
source "$(dirname "$0")/lib/apt.sh"
# Debian package = a binary it installs.
apt_install_missing \
  tinyproxy=/usr/bin/tinyproxy microsocks=/usr/bin/microsocks stunnel4=/usr/bin/stunnel4 \
  openssl=/usr/bin/openssl nginx=/usr/sbin/nginx haproxy=/usr/sbin/haproxy bc=/usr/bin/bc \
  coreutils=/usr/bin/cat

# Python packages for the tests (only those missing).
py_missing=()
python3 -c 'import trustme' 2>/dev/null || py_missing+=("trustme>=1.1")
python3 -c 'import websockets, sys; sys.exit(websockets.__version__ != "17.4")' 2>/dev/null \
  || py_missing+=("websockets==17.4")
if [ ${#py_missing[@]} -gt 0 ]; then
  log "pip installing ${py_missing[*]}"
  python3 -m pip install -q --root-user-action=ignore "${py_missing[@]}"
fi
log "ok: $(/usr/bin/tinyproxy -v 2>&1 | head -1), microsocks, stunnel4, trustme $(python3 -c 'import trustme; print(trustme.__version__)')"

# Redis and headless Chromium for the pub/sub and browser tests (issue 6).
bash "$(dirname "$0")/install-browser.sh"
