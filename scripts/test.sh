#!/usr/bin/env bash
# Installs everything the tests need on a fresh Debian machine, then lints and runs them.
# Browser tests use Debian's Chromium (Playwright cannot download its own here).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x /usr/bin/chromium ] || [ ! -d /usr/share/datasets/fashion-mnist ] || ! command -v npm >/dev/null; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium dataset-fashion-mnist npm >/dev/null
  else
    echo "note: install Debian's chromium (browser tests), dataset-fashion-mnist and npm, or those tests skip" >&2
  fi
fi
python -m pip install -q -r requirements-dev.txt
# axe-core for the accessibility test (tests/browser/test_accessibility.py), pinned by package-lock.json.
if command -v npm >/dev/null; then
  npm ci --no-audit --no-fund --silent
else
  echo "note: install npm (Debian's npm) for the accessibility test's axe-core, or that test skips" >&2
fi
python -m ruff check .
python -m pytest "$@"
