#!/usr/bin/env bash
# Installs everything the tests need on a fresh Debian machine, then lints and runs them.
# Browser tests use Debian's Chromium (Playwright cannot download its own here).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x /usr/bin/chromium ] || [ ! -d /usr/share/datasets/fashion-mnist ]; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium dataset-fashion-mnist >/dev/null
  else
    echo "note: install Debian's chromium (browser tests) and dataset-fashion-mnist, or those tests skip" >&2
  fi
fi
python -m pip install -q -r requirements-dev.txt
python -m ruff check .
python -m pytest "$@"
