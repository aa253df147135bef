# Sourced by the install scripts: apt-get install the Debian packages whose binary is missing.
#
#   apt_install_missing tinyproxy=/usr/bin/tinyproxy nginx=/usr/sbin/nginx ...
#
# Quick when everything is there (nothing runs, not even `apt-get update`).  Needs root (or
# sudo).  The packages ship services; tests start their own servers on free ports, so a
# policy-rc.d answering 101 ("action forbidden") keeps package scripts from starting
# daemons during the install.  Expects a `log` function from the caller.

apt_install_missing() {
  local sudo="" pair missing=()
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  for pair in "$@"; do
    [ -x "${pair#*=}" ] || missing+=("${pair%%=*}")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    return 0
  fi
  log "installing ${missing[*]}"
  local policy=/usr/sbin/policy-rc.d made_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
    $sudo chmod +x "$policy"
    made_policy=1
  fi
  local status=0
  {
    DEBIAN_FRONTEND=noninteractive $sudo apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends \
      -o DPkg::Lock::Timeout=300 "${missing[@]}"
  } || status=$?
  if [ "$made_policy" -eq 1 ]; then $sudo rm -f "$policy"; fi
  return "$status"
}
