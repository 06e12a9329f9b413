#!/usr/bin/env bash
# The full test suite, on a fresh machine or this one: installs what the
# tests need (Dovecot, from Debian's packages) when it is missing, then runs
# every Go test. Tests that need Dovecot fail rather than skip under this
# script (MINSHENG_REQUIRE_DOVECOT=1).
#
#   scripts/test.sh            # everything
#   scripts/test.sh ./store/   # arguments go to 'go test'
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v dovecot >/dev/null 2>&1 || [ -x /usr/sbin/dovecot ] || need+=(dovecot-imapd)
if [ ${#need[@]} -gt 0 ]; then
  echo "test.sh: installing ${need[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  # The package starts a system-wide dovecot; the tests run private ones.
  $SUDO systemctl stop dovecot >/dev/null 2>&1 || $SUDO service dovecot stop >/dev/null 2>&1 || true
fi

export MINSHENG_REQUIRE_DOVECOT=1
if [ $# -eq 0 ]; then
  set -- ./...
fi
go vet ./...
exec go test -count=1 -timeout 20m "$@"
