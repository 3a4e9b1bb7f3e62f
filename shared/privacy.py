"""Tighten a store made before the relay created everything private: once at every program's start.

Earlier versions created folders and files with the umask's modes (0755 and 0644 under the usual 022),
so another local user could read every conversation and hold a lock file's ``flock``. Each program
(relay-stdio, relay-web, relay) therefore sets what the relay made under the data dir to 0700/0600
before it serves, and tells the user in one line what it changed. Entries the relay does not make
(anything else a user keeps in the data dir) and symbolic links are left alone; a link is never
followed.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from shared.config import Config
from shared.fsutil import DIR_MODE, FILE_MODE

# The folders the relay makes in the data dir (channels, locks, read positions, hook and watch state,
# logs, waits in progress); everything in them is the relay's.
STORE_FOLDERS = ("channels", "locks", "cursors", "hooks", "watch", "log", "presence")
_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


@dataclass
class Tightened:
    """What :func:`tighten_store` changed, and what it could not."""

    folders: int = 0
    files: int = 0
    failed: list[str] = field(default_factory=list)

    def message(self, data_dir: Path) -> str | None:
        """The line to tell the user, or None when nothing needed changing."""
        if not (self.folders or self.files or self.failed):
            return None
        text = (
            f"made the store private: {self.folders} folder(s) set to 0700 and {self.files} file(s) to "
            f"0600 in {data_dir} (other local users could read them)"
        )
        if self.failed:
            text += (
                f"; {len(self.failed)} could not be changed, e.g. {self.failed[0]}: change their owner "
                "or mode by hand (chmod go-rwx)"
            )
        return text


def tighten_store(config: Config) -> Tightened:
    """Remove group and other access from everything the relay made for ``config``'s store and logs.

    The walk happens once: it ends by making the data dir itself 0700, and a start that finds it so
    skips the walk (one ``stat``, where walking a store with thousands of hook state files would add
    milliseconds to every ``relay`` command). Nothing inside a private folder can be reached by
    another user, whatever its own mode.
    """
    found = Tightened()
    data_dir = config.data_dir
    if _is_open(data_dir):
        for name in STORE_FOLDERS:
            _tighten_tree(data_dir / name, found)
        _tighten_folder(data_dir, found)
    for log_path in {config.log_path, config.channel_log_path}:
        if not log_path.is_relative_to(data_dir / "log"):
            _tighten_files(log_path.parent, _log_file_names(log_path), found)
    return found


def _is_open(path: Path) -> bool:
    try:
        return bool(path.lstat().st_mode & 0o077)
    except OSError:
        return False


def _tighten_folder(path: Path, found: Tightened) -> None:
    try:
        fd = os.open(path, _OPEN_FLAGS | getattr(os, "O_DIRECTORY", 0))
    except OSError as exc:
        if exc.errno not in (errno.ENOENT, errno.ELOOP, errno.ENOTDIR):
            found.failed.append(f"{path}: {exc.strerror or exc}")
        return
    try:
        _tighten_fd(fd, str(path), DIR_MODE, found)
    finally:
        os.close(fd)


def _tighten_tree(root: Path, found: Tightened) -> None:
    """Every folder under ``root`` (itself included) and every regular file in them; links not followed."""
    try:
        for folder, _, names, dir_fd in os.fwalk(root):
            _tighten_fd(dir_fd, folder, DIR_MODE, found)
            _tighten_files_at(dir_fd, folder, names, found)
    except FileNotFoundError:
        pass  # not made yet (os.fwalk checks its top itself; folders below that vanish are skipped)


def _tighten_files(folder: Path, names: Iterable[str], found: Tightened) -> None:
    try:
        dir_fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        _tighten_files_at(dir_fd, str(folder), names, found)
    finally:
        os.close(dir_fd)


def _tighten_files_at(dir_fd: int, folder: str, names: Iterable[str], found: Tightened) -> None:
    for name in names:
        try:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except OSError:
            continue  # gone meanwhile
        if not stat.S_ISREG(st.st_mode) or not st.st_mode & 0o077:
            continue
        path = os.path.join(folder, name)
        try:
            fd = os.open(name, _OPEN_FLAGS, dir_fd=dir_fd)
        except OSError as exc:
            found.failed.append(f"{path}: {exc.strerror or exc}")
            continue
        try:
            _tighten_fd(fd, path, FILE_MODE, found)
        finally:
            os.close(fd)


def _tighten_fd(fd: int, path: str, mode: int, found: Tightened) -> None:
    st = os.fstat(fd)
    if not st.st_mode & 0o077:
        return
    try:
        os.fchmod(fd, mode)
    except OSError as exc:
        found.failed.append(f"{path}: {exc.strerror or exc}")
        return
    if stat.S_ISDIR(st.st_mode):
        found.folders += 1
    else:
        found.files += 1


def _log_file_names(log_path: Path) -> list[str]:
    """A log file kept outside the data dir: itself, its rotations and concurrent-log-handler's lock."""
    name = log_path.name
    stem = name[: -len(".log")] if name.endswith(".log") else name
    try:
        entries = os.listdir(log_path.parent)
    except OSError:
        return []
    rotated = [e for e in entries if e.startswith(name + ".") and e[len(name) + 1 :].isdigit()]
    return [name, f".__{stem}.lock", *rotated]
