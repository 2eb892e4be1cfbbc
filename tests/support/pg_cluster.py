"""A throw-away PostgreSQL cluster for tests: ``initdb`` + ``pg_ctl`` in a temp dir, on a free
loopback port, trust auth, fsync off. Started once per test session (``conftest.pg_cluster``);
each test gets a fresh database (``conftest.pg_url``).

initdb refuses to run as root, so as root the cluster runs as the ``postgres`` system user
(``runuser``), made by Debian's ``postgresql`` package; ``scripts/install-postgres`` installs it.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path


def find_bin(name: str) -> str | None:
    """``initdb``/``pg_ctl`` on PATH, else in Debian's versioned folder (newest first)."""
    found = shutil.which(name)
    if found:
        return found
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.access(os.path.join(folder, name), os.X_OK):
            return os.path.join(folder, name)
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PostgresMissing(RuntimeError):
    """PostgreSQL's server binaries are not installed (the only reason tests may skip)."""


class Cluster:
    """One running cluster; ``url(db)`` names a database in it, ``create_db()`` makes one."""

    def __init__(self) -> None:
        self.initdb, self.pg_ctl = find_bin("initdb"), find_bin("pg_ctl")
        if not (self.initdb and self.pg_ctl):
            raise PostgresMissing("PostgreSQL is not installed (no initdb/pg_ctl): run "
                               "scripts/install-postgres")
        self.runas: list[str] = []
        if os.geteuid() == 0:
            if shutil.which("runuser") is None:
                raise RuntimeError("running as root needs runuser to start PostgreSQL")
            self.runas = ["runuser", "-u", "postgres", "--"]
        self.dir = Path(tempfile.mkdtemp(prefix="dise-pg-"))
        if self.runas:
            shutil.chown(self.dir, "postgres")
        self.data = self.dir / "data"
        self.port = _free_port()
        self.log = self.dir / "server.log"

    def _run(self, *args: str) -> None:
        proc = subprocess.run([*self.runas, *args], capture_output=True, text=True, timeout=120)
        if proc.returncode:
            raise RuntimeError(f"{args[0]} failed: {proc.stderr.strip() or proc.stdout.strip()}")

    def start(self) -> "Cluster":
        self._run(self.initdb, "-D", str(self.data), "-A", "trust", "-U", "dise", "--no-sync",
                  "-E", "UTF8", "--locale=C")
        self._run(self.pg_ctl, "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
                  "-o", f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 "
                  "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                  "-c max_connections=200", "start")
        return self

    def stop(self) -> None:
        try:
            self._run(self.pg_ctl, "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def url(self, db: str = "postgres") -> str:
        return f"postgresql://dise@127.0.0.1:{self.port}/{db}"

    def create_db(self) -> str:
        """A fresh empty database; returns its url."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)
