#!/usr/bin/env bash
# Watch a relay channel and print the new messages of one sender: the original relay's poller, against
# relay-web's HTTP API. Each round reads every message after the last one seen (by since_id, so nothing
# is missed however many arrive between rounds), prints
#   new_messages from <sender>
#   #<id> [<sender>] <first line of the text>
# for the new ones from WATCH_SENDER, and saves the newest id in LASTFILE. Every third quiet round it
# prints a heartbeat line. Needs bash, curl and jq.
#
# Environment:
#   BASE_URL      relay-web's address (default http://127.0.0.1:8010)
#   LASTFILE      required: the file that keeps the id of the last message reported
#   TARGET        channel to watch (default proj-x)
#   INTERVAL      seconds between rounds (default 20)
#   WATCH_SENDER  sender whose messages are reported (default claude)
#   AUTH_TOKEN    the relay's auth_token, if it has one (sent as a Bearer token)
#   MAX_ROUNDS    stop after this many rounds (default 0: run until stopped)
set -euo pipefail

: "${LASTFILE:?LASTFILE is required: the file that keeps the id of the last message reported}"
BASE_URL=${BASE_URL:-http://127.0.0.1:8010}
BASE_URL=${BASE_URL%/}
TARGET=${TARGET:-proj-x}
INTERVAL=${INTERVAL:-20}
WATCH_SENDER=${WATCH_SENDER:-claude}
MAX_ROUNDS=${MAX_ROUNDS:-0}

for tool in curl jq; do
  command -v "$tool" >/dev/null 2>&1 || { echo "review-poll: $tool is required (apt-get install $tool)" >&2; exit 2; }
done
case "$INTERVAL$MAX_ROUNDS" in *[!0-9.]*) echo "review-poll: INTERVAL and MAX_ROUNDS must be numbers" >&2; exit 2 ;; esac

auth=()
if [ -n "${AUTH_TOKEN:-}" ]; then
  auth=(-H "Authorization: Bearer $AUTH_TOKEN")
fi

# One page of messages after $1, as JSON; fails (after printing why) when the relay cannot be read.
fetch() {
  local body status
  body=$(curl -sS --max-time 30 -w '\n%{http_code}' "${auth[@]}" --get \
    --data-urlencode "target=$TARGET" --data "since_id=$1" --data "limit=500" \
    "$BASE_URL/api/messages") || { echo "review-poll: cannot reach $BASE_URL" >&2; return 1; }
  status=${body##*$'\n'}
  body=${body%$'\n'*}
  if [ "$status" != 200 ]; then
    echo "review-poll: $BASE_URL answered $status: $(jq -r '.error // .' <<<"$body" 2>/dev/null || echo "$body")" >&2
    return 1
  fi
  printf '%s\n' "$body"
}

read_last() {
  local last
  last=$(cat "$LASTFILE" 2>/dev/null || true)
  case "$last" in '' | *[!0-9]*) echo 0 ;; *) echo "$last" ;; esac
}

round=0
while :; do
  round=$((round + 1))
  last=$(read_last)
  since=$last
  newest=$last
  report=""
  while page=$(fetch "$since"); do
    lines=$(jq -r --arg who "$WATCH_SENDER" \
      '.messages[] | select(.sender == $who) | "#\(.id) [\(.sender)] \((.text // "") | split("\n")[0])"' <<<"$page")
    [ -n "$lines" ] && report+="$lines"$'\n'
    newest=$(jq --arg who "$WATCH_SENDER" --argjson old "$newest" \
      '[.messages[] | select(.sender == $who) | .id] + [$old] | max' <<<"$page")
    since=$(jq '.latest_id' <<<"$page")
    [ "$(jq '.has_more' <<<"$page")" = true ] || break
  done
  if [ -n "$report" ]; then
    echo "new_messages from $WATCH_SENDER"
    printf '%s' "$report"
    printf '%s\n' "$newest" >"$LASTFILE.tmp" && mv "$LASTFILE.tmp" "$LASTFILE"
  elif [ $((round % 3)) -eq 0 ]; then
    echo "heartbeat $(date '+%Y-%m-%d %H:%M:%S'): no new messages from $WATCH_SENDER in $TARGET (last #$last)"
  fi
  if [ "$MAX_ROUNDS" -gt 0 ] && [ "$round" -ge "$MAX_ROUNDS" ]; then
    exit 0
  fi
  sleep "$INTERVAL"
done
