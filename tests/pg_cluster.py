"""A private PostgreSQL server for the tests: initdb in a temporary folder, a loopback port, password auth.

Started once per test session (the ``pg_cluster`` fixture in conftest.py) from Debian's ``postgresql``
package (``.ci/run`` installs it when missing). Run as root (CI), the server runs as the unprivileged
``postgres`` (or ``nobody``) user, since PostgreSQL refuses to run as root. Each test gets its own
database (``pg_url``), so tests never see each other's channels.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

SUPERUSER = "relay_admin"
PASSWORD = "s3cret-p@ss word"  # spaces and symbols: proves every URL and log path quotes/masks it


def find_bindir() -> Path | None:
    """The folder holding initdb and pg_ctl, or None when PostgreSQL is not installed."""
    candidates = [os.environ.get("RELAY_PG_BINDIR", "")]
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for folder in candidates:
        if folder and (Path(folder) / "initdb").is_file() and (Path(folder) / "pg_ctl").is_file():
            return Path(folder)
    found = shutil.which("initdb")
    return Path(found).parent if found and shutil.which("pg_ctl") else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _server_user() -> pwd.struct_passwd | None:
    """Who runs the server: None (ourselves) unless we are root, which PostgreSQL refuses."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise RuntimeError("running as root and no 'postgres' or 'nobody' user to run PostgreSQL as")


@dataclass
class PgCluster:
    """One running PostgreSQL server on 127.0.0.1:``port``."""

    bindir: Path
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="relay-pg-")))
    port: int = field(default_factory=_free_port)
    _counter: int = 0

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    @property
    def logfile(self) -> Path:
        return self.root / "server.log"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        user = _server_user()
        return subprocess.run(
            [str(self.bindir / args[0]), *args[1:]],
            check=check,
            capture_output=True,
            text=True,
            user=user.pw_uid if user else None,
            group=user.pw_gid if user else None,
            cwd=self.root,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"},
            timeout=120,
        )

    def init(self) -> None:
        """initdb with password (SCRAM) auth for everyone, listening on loopback only."""
        user = _server_user()
        if user is not None:
            os.chown(self.root, user.pw_uid, user.pw_gid)
        pwfile = self.root / "pwfile"
        pwfile.write_text(PASSWORD + "\n", encoding="utf-8")
        if user is not None:
            os.chown(pwfile, user.pw_uid, user.pw_gid)
        self._run(
            "initdb", "-D", str(self.datadir), "-U", SUPERUSER, "--pwfile", str(pwfile),
            "--auth=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync",
        )  # fmt: skip
        pwfile.unlink()
        conf = self.datadir / "postgresql.conf"
        with conf.open("a", encoding="utf-8") as out:
            out.write(
                f"\nlisten_addresses = '127.0.0.1'\nport = {self.port}\n"
                f"unix_socket_directories = '{self.root}'\nfsync = off\nsynchronous_commit = off\n"
                "full_page_writes = off\nmax_connections = 300\nshared_buffers = 64MB\n"
            )

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.datadir), "-l", str(self.logfile), "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.datadir), "-m", mode, "-w", "stop", check=False)

    def restart(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.datadir), "-l", str(self.logfile), "-m", mode, "-w", "restart")

    def url(self, dbname: str = "postgres", user: str = SUPERUSER, password: str | None = PASSWORD) -> str:
        auth = quote(user, safe="") + (":" + quote(password, safe="") if password is not None else "")
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{dbname}?sslmode=disable"

    def psql(self, sql: str, dbname: str = "postgres") -> str:
        """Run SQL as the superuser and return its output (for setting up roles and databases)."""
        env = {**os.environ, "PGPASSWORD": PASSWORD}
        done = subprocess.run(
            [str(self.bindir / "psql"), "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1",
             "-h", "127.0.0.1", "-p", str(self.port), "-U", SUPERUSER, "-d", dbname, "-c", sql],
            capture_output=True, text=True, env=env, timeout=60,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"psql failed: {done.stderr.strip()}")
        return done.stdout.strip()

    def new_database(self, prefix: str = "relay") -> str:
        """Create an empty database and return its name."""
        self._counter += 1
        name = f"{prefix}_{os.getpid()}_{self._counter}_{int(time.time() * 1000) % 100000}"
        self.psql(f'CREATE DATABASE "{name}"')
        return name

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


def start_cluster(bindir: Path) -> PgCluster:
    """initdb and start a private server; the caller stops it with :meth:`PgCluster.destroy`."""
    cluster = PgCluster(bindir)
    try:
        cluster.init()
        cluster.start()
    except BaseException:
        log = cluster.logfile.read_text(errors="replace")[-2000:] if cluster.logfile.exists() else ""
        cluster.destroy()
        if log:
            raise RuntimeError(f"PostgreSQL did not start; its log ends with:\n{log}") from None
        raise
    return cluster
