#!/usr/bin/env bash
# The whole test suite, from a clean clone: makes .venv, installs the project and its test tools
# (Python packages from PyPI, the MCP Inspector and TypeScript SDK from npm into an ignored folder),
# then runs lint, the type check and every test. Extra arguments go to pytest.
#
# Needs: Python 3.10+; Node.js 20+ with npm (real-client tests); Chromium at /usr/bin/chromium or
# $RELAY_CHROMIUM (browser tests). .ci/run installs those two with apt-get on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}

if [ ! -x .venv/bin/python ]; then
  echo "== creating .venv with $($python --version)"
  "$python" -m venv .venv
fi
echo "== installing the project and its test dependencies"
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'

if [ -f tests/e2e/node/package.json ]; then
  command -v npm >/dev/null || { echo "npm is required for the real-client tests (install Node.js 20+)" >&2; exit 1; }
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
