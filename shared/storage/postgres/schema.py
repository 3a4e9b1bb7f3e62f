"""The relay's tables in PostgreSQL, versioned, created on first use when the role may.

Version 1:

- ``relay_channels``: one row per channel holding its counter. An append increments ``last_id`` and
  inserts the message in the same transaction, so ids are 1, 2, 3... with no gap even when an append
  rolls back (a SEQUENCE would leave one), and the row lock orders concurrent appends to one channel.
- ``relay_messages``: the records; ``extra`` keeps keys other tools wrote (``relay store copy`` of a
  JSONL file); ``idem`` is the idempotency key that makes retrying a commit of unknown outcome safe.
- ``relay_positions``: saved read positions per identity and channel.
"""

from __future__ import annotations

from typing import Any

SCHEMA_VERSION = 1
NOTIFY_CHANNEL = "relay_posts"

_V1 = """
CREATE TABLE IF NOT EXISTS relay_channels (
    name text PRIMARY KEY,
    last_id bigint NOT NULL DEFAULT 0,
    last_ts double precision,
    last_sender text
);
CREATE TABLE IF NOT EXISTS relay_messages (
    channel text NOT NULL REFERENCES relay_channels (name),
    id bigint NOT NULL,
    ts double precision NOT NULL,
    sender text NOT NULL,
    text text NOT NULL,
    source text,
    reply_to bigint,
    extra jsonb,
    idem uuid,
    PRIMARY KEY (channel, id)
);
CREATE UNIQUE INDEX IF NOT EXISTS relay_messages_idem ON relay_messages (idem) WHERE idem IS NOT NULL;
CREATE TABLE IF NOT EXISTS relay_positions (
    identity text NOT NULL,
    channel text NOT NULL,
    position bigint NOT NULL,
    PRIMARY KEY (identity, channel)
);
"""

MIGRATIONS: dict[int, str] = {1: _V1}
"""Version -> the SQL that brings the schema from the version before it to this one."""

GRANTS = """\
-- Run as the owner of the relay's tables (the role that ran `relay store migrate`):
GRANT SELECT, INSERT, UPDATE ON relay_channels, relay_messages, relay_positions TO {role};
GRANT SELECT ON relay_schema TO {role};"""
"""The minimal grants a role needs to use an existing schema (docs/teams.md)."""


def current_version(cur: Any) -> int | None:
    """The schema version, or None when the relay's tables do not exist yet."""
    cur.execute("SELECT to_regclass('relay_schema') IS NOT NULL")
    if not cur.fetchone()[0]:
        return None
    cur.execute("SELECT max(version) FROM relay_schema")
    row = cur.fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def migrate(conn: Any) -> tuple[int | None, int]:
    """Bring the schema up to :data:`SCHEMA_VERSION` in one transaction; returns (before, after).

    An advisory lock makes concurrent first uses (several agents starting at once) take turns.
    """
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(hashtext('claude-codex-relay schema'))")
        # An advisory lock does not refresh the catalog snapshot, so a table another session created
        # meanwhile may look missing to to_regclass: create it only if absent, then read the version.
        before = current_version(cur)
        cur.execute("CREATE TABLE IF NOT EXISTS relay_schema (version integer NOT NULL, "
                    "applied_at timestamptz NOT NULL DEFAULT now())")  # fmt: skip
        cur.execute("SELECT max(version) FROM relay_schema")
        row = cur.fetchone()
        before = int(row[0]) if row and row[0] is not None else before
        for version in range((before or 0) + 1, SCHEMA_VERSION + 1):
            cur.execute(MIGRATIONS[version])
            cur.execute("INSERT INTO relay_schema (version) VALUES (%s)", (version,))
    return before, SCHEMA_VERSION
