"""Property-based tests of the store against a simple in-memory model (hypothesis).

The model is a list of (sender, text) per channel plus each identity's read position; validity is
judged by an oracle written from the contract, independently of ``shared.models``. Some posts come from
another process. Case counts are reported in the run's reliability summary.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from shared.config import resolve_config
from shared.errors import InvalidInput, InvalidSender, InvalidTarget, InvalidText, MessageTooLarge
from shared.models import FETCH_LIMIT_MAX, MAX_ID
from shared.relay import Relay
from shared.storage.files import jsonl
from shared.storage.files.store import FileStore
from tests import fault_workers
from tests.reliability import count

MAX_BYTES = 64  # small, so the size bound is hit often
SETTINGS = settings(
    max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)

# --- the oracle: the contract's rules, written out independently ------------------------------------

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*", re.ASCII)


def oracle_target(value: str) -> str | None:
    name = value.strip()
    if 1 <= len(name) <= 64 and _NAME.fullmatch(name):
        return name.lower()
    return None


def _controls(value: str, allowed: str = "") -> bool:
    return any(unicodedata.category(ch) in ("Cc", "Cs") and ch not in allowed for ch in value)


def oracle_sender(value: str) -> str | None:
    name = value.strip()
    return name if 1 <= len(name) <= 64 and not _controls(name) else None


def oracle_text(value: str, max_bytes: int) -> type[InvalidInput] | None:
    """None when the text may be posted, else the error class it must raise."""
    if not value.strip() or _controls(value, "\t\n\r"):
        return InvalidText
    if len(value.encode("utf-8", "surrogatepass")) > max_bytes:
        return MessageTooLarge
    return None


# --- strategies -------------------------------------------------------------------------------------

SPECIAL = [
    "\x00", "\x01", "\x1b", "\x7f", "\x85", "\t", "\n", "\r", " ", "\u3000", "\u00a0",
    "\u200b", "\u200f", "\u202e", "\u2028", "\ufeff", "\ufffd", "\ud800", "\udfff",
    "é", "e\u0301", "日本", "🎉", "👩‍👩‍👧", "а", "ſ", "K", "/", "\\", ".", "..", "%2e", "-", "_",
]  # fmt: skip
texts = st.lists(st.one_of(st.sampled_from(SPECIAL), st.characters()), max_size=40).map("".join)
WIDTHS = ["a", "é", "✓", "🎉"]  # 1, 2, 3 and 4 UTF-8 bytes


@st.composite
def sized_texts(draw: st.DrawFn, max_bytes: int) -> str:
    """Texts of exactly the limit, one byte over, or just under, made of 1- to 4-byte characters."""
    wide = draw(st.sampled_from(WIDTHS))
    target = max_bytes + draw(st.sampled_from([-1, 0, 0, 1, 1, 2]))
    n = max(0, target) // len(wide.encode())
    text = wide * n
    return text + "a" * max(0, target - len(text.encode()))


# Mostly valid values (so channels fill up), with the invalid and the borderline mixed in.
plain = st.text(st.characters(exclude_categories=("Cc", "Cs")), min_size=1, max_size=20)
senders = st.one_of(
    st.sampled_from(["claude", "codex", " Ada ", "x" * 64, "🎉" * 64, "\u202eevil", "名前" * 32]),
    plain,
    st.sampled_from(["y" * 65, "", " ", "a\nb", "\x00", "\ud800"]),
    texts,
)
good_targets = st.sampled_from(["a", "A", " a ", "proj-x", "PROJ-X", "x" * 64, "X" * 64, "9.z_-"])
targets = st.one_of(
    good_targets,
    good_targets,
    good_targets,
    st.sampled_from(["../x", "..", "a/b", "", "-a", ".a", "a\x00", "а", "proj‐x", "%2e%2e", "x" * 65]),
)
post_texts = st.one_of(plain, plain, texts, sized_texts(MAX_BYTES))
identities = st.sampled_from(["claude", "Claude", "🎉" * 64, "名前" * 32, "../" * 21, "%2e%2e"])
limits = st.one_of(st.integers(-3, 12), st.sampled_from([0, -1, 10**9, 2**63, 10**30]))


class StoreMachine(RuleBasedStateMachine):
    """Posts (here and in another process), reads and stats, checked against the model after each step."""

    poster: ClassVar[subprocess.Popen[str] | None] = None
    runs = 0
    steps = 0

    def __init__(self) -> None:
        super().__init__()
        StoreMachine.runs += 1
        self.dir = Path(tempfile.mkdtemp(prefix="relay-prop-"))
        self.store = FileStore(self.dir, max_message_bytes=MAX_BYTES)
        self.relay = Relay(
            resolve_config({"data_dir": str(self.dir), "max_message_bytes": MAX_BYTES}, env={})
        )
        self.model: dict[str, list[tuple[str, str]]] = {}
        self.cursors: dict[tuple[str, str], int] = {}

    def teardown(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def _expect_post(self, target: str, sender: str, text: str, outcome: dict[str, Any]) -> None:
        StoreMachine.steps += 1
        name, who = oracle_target(target), oracle_sender(sender)
        text_error = oracle_text(text, MAX_BYTES)
        if name is None:
            assert outcome.get("error") == "InvalidTarget", outcome
            assert "1 to 64 characters of letters, digits" in outcome["message"]
        elif who is None:
            assert outcome.get("error") == "InvalidSender", outcome
        elif text_error is not None:
            assert outcome.get("error") == text_error.__name__, outcome
            if text_error is MessageTooLarge:
                size = len(text.encode("utf-8"))
                assert f"text is {size} bytes" in outcome["message"]
                assert f"the limit is {MAX_BYTES} bytes" in outcome["message"]
        else:
            assert "record" in outcome, outcome
            record = outcome["record"]
            messages = self.model.setdefault(name, [])
            messages.append((who, text))
            assert (record["id"], record["target"], record["sender"], record["text"]) == (
                len(messages),
                name,
                who,
                text,
            )
            return
        if name is not None:  # a refused post never creates a file
            assert self.model.get(name) or not self.store.channel_path(name).exists()

    @rule(channel=targets, sender=senders, text=post_texts)
    def post(self, channel: str, sender: str, text: str) -> None:
        try:
            outcome: dict[str, Any] = {"record": self.store.append(channel, sender, text)}
        except InvalidInput as exc:
            outcome = {"error": type(exc).__name__, "message": str(exc)}
        self._expect_post(channel, sender, text, outcome)

    @rule(channel=targets, sender=senders, text=post_texts)
    def post_from_another_process(self, channel: str, sender: str, text: str) -> None:
        assert self.poster is not None and self.poster.stdin is not None and self.poster.stdout is not None
        ask = {"data_dir": str(self.dir), "max": MAX_BYTES, "target": channel, "sender": sender, "text": text}
        self.poster.stdin.write(json.dumps(ask) + "\n")
        self.poster.stdin.flush()
        self._expect_post(channel, sender, text, json.loads(self.poster.stdout.readline()))

    def _messages(self, target: str) -> list[tuple[int, str, str]]:
        name = oracle_target(target)
        assert name is not None
        return [(i, s, t) for i, (s, t) in enumerate(self.model.get(name, []), start=1)]

    @rule(channel=targets, limit=limits)
    def read_last(self, channel: str, limit: int) -> None:
        StoreMachine.steps += 1
        if oracle_target(channel) is None:
            with pytest.raises(InvalidTarget):
                self.store.read_last(channel, limit)
            return
        expected = self._messages(channel)[-limit:] if limit > 0 else []
        got = [(m["id"], m["sender"], m["text"]) for m in self.store.read_last(channel, limit)]
        assert got == expected

    @rule(channel=targets, since=st.one_of(st.integers(-3, 20), st.just(10**30)), limit=limits)
    def read_since(self, channel: str, since: int, limit: int) -> None:
        StoreMachine.steps += 1
        if oracle_target(channel) is None or not 0 <= since <= MAX_ID:  # 10**30 is no id
            with pytest.raises((InvalidTarget, InvalidInput)) as caught:
                self.store.read_since(channel, since, limit)
            if oracle_target(channel) is not None:
                assert "since_id must be a whole number >= 0" in str(caught.value)
            return
        after = [m for m in self._messages(channel) if m[0] > since]
        page, more = self.store.read_since(channel, since, limit)
        assert [(m["id"], m["sender"], m["text"]) for m in page] == after[: max(limit, 0)]
        assert more == (len(after) > max(limit, 0))

    @rule(channel=targets, identity=identities, limit=limits)
    def fetch_from_saved_position(self, channel: str, identity: str, limit: int) -> None:
        StoreMachine.steps += 1
        if oracle_target(channel) is None:
            with pytest.raises(InvalidTarget):
                self.relay.fetch(channel, identity=identity, limit=limit)
            return
        key = (identity.lower(), oracle_target(channel) or "")
        start = self.cursors.get(key, 0)
        after = [m for m in self._messages(channel) if m[0] > start]
        page = after[: max(1, min(limit, FETCH_LIMIT_MAX))]
        result = self.relay.fetch(channel, identity=identity, limit=limit)
        assert [(m["id"], m["sender"], m["text"]) for m in result["messages"]] == page
        assert result["latest_id"] == (page[-1][0] if page else start)
        assert result["has_more"] == (len(after) > len(page))
        self.cursors[key] = result["latest_id"]

    @rule(channel=targets)
    def stats(self, channel: str) -> None:
        StoreMachine.steps += 1
        if oracle_target(channel) is None:
            with pytest.raises(InvalidTarget):
                self.store.stats(channel)
            return
        messages = self._messages(channel)
        stats = self.store.stats(channel)
        assert (stats.count, stats.latest_id) == (len(messages), len(messages))
        assert stats.last_sender == (messages[-1][1] if messages else None)
        assert (stats.last_ts is None) == (not messages)

    @rule()
    def list_channels(self) -> None:
        StoreMachine.steps += 1
        listed = [(s.target, s.count) for s in self.store.list_channels()]
        assert listed == sorted((name, len(msgs)) for name, msgs in self.model.items() if msgs)

    @invariant()
    def files_are_valid_jsonl_with_contiguous_ids(self) -> None:
        for name, messages in self.model.items():
            raw = self.store.channel_path(name).read_bytes()
            assert raw.endswith(b"\n") and raw.count(b"\n") == len(messages)
            records = [jsonl.parse_record(line) for line in raw.splitlines()]
            assert [r["id"] if r else None for r in records] == list(range(1, len(messages) + 1))


@pytest.fixture(scope="module")
def poster() -> Iterator[subprocess.Popen[str]]:
    command = [sys.executable, str(Path(fault_workers.__file__))]
    with subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, encoding="utf-8"
    ) as proc:
        yield proc
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(30)


@pytest.mark.slow
def test_store_matches_the_model_across_processes(poster: subprocess.Popen[str]) -> None:
    StoreMachine.poster = poster
    runs, steps = StoreMachine.runs, StoreMachine.steps
    run_state_machine_as_test(
        StoreMachine,
        settings=settings(SETTINGS, max_examples=100, stateful_step_count=40),
    )
    count("hypothesis.store_machine_runs", StoreMachine.runs - runs)
    count("hypothesis.store_machine_steps", StoreMachine.steps - steps)


# --- bounds, one property at a time ------------------------------------------------------------------


@SETTINGS
@given(name=st.one_of(targets, st.text(max_size=70), st.text(alphabet="aZ9._-/", min_size=60, max_size=70)))
def test_channel_names_follow_the_rule_and_touch_nothing_when_refused(name: str) -> None:
    count("hypothesis.name_cases")
    with tempfile.TemporaryDirectory() as folder:
        store = FileStore(Path(folder) / "data")
        expected = oracle_target(name)
        if expected is None:
            with pytest.raises(InvalidTarget, match="1 to 64 characters"):
                store.append(name, "a", "hi")
            assert not (Path(folder) / "data").exists()
        else:
            assert store.append(name, "a", "hi")["target"] == expected
            assert sorted(p.name for p in store.channels_dir.iterdir()) == [expected + ".jsonl"]


@pytest.mark.parametrize("name", ["x" * 64, "0" + "y" * 63])
def test_64_character_names_are_accepted_and_65_refused(store: FileStore, name: str) -> None:
    assert store.append(name, "a", "hi")["target"] == name.lower()
    with pytest.raises(InvalidTarget, match="1 to 64 characters"):
        store.append(name + "z", "a", "hi")


@SETTINGS
@given(max_bytes=st.integers(1, 3000), data=st.data())
def test_the_size_limit_is_exact_in_utf8_bytes(max_bytes: int, data: st.DataObject) -> None:
    count("hypothesis.size_cases")
    text = data.draw(sized_texts(max_bytes))
    assume(text.strip())
    size = len(text.encode("utf-8"))
    with tempfile.TemporaryDirectory() as folder:
        store = FileStore(Path(folder), max_message_bytes=max_bytes)
        if size <= max_bytes:
            stored = store.append("t", "a", text)
            assert store.read_last("t", 1) == [stored] and stored["text"] == text
        else:
            with pytest.raises(MessageTooLarge) as caught:
                store.append("t", "a", text)
            assert f"text is {size} bytes" in str(caught.value)
            assert f"the limit is {max_bytes} bytes" in str(caught.value)


@pytest.mark.parametrize("wide", WIDTHS)
def test_the_default_limit_takes_exactly_262144_bytes_of_any_width(store: FileStore, wide: str) -> None:
    limit = 262_144
    text = wide * (limit // len(wide.encode()))
    text += "a" * (limit - len(text.encode()))
    assert store.append("t", "a", text)["text"] == text
    with pytest.raises(MessageTooLarge, match="text is 262145 bytes of UTF-8; the limit is 262144"):
        store.append("t", "a", text + "a")
    over = text[: -len(wide)] + "a" * (len(wide) - 1) + "é"  # the last character crosses the limit
    if len(over.encode()) > limit:
        with pytest.raises(MessageTooLarge):
            store.append("t", "a", over)


@SETTINGS
@given(sender=senders, text=texts)
def test_senders_and_texts_are_kept_exactly_or_refused_with_the_reason(sender: str, text: str) -> None:
    count("hypothesis.sender_text_cases")
    with tempfile.TemporaryDirectory() as folder:
        store = FileStore(Path(folder))
        who, text_error = oracle_sender(sender), oracle_text(text, store.max_message_bytes)
        if who is None:
            with pytest.raises(InvalidSender):
                store.append("t", sender, text)
        elif text_error is not None:
            with pytest.raises(text_error) as caught:
                store.append("t", sender, text)
            bad = [ch for ch in text if unicodedata.category(ch) in ("Cc", "Cs") and ch not in "\t\n\r"]
            if not text.strip():
                assert "text is required" in str(caught.value)
            elif bad:
                assert f"U+{ord(bad[0]):04X}" in str(caught.value)
        else:
            stored = store.append("t", sender, text)
            assert (stored["sender"], stored["text"]) == (who, text)
            [line] = store.channel_path("t").read_bytes().splitlines()
            assert json.loads(line) == stored  # one line, whatever newlines or separators the text holds
