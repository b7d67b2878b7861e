#!/usr/bin/env bash
# Debian packages the tests use: Chromium renders the weekly report headless,
# systemd's systemd-analyze verifies the shipped unit file.
set -euo pipefail
missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v systemd-analyze >/dev/null || missing+=(systemd)
command -v pg_isready >/dev/null || missing+=(postgresql-client)
if ((${#missing[@]})); then
  if [ "$(id -u)" != 0 ]; then
    echo "system-packages: missing ${missing[*]}: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "system-packages: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
