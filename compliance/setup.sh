#!/usr/bin/env bash
# Install Autobahn|Testsuite's `wstest` (Python 2.7 code) into ${WSTEST_HOME:-/opt/wstest}
# and write the wrapper $WSTEST_HOME/bin/wstest.
#
#   compliance/setup.sh
#
# Idempotent: every step leaves a marker and is skipped on the next run, so calling it before
# each compliance run costs about a second once everything is in place.  Needs root, apt
# (Debian bookworm) and PyPI.  A few minutes on a fresh machine.
#
# Debian bookworm has no Python 2, so python2.7 comes from Debian bullseye, pinned at a low
# priority so that nothing else is ever taken from bullseye.  pip for Python 2 (20.3.4, the
# last one supporting it) is fetched as a wheel by python3's pip; wstest's dependencies are
# the fully pinned requirements-py2.txt beside this script.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
H=${WSTEST_HOME:-/opt/wstest}
PY2=/usr/bin/python2.7            # not a pyenv shim: the Debian interpreter
WSTEST_VERSION=25.10.1
# The machine-wide pip config may carry a py3-only constraints file: ignore it for these
# installs.  No .pyc files in the install tree (py2 and py3 would fight over them).
export PIP_CONSTRAINT="" PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
export DEBIAN_FRONTEND=noninteractive
log() { echo "[compliance/setup] $*"; }
mkdir -p "$H/bin" "$H/py2" "$H/dl"

# 1. python2.7 with its headers, and gcc (wsaccel, wstest's C speedups, builds from source).
if [ ! -x "$PY2" ] || [ ! -f /usr/include/python2.7/Python.h ] || ! command -v gcc >/dev/null; then
  log "installing python2.7 from Debian bullseye (pinned low)"
  cat >/etc/apt/sources.list.d/tether-bullseye.sources <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bullseye
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  printf 'Package: *\nPin: release n=bullseye\nPin-Priority: 100\n' \
    >/etc/apt/preferences.d/tether-bullseye-low
  apt-get update -qq
  apt-get install -y -q python2.7 python2.7-dev gcc
fi

# 2. pip, setuptools and wheel for Python 2.7, downloaded as py2 wheels by python3's pip and
#    unpacked into $H/py2/pip (used through PYTHONPATH, nothing goes into the system python2).
if [ ! -f "$H/py2/pip/.done" ]; then
  log "bootstrapping pip for python2.7"
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 2.7 \
    --implementation cp --abi cp27mu --platform manylinux1_x86_64 -d "$H/dl" \
    pip==20.3.4 setuptools==44.1.1 wheel==0.37.1
  rm -rf "$H/py2/pip"
  # A wheel is a zip file: pip runs straight from its own wheel to install itself.
  "$PY2" "$H/dl/pip-20.3.4-py2.py3-none-any.whl/pip" install -q --no-index \
    --find-links "$H/dl" --target "$H/py2/pip" pip setuptools wheel
  touch "$H/py2/pip/.done"
fi
pip2() { PYTHONPATH="$H/py2/pip" "$PY2" -m pip "$@"; }

# 3. wstest's dependencies (Twisted 19.10, autobahn 0.10.9, wsaccel, ...), all pinned.
#    Redone whenever requirements-py2.txt changes (its hash is the marker).
want=$(sha256sum <"$HERE/requirements-py2.txt" | cut -d' ' -f1)
if [ "$(cat "$H/py2/deps/.done" 2>/dev/null)" != "$want" ]; then
  log "installing wstest dependencies (requirements-py2.txt)"
  rm -rf "$H/py2/deps"
  pip2 install -q --no-warn-script-location --target "$H/py2/deps" \
    -r "$HERE/requirements-py2.txt"
  # `pip --target` leaves out the namespace __init__ of zope (zope.interface).
  touch "$H/py2/deps/zope/__init__.py"
  echo "$want" >"$H/py2/deps/.done"
fi

# 4. autobahntestsuite itself: an sdist, built without isolation by the py2 pip.
if [ "$(cat "$H/py2/wstest/.done" 2>/dev/null)" != "$WSTEST_VERSION" ]; then
  log "installing autobahntestsuite $WSTEST_VERSION"
  python3 -m pip download -q --no-deps --no-binary=:all: -d "$H/dl" \
    "autobahntestsuite==$WSTEST_VERSION"
  rm -rf "$H/py2/wstest"
  PYTHONPATH="$H/py2/pip:$H/py2/deps" "$PY2" -m pip install -q --no-deps \
    --no-build-isolation --no-warn-script-location --target "$H/py2/wstest" \
    "$H/dl/autobahntestsuite-$WSTEST_VERSION.tar.gz"
  echo "$WSTEST_VERSION" >"$H/py2/wstest/.done"
fi

# 5. The wrapper (exec: its pid is wstest's own, so it can be killed reliably).
cat >"$H/bin/wstest.tmp" <<WRAP
#!/bin/sh
# Autobahn|Testsuite wstest $WSTEST_VERSION (Python 2.7), written by tether's compliance/setup.sh
export PYTHONPATH="$H/py2/wstest:$H/py2/deps" PYTHONDONTWRITEBYTECODE=1
exec $PY2 -m autobahntestsuite.wstest "\$@"
WRAP
chmod +x "$H/bin/wstest.tmp"
mv "$H/bin/wstest.tmp" "$H/bin/wstest"

# 6. Smoke checks: wstest starts, and the C speedups import (without them 9.* is far slower).
"$H/bin/wstest" --help >/dev/null
PYTHONPATH="$H/py2/deps" "$PY2" -c "import wsaccel.xormask, wsaccel.utf8validator"
log "wstest ready: $H/bin/wstest"
