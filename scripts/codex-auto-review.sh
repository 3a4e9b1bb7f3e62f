#!/usr/bin/env bash
# The fully automatic review loop ("Option D") with the original script's environment variables: a thin
# wrapper over `relay codex-auto-review` (the loop itself ships in the package, so it also works from a
# wheel or pipx install, which have no scripts/ folder). Every time WATCH_SENDER posts to TARGET, it
# runs `codex exec` once for the whole batch, telling Codex to fetch the new messages through the
# relay's MCP tools, review them and post its review back to the same channel. See docs/codex.md.
#
# Environment (the original script's names where they still mean something):
#   TARGET         channel to watch (default proj-x)                       -> --target
#   WATCH_SENDER   whose posts start a review (default claude)             -> --from
#   SESSION_ID     Codex session to continue with codex exec resume        -> --session
#   FRESH          1: a new Codex session per batch (default: resume one)   -> --fresh
#   LASTFILE       where the position is kept                              -> --state-file
#   ONCE           1: review one batch, then exit with Codex's exit status -> --once
#   SINCE          on the very first start only: review messages after it  -> --since
#   CODEX_BIN      the codex executable (default codex)                    -> --codex-bin
#   CODEX_SANDBOX  read-only (default), workspace-write, danger-full-access -> --sandbox
#   CODEX_BYPASS   1: --dangerously-bypass-approvals-and-sandbox            -> --bypass-sandbox
#   CODEX_CD       folder a new Codex session works in                     -> --cd
#   CODEX_ARGS     more arguments for codex exec, split on spaces          -> after --
#   RELAY          the relay CLI (default: relay on PATH, else this checkout's .venv/bin/relay)
#   BASE_URL, INTERVAL: accepted for compatibility and ignored (nothing polls an HTTP API any more).
#   CLAUDE_CODEX_DATA_DIR / CLAUDE_CODEX_CONFIG: which store to watch, as for every relay program.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
relay=${RELAY:-}
if [ -z "$relay" ]; then
  if command -v relay >/dev/null 2>&1; then
    relay=relay
  elif [ -x "$here/../.venv/bin/relay" ]; then
    relay="$here/../.venv/bin/relay"
  else
    echo "codex-auto-review: the relay CLI is not on PATH; set RELAY=/path/to/.venv/bin/relay" >&2
    exit 1
  fi
fi

args=(codex-auto-review --target "${TARGET:-proj-x}" --from "${WATCH_SENDER:-claude}")
[ -z "${SESSION_ID:-}" ] || args+=(--session "$SESSION_ID")
[ "${FRESH:-0}" != 1 ] || args+=(--fresh)
[ -z "${LASTFILE:-}" ] || args+=(--state-file "$LASTFILE")
[ -z "${SINCE:-}" ] || args+=(--since "$SINCE")
[ "${ONCE:-0}" != 1 ] || args+=(--once)
[ -z "${CODEX_BIN:-}" ] || args+=(--codex-bin "$CODEX_BIN")
[ -z "${CODEX_SANDBOX:-}" ] || args+=(--sandbox "$CODEX_SANDBOX")
[ "${CODEX_BYPASS:-0}" != 1 ] || args+=(--bypass-sandbox)
[ -z "${CODEX_CD:-}" ] || args+=(--cd "$CODEX_CD")
extra=()
[ -z "${CODEX_ARGS:-}" ] || read -r -a extra <<<"$CODEX_ARGS"
exec "$relay" "${args[@]}" -- ${extra[@]+"${extra[@]}"}
