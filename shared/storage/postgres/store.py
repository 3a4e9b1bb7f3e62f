"""Channels and read positions in a PostgreSQL database shared by agents on any number of machines.

The same semantics as the file store (ids 1, 2, 3... per channel with no gap and no reuse, read
positions that only move forward, the same names, sizes and errors), on an engine that is
transactional, durable and reachable over the network. Every call is a single statement on a pooled
autocommit connection, so a call is one transaction and one round trip. Parameters are always passed
apart from the SQL text.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import psycopg
import psycopg.errors
from psycopg.conninfo import conninfo_to_dict
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool, PoolTimeout

from shared.errors import StoreError, StoreUnavailable
from shared.models import (
    DEFAULT_MAX_MESSAGE_BYTES,
    ChannelStats,
    Message,
    normalize_sender,
    normalize_target,
    validate_id,
    validate_text,
)
from shared.search import Found, SearchQuery
from shared.storage.postgres import schema
from shared.storage.postgres.listen import ListenHub, PipeSubscription

log = logging.getLogger("relay.postgres")
T = TypeVar("T")

_COLUMNS = "id, ts, channel, sender, text, source, reply_to, extra"
_KNOWN = ("id", "ts", "target", "sender", "text", "source", "reply_to")

# One statement, so one transaction and one round trip: bump the channel's counter (creating the
# channel on its first message), insert the message under that id, and notify the listeners; the
# counter row's lock orders concurrent appends, and a rollback takes the increment back with it.
_APPEND = f"""
WITH c AS (
    INSERT INTO relay_channels AS c (name, last_id, last_ts, last_sender)
    VALUES (%(target)s, 1, round(extract(epoch FROM clock_timestamp())::numeric, 6)::float8, %(sender)s)
    ON CONFLICT (name) DO UPDATE
    SET last_id = c.last_id + 1, last_ts = EXCLUDED.last_ts, last_sender = EXCLUDED.last_sender
    RETURNING last_id, last_ts
), m AS (
    INSERT INTO relay_messages (channel, id, ts, sender, text, source, reply_to, idem)
    SELECT %(target)s, last_id, last_ts, %(sender)s, %(text)s, %(source)s, %(reply_to)s, %(idem)s FROM c
    RETURNING {_COLUMNS}
)
SELECT m.*, pg_notify('{schema.NOTIFY_CHANNEL}', %(target)s) FROM m
"""


def safe_description(url: str) -> str:
    """``postgresql://user@host:port/db``: the URL without its password, fit for logs and errors."""
    try:
        parts = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "postgresql://(unparsable URL)"
    user = f"{parts['user']}@" if parts.get("user") else ""
    port = f":{parts['port']}" if parts.get("port") else ""
    return f"postgresql://{user}{parts.get('host', 'localhost')}{port}/{parts.get('dbname', '')}"


_SEARCH_PAGE = 500


def _search_page(
    query: SearchQuery, channel: str | None, after: tuple[float, str, int] | None
) -> tuple[str, tuple[Any, ...]]:
    """One page of search candidates, newest first, after the row ``after`` (keyset paging)."""
    where: list[str] = []
    params: list[Any] = []
    if channel is not None:
        where.append("channel = %s")
        params.append(channel)
    if after is not None:
        where.append("(ts, channel, id) < (%s, %s, %s)")
        params.extend(after)
    # Python's case folding and PostgreSQL's lower() agree on ASCII text only ("Straße" folds to
    # "strasse"): an ASCII row is narrowed in SQL, a row with any other character is always checked
    # by Python. A word that is not ASCII once folded can only be in a row that is not ASCII.
    haystack = "(text || E'\\n' || sender)"
    not_ascii = f"octet_length{haystack} <> char_length{haystack}"
    if query.ascii_words is None:
        where.append(not_ascii)
    else:
        words = " AND ".join(f"strpos(lower{haystack}, %s) > 0" for _ in query.words)
        where.append(f"(({words}) OR {not_ascii})")
        params.extend(query.words)
    condition = " AND ".join(where) if where else "TRUE"
    sql = (
        f"SELECT {_COLUMNS} FROM relay_messages WHERE {condition} "
        "ORDER BY ts DESC, channel DESC, id DESC LIMIT %s"
    )
    return sql, (*params, _SEARCH_PAGE)


def _record(row: tuple[Any, ...]) -> Message:
    record: Message = {"id": row[0], "ts": row[1], "target": row[2], "sender": row[3], "text": row[4]}
    if row[5] is not None:
        record["source"] = row[5]
    if row[6] is not None:
        record["reply_to"] = row[6]
    if row[7]:
        record.update({k: v for k, v in row[7].items() if k not in record})
    return record


class PostgresStore:
    """Messages and read positions in the database at ``url`` (a libpq URL, ``sslmode`` included).

    Args:
        url: ``postgresql://user[:password]@host[:port]/db[?sslmode=...]``; the password may also come
            from ``PGPASSWORD`` or ``~/.pgpass``, as libpq reads them.
        max_message_bytes: the largest text accepted, in UTF-8 bytes.
        timeout_s: how long a call waits for a connection before failing with StoreUnavailable.
        pool_size: connections kept per process at most.
    """

    blocking = True

    def __init__(
        self,
        url: str,
        *,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        timeout_s: float = 10.0,
        pool_size: int = 8,
    ) -> None:
        self.url = url
        self.description = safe_description(url)
        self.max_message_bytes = max_message_bytes
        self.timeout_s = timeout_s
        self._password = str(conninfo_to_dict(url).get("password") or "")
        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=pool_size,
            kwargs={"autocommit": True, "connect_timeout": max(2, int(timeout_s))},
            timeout=timeout_s,
            reconnect_timeout=0,  # never give up: the database may come back hours later
            open=False,
            name="relay",
        )
        self._opened = False
        self._schema_ready = False
        self._guard = threading.Lock()
        self._hub = ListenHub(self._listen_connection)

    # --- connections and errors ------------------------------------------------------------------

    def _listen_connection(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.url, autocommit=True, connect_timeout=max(2, int(self.timeout_s)))

    def _scrub(self, text: str) -> str:
        return text.replace(self._password, "***") if self._password else text

    def _unavailable(self, exc: BaseException, doing: str) -> StoreUnavailable:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return StoreUnavailable(
            f"store unavailable: cannot reach PostgreSQL at {self.description} ({self._scrub(reason)}); "
            f"{doing}. The relay reconnects by itself: retry in a moment, and if this persists check "
            "that the database is running and reachable (relay doctor, docs/teams.md)"
        )

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        if not self._opened:
            with self._guard:
                if not self._opened:
                    self._pool.open(wait=False)
                    self._opened = True
        with self._pool.connection() as conn:
            yield conn

    def _call(self, work: Callable[[psycopg.Connection[Any]], T], doing: str) -> T:
        """Run ``work`` on a pooled connection; one retry on a connection that broke since its last use."""
        self._ensure_schema(doing)
        for attempt in range(2):
            try:
                with self._connection() as conn:
                    return work(conn)
            except PoolTimeout as exc:
                raise self._unavailable(exc, doing) from None
            except psycopg.OperationalError as exc:
                if attempt:
                    raise self._unavailable(exc, doing) from None
                self._pool.check()  # drop every connection the outage broke, then try once more
            except psycopg.errors.InsufficientPrivilege as exc:
                raise StoreError(
                    f"PostgreSQL refused the relay's role at {self.description}: {self._scrub(str(exc))}. "
                    "Grant it the privileges listed in docs/teams.md (Roles and grants)"
                ) from None
        raise AssertionError("unreachable")

    def _ensure_schema(self, doing: str) -> None:
        if self._schema_ready:
            return
        try:
            with self._connection() as conn:
                version = schema.current_version(conn.cursor())
                if version is None or version < schema.SCHEMA_VERSION:
                    try:
                        before, after = schema.migrate(conn)
                    except psycopg.errors.InsufficientPrivilege:
                        raise StoreError(
                            f"the relay's tables in {self.description} are "
                            f"{'missing' if version is None else f'at version {version}'} and this role "
                            f"may not {'create' if version is None else 'upgrade'} them. Run `relay store "
                            "migrate` once with a role that owns the database (docs/teams.md)"
                        ) from None
                    log.info("PostgreSQL schema at %s: version %s -> %s", self.description, before, after)
                elif version > schema.SCHEMA_VERSION:
                    raise StoreError(
                        f"the relay's tables in {self.description} are at version {version}, newer than "
                        f"this relay understands ({schema.SCHEMA_VERSION}); upgrade claude-codex-relay"
                    )
        except (PoolTimeout, psycopg.OperationalError) as exc:
            raise self._unavailable(exc, doing) from None
        self._schema_ready = True

    def migrate(self) -> tuple[int | None, int]:
        """Create or upgrade the schema now (``relay store migrate``); returns (before, after)."""
        try:
            with self._connection() as conn:
                done = schema.migrate(conn)
        except (PoolTimeout, psycopg.OperationalError) as exc:
            raise self._unavailable(exc, "nothing was changed") from None
        self._schema_ready = True
        return done

    def ensure_ready(self) -> None:
        """Reach the database and make sure the schema is there (StoreUnavailable when it is down)."""
        self._ensure_schema("the store could not be checked")

    # --- writes ----------------------------------------------------------------------------------

    def append(
        self, target: str, sender: str, text: str, *, source: str | None = None, reply_to: int | None = None
    ) -> Message:
        """Append one message under the channel's next id and return its record.

        A commit whose answer was lost (the connection broke mid-call) is looked up by its idempotency
        key before anything is retried, so a retried append is never stored twice.
        """
        params = {
            "target": normalize_target(target),
            "sender": normalize_sender(sender),
            "text": validate_text(text, self.max_message_bytes),
            "source": source,
            "reply_to": validate_id(reply_to, "reply_to") if reply_to is not None else None,
            "idem": uuid.uuid4(),
        }
        self._ensure_schema("nothing was posted")
        deadline = time.monotonic() + self.timeout_s
        sent = False
        while True:
            try:
                with self._connection() as conn:
                    if sent:  # an earlier try may have committed: its key tells
                        row = conn.execute(
                            f"SELECT {_COLUMNS} FROM relay_messages WHERE idem = %s", (params["idem"],)
                        ).fetchone()
                        if row is not None:
                            return _record(row)
                    sent = True
                    row = conn.execute(_APPEND, params).fetchone()
                    assert row is not None
                    return _record(row)
            except psycopg.errors.UniqueViolation:
                continue  # our own earlier try committed after all: the lookup above returns it
            except (PoolTimeout, psycopg.OperationalError) as exc:
                if time.monotonic() >= deadline:
                    doing = "the message may or may not have been stored" if sent else "nothing was posted"
                    raise self._unavailable(exc, doing) from None
                self._pool.check()
                time.sleep(0.05)

    def import_records(self, target: str, records: list[Message]) -> int:
        """Insert records with their own ids (``relay store copy``), skipping ids already present.

        Returns how many were new. The channel's counter moves to the largest id, so later appends
        continue after the copied history.
        """
        target = normalize_target(target)
        rows = []
        for rec in records:
            extra = {k: v for k, v in rec.items() if k not in _KNOWN}
            rows.append((
                target, rec["id"], float(rec.get("ts") or 0.0), str(rec.get("sender", "")),
                str(rec.get("text", "")), rec.get("source"), rec.get("reply_to"),
                Jsonb(extra) if extra else None,
            ))  # fmt: skip
        if not rows:
            return 0
        last = rows[-1]

        def work(conn: psycopg.Connection[Any]) -> int:
            with conn.transaction(), conn.cursor() as cur:
                cur.execute(
                    "INSERT INTO relay_channels (name, last_id, last_ts, last_sender) "
                    "VALUES (%s, %s, %s, %s) "
                    "ON CONFLICT (name) DO UPDATE SET last_id = GREATEST(relay_channels.last_id, "
                    "EXCLUDED.last_id), last_ts = CASE WHEN EXCLUDED.last_id >= relay_channels.last_id "
                    "THEN EXCLUDED.last_ts ELSE relay_channels.last_ts END, last_sender = CASE WHEN "
                    "EXCLUDED.last_id >= relay_channels.last_id THEN EXCLUDED.last_sender ELSE "
                    "relay_channels.last_sender END",
                    (target, last[1], last[2], last[3]),
                )
                before = cur.execute("SELECT count(*) FROM relay_messages WHERE channel = %s", (target,))
                count_before = before.fetchone()[0]  # type: ignore[index]
                cur.executemany(
                    "INSERT INTO relay_messages (channel, id, ts, sender, text, source, reply_to, extra) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (channel, id) DO NOTHING",
                    rows,
                )
                after = cur.execute("SELECT count(*) FROM relay_messages WHERE channel = %s", (target,))
                count = int(after.fetchone()[0]) - int(count_before)  # type: ignore[index]
                cur.execute(f"SELECT pg_notify('{schema.NOTIFY_CHANNEL}', %s)", (target,))
                return count

        return self._call(work, "nothing was copied")

    # --- reads -----------------------------------------------------------------------------------

    def _rows(self, sql: str, params: tuple[Any, ...], doing: str = "nothing was read") -> list[Message]:
        return self._call(lambda conn: [_record(r) for r in conn.execute(sql, params).fetchall()], doing)

    def read_since(self, target: str, since_id: int, limit: int) -> tuple[list[Message], bool]:
        """Messages with id > ``since_id``, oldest first, at most ``limit``, and whether more follow."""
        target = normalize_target(target)
        since_id = validate_id(since_id, "since_id")
        found = self._rows(
            f"SELECT {_COLUMNS} FROM relay_messages WHERE channel = %s AND id > %s ORDER BY id LIMIT %s",
            (target, since_id, max(0, limit) + 1),
        )
        return found[:limit], len(found) > limit

    def read_last(self, target: str, limit: int) -> list[Message]:
        """The last ``limit`` messages, oldest first."""
        target = normalize_target(target)
        found = self._rows(
            f"SELECT {_COLUMNS} FROM relay_messages WHERE channel = %s ORDER BY id DESC LIMIT %s",
            (target, max(0, limit)),
        )
        return found[::-1]

    def read_before(self, target: str, before_id: int, limit: int) -> tuple[list[Message], bool]:
        """The last ``limit`` messages with id < ``before_id``, oldest first, and whether older ones exist."""
        target = normalize_target(target)
        before_id = validate_id(before_id, "before_id")
        found = self._rows(
            f"SELECT {_COLUMNS} FROM relay_messages WHERE channel = %s AND id < %s ORDER BY id DESC LIMIT %s",
            (target, before_id, max(0, limit) + 1),
        )
        return found[:limit][::-1], len(found) > limit

    def search(self, query: str, target: str | None, limit: int, deadline_s: float) -> Found:
        """Messages holding every word of ``query``, newest first (the rules of ``shared/search.py``).

        The database narrows each page (``_search_page``) and Python checks every candidate with the
        same rule as the files, so both backends answer alike; pages of ``_SEARCH_PAGE`` rows are read
        newest first until ``limit`` matches or ``deadline_s``.
        """
        parsed = SearchQuery.parse(query)
        channel = normalize_target(target) if target is not None else None
        stop_at = time.monotonic() + deadline_s
        found = Found()
        after: tuple[float, str, int] | None = None
        while len(found) < limit:
            if time.monotonic() > stop_at:
                found.complete = False
                break
            page = self._rows(*_search_page(parsed, channel, after))
            found.extend(r for r in page if parsed.matches(r))
            if len(page) < _SEARCH_PAGE:
                break
            last = page[-1]
            after = (last["ts"], last["target"], last["id"])
        del found[limit:]
        return found

    def stats(self, target: str) -> ChannelStats:
        target = normalize_target(target)
        row = self._call(
            lambda conn: conn.execute(
                "SELECT last_id, last_ts, last_sender FROM relay_channels WHERE name = %s", (target,)
            ).fetchone(),
            "nothing was read",
        )
        if row is None or not row[0]:
            return ChannelStats(target, 0, 0, None, None)
        return ChannelStats(target, row[0], row[0], row[1], row[2])

    def list_channels(self) -> list[ChannelStats]:
        rows = self._call(
            lambda conn: conn.execute(
                "SELECT name, last_id, last_ts, last_sender FROM relay_channels "
                "WHERE last_id > 0 ORDER BY name"
            ).fetchall(),
            "nothing was read",
        )
        return [ChannelStats(r[0], r[1], r[1], r[2], r[3]) for r in rows]

    def cheap_read(self, target: str, limit: int) -> bool:
        """Never: every read is a network round trip, so it runs on a worker thread."""
        return False

    # --- changes ---------------------------------------------------------------------------------

    def version(self, target: str) -> int:
        """The channel's last id: every append moves it."""
        return self.stats(target).latest_id

    def subscribe(self, targets: Collection[str] | None = None) -> PipeSubscription:
        """Be told of appends to ``targets`` (None: all) by any process on any machine."""
        names = [normalize_target(t) for t in targets] if targets is not None else None
        return self._hub.subscribe(names)

    # --- read positions --------------------------------------------------------------------------

    def get_position(self, identity: str, target: str) -> int:
        identity, target = normalize_sender(identity).lower(), normalize_target(target)
        row = self._call(
            lambda conn: conn.execute(
                "SELECT position FROM relay_positions WHERE identity = %s AND channel = %s",
                (identity, target),
            ).fetchone(),
            "nothing was read",
        )
        return int(row[0]) if row else 0

    def _set_position(self, identity: str, target: str, position: int, forward_only: bool) -> int:
        identity, target = normalize_sender(identity).lower(), normalize_target(target)
        rule = (
            "GREATEST(relay_positions.position, EXCLUDED.position)" if forward_only else "EXCLUDED.position"
        )
        row = self._call(
            lambda conn: conn.execute(
                "INSERT INTO relay_positions AS relay_positions (identity, channel, position) "
                f"VALUES (%s, %s, %s) ON CONFLICT (identity, channel) DO UPDATE SET position = {rule} "
                "RETURNING position",
                (identity, target, position),
            ).fetchone(),
            "the read position was not saved",
        )
        assert row is not None
        return int(row[0])

    def advance_position(self, identity: str, target: str, latest_id: int) -> int:
        return self._set_position(identity, target, latest_id, forward_only=True)

    def reset_position(self, identity: str, target: str, position: int) -> int:
        return self._set_position(identity, target, position, forward_only=False)

    def positions(self) -> dict[str, dict[str, int]]:
        rows = self._call(
            lambda conn: conn.execute("SELECT identity, channel, position FROM relay_positions").fetchall(),
            "nothing was read",
        )
        found: dict[str, dict[str, int]] = {}
        for identity, channel, position in rows:
            found.setdefault(identity, {})[channel] = int(position)
        return found

    def close(self) -> None:
        self._hub.close()
        if self._opened:
            self._pool.close()
