"""The file-creation helpers: private folders, and the one atomic write behind the four state files.

A failed write is made real by the kernel: each writer runs in its own process under a file-size limit
(``RLIMIT_FSIZE``) smaller than what it writes, so the write stops part-way, as on a full disk.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from relay_stdio.automation.hooks import ContinuationCounter
from shared.errors import StoreError
from shared.fsutil import private_mkdir, write_atomically
from tests.reliability import count
from tests.test_faults_disk import limited

# Each of the four places that keep JSON state, writing a value far longer than the limit below.
WRITERS = {
    "read position": (
        "cursors/agent.json",
        "from shared.storage.files.cursors import CursorStore; CursorStore(d).advance('agent', 't', 10**40)",
    ),
    "watch position": (
        "watch/t--ada.json",
        "from relay_stdio.automation.watching import WatchState; "
        "WatchState(d / 'watch' / 't--ada.json', 't', 'ada').save(10**40)",
    ),
    "hook state": (
        str(ContinuationCounter(Path(), "s").path),
        "from relay_stdio.automation.hooks import ContinuationCounter; "
        "ContinuationCounter(d, 's').set(10**40)",
    ),
    "client settings": (
        "client/settings.json",
        "from shared.clientsetup import write_with_backup; "
        "write_with_backup(d / 'client' / 'settings.json', '{\"x\": %d}' % 10**40)",
    ),
}
RUN = """
import sys
from pathlib import Path
from shared.errors import RelayError
d = Path(sys.argv[1])
try:
    CODE
except RelayError as exc:
    sys.exit(f"{type(exc).__name__}: {exc}")
"""


def _write(code: str, data_dir: Path, limit: int | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", RUN.replace("CODE", code), str(data_dir)]
    if limit is not None:
        command = [*limited(limit), *command]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("what", list(WRITERS))
def test_a_failed_state_write_keeps_the_old_file_and_leaves_no_temporary_file(
    tmp_path: Path, what: str
) -> None:
    relative, code = WRITERS[what]
    path = tmp_path / relative
    path.parent.mkdir(parents=True)
    path.write_text("{}")  # the old state: 2 bytes, under the limit
    before = sorted(os.listdir(path.parent))
    done = _write(code, tmp_path, limit=8)
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert path.read_text() == "{}"
    after = sorted(n for n in os.listdir(path.parent) if not n.startswith("settings.json.bak-"))
    assert after == before or after == [*before, "agent.json.lock"], after  # no .tmp left
    assert done.stderr.startswith("StoreError: cannot save "), done.stderr
    assert f" in {path}: File too large; free disk space" in done.stderr, done.stderr
    assert _write(code, tmp_path).returncode == 0  # with room again, it is written
    assert str(10**40) in path.read_text()
    count("disk.state_writes_refused_cleanly")


def test_a_new_state_file_is_private_and_a_replaced_settings_file_keeps_its_mode(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        write_atomically(tmp_path / "a" / "b" / "state.json", b"{}", what="the state")
        settings = tmp_path / "settings.json"
        settings.write_text("{}")
        settings.chmod(0o640)
        write_atomically(settings, b'{"x": 1}', what="the settings", keep_mode=True)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "a" / "b").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "a" / "b" / "state.json").stat().st_mode) == 0o600
    assert stat.S_IMODE(settings.stat().st_mode) == 0o640 and settings.read_text() == '{"x": 1}'


def test_a_state_file_whose_folder_is_a_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("not a folder")
    with pytest.raises(StoreError, match=r"cannot save the state in .*blocker/state.json: Not a directory"):
        write_atomically(tmp_path / "blocker" / "state.json", b"{}", what="the state")
    with pytest.raises(NotADirectoryError):
        private_mkdir(tmp_path / "blocker")
    assert (tmp_path / "blocker").read_text() == "not a folder"
