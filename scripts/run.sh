#!/usr/bin/env bash
# Start the relay on its default local store, from a clean clone: makes .venv, installs the project,
# then runs the web viewer, which prints how to register the agents and its URL (Ctrl+C stops it).
# Extra arguments go to relay-web (for example --port 8011).
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
if ! .venv/bin/python -c "import shared, relay_stdio, relay_web" 2>/dev/null || [ pyproject.toml -nt .venv/.installed ]; then
  echo "installing claude-codex-relay into .venv ..."
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e .
  touch .venv/.installed
fi
# relay-web prints how to register the agents (relay setup claude|codex --apply, and exactly what each
# writes: the text lives once, in shared/clientsetup.py), the store it reads, and its URL.
exec .venv/bin/relay-web "$@"
