"""Records written by other tools, with any JSON value in any field, through every reader.

The channel files are a public format (``jq``, scripts, other relays append to them). Whatever value a
line holds in ``ts``, ``sender``, ``text``, ``reply_to``, ``source`` or an unknown key, every reader
must answer: the viewer's pages and live updates, ``/api/messages`` and ``/api/channels`` (with
standard JSON), ``relay tail`` and ``relay channels``, the MCP tools and channel resource, and
``relay check``, which notes odd values of a served record without failing or quarantining it.
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import Any

import anyio
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client

from relay_stdio.cli import main
from relay_stdio.server import build_server
from relay_web import create_app
from shared.config import resolve_config
from shared.relay import Relay
from shared.storage.files import jsonl
from tests.reliability import count

FIELDS = ["ts", "target", "sender", "text", "reply_to", "source", "extra"]
GOOD = {"ts": 1_764_000_000.5, "target": "t", "sender": "s", "text": "a message"}


def _strict(raw: str) -> Any:
    """Parse as standard JSON: NaN and Infinity are not JSON, and browsers' JSON.parse refuses them."""

    def refuse(constant: str) -> Any:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(raw, parse_constant=refuse)


def _line(record_id: int, **fields: Any) -> str:
    return json.dumps({"id": record_id, **GOOD, **fields}, ensure_ascii=False) + "\n"


def _channel_file(data_dir: Path, odd: dict[str, Any]) -> tuple[list[int], bool]:
    """Records 1 and 3 are the relay's own; record 2 holds ``odd``. Returns the ids readers serve and
    whether record 2 is a record at all (a wrong-typed required field makes it a malformed line)."""
    middle = _line(2, **odd)
    served = jsonl.parse_record(middle.encode()) is not None
    channels = data_dir / "channels"
    channels.mkdir(parents=True, exist_ok=True)
    (channels / "t.jsonl").write_text(_line(1) + middle + _line(3), encoding="utf-8")
    return ([1, 2, 3] if served else [1, 3]), served


def _check_web(data_dir: Path, ids: list[int]) -> None:
    app = create_app(resolve_config({"data_dir": str(data_dir)}, env={}), {"TESTING": True})
    client = app.test_client()  # TESTING: any exception in a view reaches this test
    for path in ("/", "/channels/t"):
        response = client.get(path)
        assert response.status_code == 200, path
    page = client.get("/channels/t").get_data(as_text=True)
    assert [int(i) for i in re.findall(r'<article[^>]*\sdata-id="(\d+)"', page)] == ids
    for path in ("/ui/channels/t/updates?since_id=0", "/ui/channels/t/older?before_id=9"):
        answer = client.get(path)
        assert answer.status_code == 200, path
        assert [m["id"] for m in _strict(answer.get_data(as_text=True))["messages"]] == ids
    messages = client.get("/api/messages?target=t")
    assert messages.status_code == 200
    assert [m["id"] for m in _strict(messages.get_data(as_text=True))["messages"]] == ids
    channels = client.get("/api/channels")
    assert channels.status_code == 200 and "t" in _strict(channels.get_data(as_text=True))["channels"]


def _check_cli(data_dir: Path, ids: list[int], served: bool) -> None:
    runner = CliRunner()
    base = ["--data-dir", str(data_dir)]
    for args in (["tail", "t"], ["tail", "t", "--since", "0"], ["channels"], ["channels", "--json"]):
        result = runner.invoke(main, [*base, *args])
        assert result.exit_code == 0 and result.exception is None, (args, result.output)
        assert "\x1b" not in result.stdout  # a value written by another tool cannot drive the terminal
    tail = runner.invoke(main, [*base, "tail", "t", "--json"])
    assert tail.exit_code == 0, tail.output
    # One record per "\n": str.splitlines would also split at U+2028 or U+0085 inside a text.
    assert [_strict(line)["id"] for line in tail.stdout.split("\n") if line] == ids
    checked = runner.invoke(main, [*base, "check"])
    assert checked.exception is None or isinstance(checked.exception, SystemExit)
    # A served record only has notes (exit 0); a malformed line is a problem (exit 1).
    assert checked.exit_code == (0 if served else 1), checked.output
    repaired = runner.invoke(main, [*base, "check", "--repair"])
    assert repaired.exit_code == 0, repaired.output
    quarantined = list((data_dir / "channels").glob("t.jsonl.quarantine-*"))
    assert bool(quarantined) == (not served)  # --repair never moves a record that readers serve


async def _check_mcp(data_dir: Path, ids: list[int]) -> None:
    relay = Relay(resolve_config({"data_dir": str(data_dir)}, env={}))
    async with Client(build_server(relay, identity="reader"), raise_exceptions=True) as client:
        for arguments in ({"target": "t", "since_id": 0}, {"target": "t"}):
            fetched = await client.call_tool("fetch_messages", arguments)
            assert not fetched.is_error, fetched.content
            assert fetched.structured_content is not None
            assert [m["id"] for m in fetched.structured_content["messages"]] == ids
        waited = await client.call_tool("wait_for_messages", {"target": "t", "since_id": 0, "timeout_s": 0})
        assert not waited.is_error, waited.content
        listing = await client.call_tool("list_channels", {})
        assert not listing.is_error, listing.content
        resource = await client.read_resource("relay://channel/t")
        text = resource.contents[0].text  # type: ignore[union-attr]
        assert [int(i) for i in re.findall(r"^### #(\d+) ", text, re.M)] == ids


def assert_every_reader_answers(folder: Path, odd: dict[str, Any]) -> None:
    """Write a channel whose middle record holds ``odd`` and read it through every reader.

    ``folder`` is kept until the session ends: the CLI points the process's log files into it.
    """
    data_dir = Path(tempfile.mkdtemp(dir=folder)) / "data"
    ids, served = _channel_file(data_dir, odd)
    _check_web(data_dir, ids)
    _check_mcp_sync(data_dir, ids)
    _check_cli(data_dir, ids, served)  # last: --repair may move record 2 aside
    count("odd_records.served" if served else "odd_records.skipped")


def _check_mcp_sync(data_dir: Path, ids: list[int]) -> None:
    anyio.run(_check_mcp, data_dir, ids)


# The values of the reports, and their neighbours: times no calendar shows, every JSON type where a
# string or an id belongs, NaN and infinities (which Python reads), numbers past any machine integer.
REPORTED: list[dict[str, Any]] = [
    {"ts": 1e300},
    {"ts": -1e300},
    {"ts": -1},
    {"ts": 253_402_300_800},  # the first second of the year 10000
    {"ts": -62_135_596_801},  # the last second before the year 1
    {"ts": 10**30},
    {"ts": "2025-01-01"},
    {"ts": True},
    {"ts": float("nan")},
    {"sender": 5},
    {"sender": ["a", "b"]},
    {"sender": ""},
    {"sender": "   "},
    {"sender": "evil\x1b]0;title\x07\x1b[2J"},
    {"sender": "x" * 5000},
    {"text": {"a": 1}},
    {"text": ""},
    {"text": "bell\x07 and escape \x1b[31mred"},
    {"target": "another-channel"},
    {"target": 7},
    {"reply_to": "5"},
    {"reply_to": -3},
    {"reply_to": True},
    {"reply_to": 1e300},
    {"reply_to": float("nan")},
    {"reply_to": 10**40},
    {"source": ["mcp"]},
    {"source": "carrier pigeon"},
    {"extra": float("inf")},
    {"extra": {"deep": [float("-inf"), {"x": float("nan")}]}},
    {"extra": 10**300},
]


@pytest.mark.parametrize("odd", REPORTED, ids=[repr(o)[:60] for o in REPORTED])
def test_every_reader_answers_whatever_a_field_holds(tmp_path: Path, odd: dict[str, Any]) -> None:
    assert_every_reader_answers(tmp_path, odd)


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats()  # NaN, infinities, -0.0, subnormals and 1e308 included
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=8,
)


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(fields=st.dictionaries(st.sampled_from(FIELDS), JSON_VALUES, min_size=1, max_size=3))
def test_every_reader_answers_arbitrary_json_in_any_field(
    tmp_path_factory: pytest.TempPathFactory, fields: dict[str, Any]
) -> None:
    assert_every_reader_answers(tmp_path_factory.getbasetemp(), fields)


def test_check_notes_odd_values_of_a_served_record_and_says_how_readers_show_them(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    odd = {"ts": 1e300, "reply_to": "5", "sender": "", "extra": float("nan")}
    _channel_file(data_dir, odd)
    result = CliRunner().invoke(main, ["--data-dir", str(data_dir), "check"])
    assert result.exit_code == 0, result.output
    notes = [line for line in result.output.splitlines() if ":2: odd value: " in line]
    assert len(notes) == 4, result.output
    for fragment in ("ts 1e+300 is no date", "reply_to '5' is not a message id", "sender", "NaN"):
        assert any(fragment in note for note in notes), fragment
    assert "0 problem(s) and 4 note(s)" in result.output


def test_check_reports_an_id_past_any_store_instead_of_crashing(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    channels = data_dir / "channels"
    channels.mkdir(parents=True)
    (channels / "t.jsonl").write_text(_line(1) + _line(10**20) + _line(10**20 + 1), encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(main, ["--data-dir", str(data_dir), "check"])
    assert result.exit_code == 1 and result.exception is not None and isinstance(result.exception, SystemExit)
    assert f":2: huge id: id {10**20} is over {2**63 - 1}" in result.output
    repaired = runner.invoke(main, ["--data-dir", str(data_dir), "check", "--repair"])
    assert repaired.exit_code == 0, repaired.output
    assert [json.loads(line)["id"] for line in (channels / "t.jsonl").read_text().splitlines()] == [1]
