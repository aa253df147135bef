#!/usr/bin/env bash
# Install what the pub/sub, Redis and browser tests need, and nothing else:
#
#   Debian: redis-server (the Redis backplane tests start their own on a free port),
#           chromium + chromium-driver (headless browser tests)
#   PyPI:   redis>=5 (asyncio client), playwright (drives the *system* chromium through
#           executable_path=/usr/bin/chromium; `playwright install` is never run)
#
#   scripts/install-browser.sh
#
# Idempotent and quick when everything is there.  Needs root (or sudo) on Debian bookworm.
# Daemons the packages would start are kept from starting by a policy-rc.d for the install.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1
log() { echo "[install-browser] $*"; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

declare -A DEB_BINARIES=(
  [redis-server]=/usr/bin/redis-server
  [chromium]=/usr/bin/chromium
  [chromium-driver]=/usr/bin/chromedriver
)
missing=()
for pkg in "${!DEB_BINARIES[@]}"; do
  [ -x "${DEB_BINARIES[$pkg]}" ] || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
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

py_missing=()
python3 -c 'import redis, sys; sys.exit(int(redis.__version__.split(".")[0]) < 5)' 2>/dev/null \
  || py_missing+=("redis>=5")
python3 -c 'import playwright.async_api' 2>/dev/null || py_missing+=("playwright")
if [ ${#py_missing[@]} -gt 0 ]; then
  log "pip installing ${py_missing[*]}"
  python3 -m pip install -q --root-user-action=ignore "${py_missing[@]}"
fi
log "ok: $(/usr/bin/redis-server --version | cut -d' ' -f1-3), $(/usr/bin/chromium --version 2>/dev/null || echo chromium), redis-py $(python3 -c 'import redis; print(redis.__version__)')"
