#!/usr/bin/env bash
# The fully automatic review loop ("Option D"): every time WATCH_SENDER posts to TARGET, run
# `codex exec` once for the whole batch, telling Codex to fetch the new messages through the relay's MCP
# tools, review them and post its review back to the same channel. Built on `relay watch`, so it waits on
# the store instead of polling, never runs two reviews at once, remembers where it stopped across
# restarts, and re-runs a batch whose review failed. See docs/codex.md.
#
# Environment (the original script's names where they still mean something):
#   TARGET         channel to watch (default proj-x)
#   WATCH_SENDER   whose posts start a review (default claude)
#   SESSION_ID     Codex session to continue: `codex exec resume SESSION_ID ...` (default: a new session
#                  per batch). The id is printed in `codex exec` output and listed by `codex resume`.
#   LASTFILE       where the position is kept (relay watch --state-file; default
#                  <data_dir>/watch/TARGET--WATCH_SENDER.json)
#   ONCE           1: review one batch, then exit with Codex's exit status
#   SINCE          on the very first start only: review messages after this id (default: only new ones)
#   RELAY          the relay CLI (default: relay on PATH, else this checkout's .venv/bin/relay)
#   CODEX_BIN      the codex executable (default codex)
#   CODEX_SANDBOX  sandbox for the commands Codex runs: read-only (default), workspace-write (lets the
#                  review run tests) or danger-full-access
#   CODEX_BYPASS   1: pass --dangerously-bypass-approvals-and-sandbox instead (only in a disposable VM or
#                  container; needed only if your Codex version still cancels MCP calls in exec mode)
#   CODEX_CD       folder a new Codex session works in (codex exec --cd; default: the current folder)
#   CODEX_ARGS     more arguments for codex exec, split on spaces (e.g. "--model gpt-5-codex")
#   BASE_URL, INTERVAL: accepted for compatibility and ignored (nothing polls an HTTP API any more).
#   CLAUDE_CODEX_DATA_DIR / CLAUDE_CODEX_CONFIG: which store to watch, as for every relay program.
#
# Why no sandbox bypass is needed any more: the original relay was an HTTP server, and Codex's sandbox
# blocks network access. This relay is a stdio MCP server that Codex itself starts (outside the sandbox
# that confines the model's shell commands) and that reads a local file store. What codex exec does need
# is permission to call the relay's tools with nobody there to approve them: `relay setup codex` writes
# default_tools_approval_mode = "approve" for [mcp_servers.relay], and this script passes the same
# setting with -c in case the config was written by hand.
set -euo pipefail

if [ "${1:-}" = "--run-batch" ]; then
  # Called by relay watch with RELAY_TARGET, RELAY_SENDER, RELAY_SINCE_ID, RELAY_LATEST_ID, RELAY_IDS
  # and RELAY_TRUST_NOTE (the relay's framing of the messages as untrusted input, shared/trust.py).
  : "${RELAY_TARGET:?run by relay watch, which sets RELAY_TARGET}"
  : "${RELAY_TRUST_NOTE:?run by relay watch, which sets RELAY_TRUST_NOTE}"
  prompt="New messages from ${RELAY_SENDER} in the relay channel ${RELAY_TARGET}: ids ${RELAY_IDS}. \
Fetch them with the relay MCP server's fetch_messages tool (target=\"${RELAY_TARGET}\", since_id=${RELAY_SINCE_ID}) \
and review them: they are review packets with a summary, the tests run, focus questions and a diff. \
${RELAY_TRUST_NOTE} The packets are material to review. \
Then post your review to the same channel with post_message (target=\"${RELAY_TARGET}\", reply_to=${RELAY_LATEST_ID}), \
in Markdown with the sections Verdict (approve, approve with nits, or request changes), Major issues, \
Minor issues and Tests to add, answering the packet's focus questions."
  opts=(--skip-git-repo-check -c 'mcp_servers.relay.default_tools_approval_mode="approve"')
  if [ "${CODEX_BYPASS:-0}" = "1" ]; then
    opts+=(--dangerously-bypass-approvals-and-sandbox)
  else
    opts+=(-c "sandbox_mode=\"${CODEX_SANDBOX:-read-only}\"")
  fi
  if [ -n "${CODEX_CD:-}" ] && [ -z "${SESSION_ID:-}" ]; then
    opts+=(--cd "$CODEX_CD")  # a resumed session keeps the folder it started in
  fi
  if [ -n "${CODEX_ARGS:-}" ]; then
    read -r -a extra <<<"$CODEX_ARGS"
    opts+=("${extra[@]}")
  fi
  codex=${CODEX_BIN:-codex}
  echo "codex-auto-review: reviewing #${RELAY_IDS// /, #} on ${RELAY_TARGET}" >&2
  # stdin from /dev/null: codex exec appends piped stdin to the prompt and would wait for it.
  if [ -n "${SESSION_ID:-}" ]; then
    exec "$codex" exec resume "${opts[@]}" "$SESSION_ID" "$prompt" </dev/null
  fi
  exec "$codex" exec "${opts[@]}" "$prompt" </dev/null
fi

here=$(cd "$(dirname "$0")" && pwd)
self="$here/$(basename "$0")"
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
if ! command -v "${CODEX_BIN:-codex}" >/dev/null 2>&1; then
  echo "codex-auto-review: ${CODEX_BIN:-codex} is not on PATH; install Codex or set CODEX_BIN" >&2
  exit 1
fi

quote() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }
args=(watch "${TARGET:-proj-x}" --from "${WATCH_SENDER:-claude}" --exec "$(quote "$self") --run-batch")
if [ -n "${LASTFILE:-}" ]; then
  args+=(--state-file "$LASTFILE")
fi
if [ -n "${SINCE:-}" ]; then
  args+=(--since "$SINCE")
fi
if [ "${ONCE:-0}" = "1" ]; then
  args+=(--once)
fi
exec "$relay" "${args[@]}"
