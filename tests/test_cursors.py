import multiprocessing
from pathlib import Path

from shared.fsutil import identity_filename
from shared.storage.files.cursors import CursorStore


def test_position_starts_at_zero_and_only_moves_forward(data_dir: Path) -> None:
    cursors = CursorStore(data_dir)
    assert cursors.get("claude", "proj-x") == 0
    assert cursors.advance("claude", "proj-x", 5) == 5
    assert cursors.advance("claude", "proj-x", 3) == 5
    assert cursors.get("claude", "Proj-X") == 5
    assert cursors.get("codex", "proj-x") == 0
    assert cursors.reset("claude", "proj-x", 0) == 0


def test_positions_survive_a_new_process_object(data_dir: Path) -> None:
    CursorStore(data_dir).advance("codex", "t", 42)
    assert CursorStore(data_dir).get("codex", "t") == 42


def test_hostile_identities_become_safe_file_names(data_dir: Path) -> None:
    for identity in ("..", "../../etc/passwd", "a/b", "Ada Lovelace", "名前"):
        name = identity_filename(identity)
        assert "/" not in name and not name.startswith(".") and name.endswith(".json")
        CursorStore(data_dir).advance(identity, "t", 1)
    assert {p.parent for p in (data_dir / "cursors").iterdir()} == {data_dir / "cursors"}
    assert identity_filename("Claude") == identity_filename("claude")


def test_a_corrupt_positions_file_reads_as_zero(data_dir: Path) -> None:
    cursors = CursorStore(data_dir)
    cursors.advance("x", "t", 3)
    (data_dir / "cursors" / identity_filename("x")).write_text("{not json")
    assert cursors.get("x", "t") == 0
    assert cursors.advance("x", "t", 4) == 4


def _advance_many(data_dir: str, start: int) -> None:
    cursors = CursorStore(Path(data_dir))
    for value in range(start, 200, 4):
        cursors.advance("same", "t", value)


def test_concurrent_advances_keep_the_maximum(data_dir: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_advance_many, args=(str(data_dir), s)) for s in range(4)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    assert CursorStore(data_dir).get("same", "t") == 199
