#!/usr/bin/env bash
# Install the system packages the test suite needs (PostgreSQL server, Chromium, poppler-utils) when missing.
set -euo pipefail

# --run: only what serving needs (a Chinese font for PDF transcripts); missing it is a warning.
# --ha: what the failover rehearsal needs (PostgreSQL 15, Patroni, etcd; make test-ha).
mode=${1:-test}
missing=()
if [ "$mode" = "--ha" ]; then
  [ -x /usr/lib/postgresql/15/bin/postgres ] || missing+=(postgresql-15)
  command -v patroni >/dev/null 2>&1 || missing+=(patroni)
  command -v etcd >/dev/null 2>&1 || missing+=(etcd-server)
  command -v setpriv >/dev/null 2>&1 || missing+=(util-linux)
elif ! fc-list :lang=zh 2>/dev/null | grep -q .; then
  missing+=(fonts-wqy-microhei fontconfig)
fi
if [ "$mode" = "test" ]; then
  ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || missing+=(postgresql)
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  command -v pdftoppm >/dev/null 2>&1 || missing+=(poppler-utils)  # the PDF tests render every page
  command -v runuser >/dev/null 2>&1 || missing+=(util-linux)
fi

[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo DEBIAN_FRONTEND=noninteractive apt-get update -qq
  sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
elif [ "$mode" = "--run" ]; then
  echo "note: ${missing[*]} not installed; PDF transcripts will use Latin fonts only" >&2
else
  echo "missing system packages: ${missing[*]}; install them (apt-get install ${missing[*]}) and run again" >&2
  exit 1
fi
