#!/usr/bin/env bash
# The whole test suite, as CI runs it:   ./scripts/test.sh
# Everyday quick mode (no Autobahn, no slow tests):   ./scripts/test.sh --quick
#
# Installs what the tests need (tether itself with its test extras, Debian packages
# for the proxy servers, the Autobahn|Testsuite), checks types and lint on src/,
# then runs pytest; the conformance suites run inside pytest (tests/compliance).
set -euo pipefail
cd "$(dirname "$0")/.."
QUICK=0
for a in "$@"; do
  case "$a" in
    --quick) QUICK=1 ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) break ;;
  esac
done
[ "${1:-}" = "--quick" ] && shift
export PIP_DISABLE_PIP_VERSION_CHECK=1
log() { echo "[test] $*"; }

log "installing tether and its test requirements"
python3 -m pip install -q -e ".[test]"
if [ -x scripts/install-system-deps.sh ]; then
  log "installing system packages the tests use"
  bash scripts/install-system-deps.sh
fi
if [ "$QUICK" = 0 ]; then
  log "installing the Autobahn|Testsuite"
  bash compliance/setup.sh
fi

log "ruff and mypy --strict on src/"
python3 -m ruff check src tests
python3 -m mypy --strict src

python3 -c "import tether._native as n; print('[test] hot path of this install:', n.IMPLEMENTATION)"
if [ "$QUICK" = 1 ]; then
  log "pytest (quick): engines and core on the pure-Python hot path (TETHER_NO_EXTENSIONS=1)"
  TETHER_NO_EXTENSIONS=1 python3 -m pytest -q -p no:cacheprovider tests/core tests/_native tests/asyncio
  log "pytest (quick): everything but the slow tests, compiled hot path"
  exec python3 -m pytest -m "not slow" -p no:cacheprovider "$@"
fi
# The whole suite on both builds: the compiled hot path (what a plain install gives),
# then the pure-Python fallback (TETHER_NO_EXTENSIONS=1, inherited by every process the
# tests start: servers, CLI, Autobahn testees).
log "pytest: the whole suite, compiled hot path"
python3 -m pytest -p no:cacheprovider "$@"
log "pytest: the whole suite again, pure-Python hot path (TETHER_NO_EXTENSIONS=1)"
TETHER_NO_EXTENSIONS=1 exec python3 -m pytest -p no:cacheprovider "$@"
