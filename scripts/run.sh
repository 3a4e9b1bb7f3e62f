#!/usr/bin/env bash
# Start the relay on its default local store, from a clean clone: makes .venv, installs the project,
# prints how to register the agents, and runs the web viewer (Ctrl+C stops it). Extra arguments go to
# relay-web (for example --port 8011).
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
if ! .venv/bin/python -c "import shared, relay_stdio" 2>/dev/null || [ pyproject.toml -nt .venv/.installed ]; then
  echo "installing claude-codex-relay into .venv ..."
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e .
  touch .venv/.installed
fi
bin=$(cd .venv/bin && pwd)
cat <<MSG
Register the relay with your agents (each launches its own relay-stdio; all share one store):
  Claude Code:  claude mcp add relay -- $bin/relay-stdio
  Codex:        add to ~/.codex/config.toml
                  [mcp_servers.relay]
                  command = "$bin/relay-stdio"
                  args = []
Store: $("$bin/relay" config --json | "$bin/python" -c 'import json,sys; print(json.load(sys.stdin)["data_dir"]["value"])')
MSG
if [ -x "$bin/relay-web" ]; then
  exec "$bin/relay-web" "$@"
fi
echo "(the web viewer is not installed yet; following channel proj-x in the terminal instead)"
exec "$bin/relay" tail proj-x --follow
