#!/usr/bin/env bash
# Installs everything the tests need on a fresh Debian machine, then lints and runs them.
# Browser tests use Debian's Chromium (Playwright cannot download its own here).
set -euo pipefail
cd "$(dirname "$0")/.."

# Only what is missing: where Node.js came with its own npm, Debian's npm package conflicts with it.
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/sbin/nginx ] || missing+=(nginx)
[ -d /usr/share/datasets/fashion-mnist ] || missing+=(dataset-fashion-mnist)
command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "note: install Debian's ${missing[*]} (browser tests, the test through the proxy, the Fashion-MNIST" \
      "tests, the accessibility test), or those tests skip" >&2
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
