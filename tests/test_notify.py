"""Change notifications for waiters: real inotify on real folders, real writes from another process."""

import select
import subprocess
import sys
from pathlib import Path

import pytest

from shared.notify import open_notifier
from shared.store import FileStore

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify is Linux-only")


def readable(notifier: object, timeout_s: float) -> bool:
    return bool(select.select([notifier], [], [], timeout_s)[0])


def test_a_post_from_another_process_makes_the_notifier_readable(data_dir: Path) -> None:
    store = FileStore(data_dir)
    store.append("proj-x", "a", "first")
    notifier = store.change_notifier()
    assert notifier is not None
    with notifier:
        assert not readable(notifier, 0)
        code = "import sys; from shared.store import FileStore as S; S(sys.argv[1]).append('t2', 'b', 'x')"
        subprocess.run([sys.executable, "-c", code, str(data_dir)], check=True, timeout=60)
        assert readable(notifier, 10)
        notifier.drain()
        assert not readable(notifier, 0)
        store.append("new-channel", "a", "creating a file is a change too")
        assert readable(notifier, 10)


def test_no_notifier_for_a_missing_folder(tmp_path: Path) -> None:
    assert open_notifier(tmp_path / "missing") is None


def test_closing_twice_is_harmless(data_dir: Path) -> None:
    notifier = FileStore(data_dir).change_notifier()
    assert notifier is not None
    notifier.close()
    notifier.close()
    assert notifier.fileno() == -1


def test_a_closed_notifier_is_reused_without_stale_events(data_dir: Path) -> None:
    store = FileStore(data_dir)
    first = store.change_notifier()
    assert first is not None
    fd = first.fileno()
    store.append("t", "a", "an event nobody read")
    first.close()  # back to the pool, with an event pending
    second = store.change_notifier()
    assert second is not None and second.fileno() == fd
    assert not readable(second, 0)
    store.append("t", "a", "a new event")
    assert readable(second, 10)
    second.close()
