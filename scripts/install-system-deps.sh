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
# package is missing.  Needs root (or sudo) on Debian bookworm.  The Debian packages ship
# services; the tests start their own proxies on free ports, so any daemon the package
# scripts start is stopped and kept from starting again by a policy-rc.d for the install.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1
log() { echo "[install-system-deps] $*"; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# Debian package -> a binary it installs.
declare -A DEB_BINARIES=(
  [tinyproxy]=/usr/bin/tinyproxy
  [microsocks]=/usr/bin/microsocks
  [stunnel4]=/usr/bin/stunnel4
  [openssl]=/usr/bin/openssl
  [nginx]=/usr/sbin/nginx
  [haproxy]=/usr/sbin/haproxy
  [bc]=/usr/bin/bc
  [coreutils]=/usr/bin/cat
)
missing=()
for pkg in "${!DEB_BINARIES[@]}"; do
  [ -x "${DEB_BINARIES[$pkg]}" ] || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  # Keep package scripts from starting daemons (a policy-rc.d answering 101 = "action forbidden").
  policy=/usr/sbin/policy-rc.d
  made_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
    $SUDO chmod +x "$policy"
    made_policy=1
    trap '$SUDO rm -f "$policy"' EXIT
  fi
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=300 "${missing[@]}"
  if [ "$made_policy" -eq 1 ]; then $SUDO rm -f "$policy"; trap - EXIT; fi
fi

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
