"""How the relay creates files and folders: private to the user, and JSON state replaced atomically.

The one place for two rules. First, everything the relay creates is the user's alone (folders 0700,
files 0600) whatever the umask: other local users must neither read the conversations nor open a
lock file (an ``flock`` needs only a read-only descriptor, so a readable lock file lets anyone stall
every writer). The mode is given at creation; a umask can only remove bits from it, never add group
or other access. Second, small state files (read positions, watch and hook state, client settings)
are replaced atomically, and a failed write (a full disk) leaves neither a half-written file nor a
temporary one behind.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import tempfile
from contextlib import suppress
from pathlib import Path

from shared.errors import StoreError

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_mkdir(path: Path) -> None:
    """Create ``path`` and any missing parents as 0700 folders; an existing folder is left as it is.

    ``Path.mkdir(mode=..., parents=True)`` gives the parents it creates the umask's mode (0755 under
    the usual 022), which is why this walks up itself.

    Raises:
        OSError: a folder could not be created (NotADirectoryError: ``path`` is something else).
    """
    try:
        os.mkdir(path, DIR_MODE)
    except FileNotFoundError:
        if path.parent == path:
            raise
        private_mkdir(path.parent)
        with suppress(FileExistsError):  # another process made it meanwhile
            os.mkdir(path, DIR_MODE)
    except FileExistsError:
        if not path.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(path)) from None


def open_private(path: str | Path, flags: int) -> int:
    """``os.open`` that creates a missing file as 0600 (only the user may read it, or lock it)."""
    return os.open(path, flags, FILE_MODE)


def write_atomically(
    path: Path, data: bytes, *, what: str, keep_mode: bool = False, fsync: bool = True
) -> None:
    """Replace ``path`` with ``data`` so that a crash leaves either the old file or the new one.

    A private temporary file in the same folder is written, flushed to the disk, renamed over
    ``path``, and the folder entry flushed too. On any failure the temporary file is removed and the
    old file is left as it was. The rename alone makes it safe against a crash of the process; the
    two flushes make it safe against a power loss.

    Args:
        path: the file to replace; its folder is created (0700) if missing.
        data: the new content.
        what: what the file holds, for the error ("the read position").
        keep_mode: give the new file the old one's permissions (a user's own settings file);
            otherwise it is 0600.
        fsync: flush to the disk. The read positions, written on every fetch, follow the store's
            ``fsync`` setting instead (a flush costs milliseconds), like the posts they point into.

    Raises:
        StoreError: the file could not be written; the text names the file, the reason and what to do.
    """
    tmp: str | None = None
    try:
        private_mkdir(path.parent)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".tmp")  # 0600
        with open(fd, "wb") as handle:
            handle.write(data)
            if fsync:
                handle.flush()
                os.fsync(handle.fileno())
        if keep_mode:
            with suppress(FileNotFoundError):
                os.chmod(tmp, stat.S_IMODE(os.stat(path).st_mode))
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise StoreError(
            f"cannot save {what} in {path}: {exc.strerror or exc}; free disk space or fix the "
            "folder's permissions"
        ) from None
    finally:
        if tmp is not None:
            with suppress(OSError):
                os.unlink(tmp)
    if fsync:
        sync_dir(path.parent)


def sync_dir(folder: Path) -> None:
    """Flush a folder's entries (a new or renamed file) to disk; best effort where unsupported."""
    try:
        dir_fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


# Most file systems allow 255 bytes per name; a 64-character non-ASCII sender escapes to 700+.
_MAX_ESCAPED = 200


def identity_filename(identity: str) -> str:
    """A file name for any sender string: ASCII letters, digits, '-' and '_' kept, the rest %XX-escaped.

    A name that would escape to more than 200 characters is cut there and ends in ``~`` plus a hash of
    the whole identity (``~`` is always escaped, so such a name never equals a plain escaped one).
    """
    folded = identity.lower().encode("utf-8")
    safe = []
    for byte in folded:
        char = chr(byte)
        safe.append(char if char.isascii() and (char.isalnum() or char in "-_") else f"%{byte:02X}")
    name = "".join(safe)
    if len(name) > _MAX_ESCAPED:
        name = name[:_MAX_ESCAPED] + "~" + hashlib.sha256(folded).hexdigest()[:32]
    return name + ".json"
