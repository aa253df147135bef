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
# Idempotent and quick when everything is there (scripts/lib/apt.sh).  Needs root (or sudo)
# on Debian bookworm.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1
log() { echo "[install-browser] $*"; }

# shellcheck source=lib/apt.sh
source "$(dirname "$0")/lib/apt.sh"
apt_install_missing redis-server=/usr/bin/redis-server chromium=/usr/bin/chromium \
  chromium-driver=/usr/bin/chromedriver

py_missing=()
python3 -c 'import redis, sys; sys.exit(int(redis.__version__.split(".")[0]) < 5)' 2>/dev/null \
  || py_missing+=("redis>=5")
python3 -c 'import playwright.async_api' 2>/dev/null || py_missing+=("playwright")
if [ ${#py_missing[@]} -gt 0 ]; then
  log "pip installing ${py_missing[*]}"
  python3 -m pip install -q --root-user-action=ignore "${py_missing[@]}"
fi
log "ok: $(/usr/bin/redis-server --version | cut -d' ' -f1-3), $(/usr/bin/chromium --version 2>/dev/null || echo chromium), redis-py $(python3 -c 'import redis; print(redis.__version__)')"
