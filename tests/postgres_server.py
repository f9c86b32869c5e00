"""A throwaway PostgreSQL server from the Debian binaries, in a temporary folder.

PostgreSQL refuses to run as root, so as root the server runs as the ``postgres``
system user in a folder that user owns.

Each test's database is created over a connection (no ``psql`` process per test); a
migrated one is a copy of a template database migrated once per server.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import asyncpg

from tests.databases import migrate, run_blocking

__all__ = ["PostgresServer", "find_pg_bin"]


def find_pg_bin() -> Path | None:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for path in candidates:
        if Path(path, "initdb").exists():
            return Path(path)
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresServer:
    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.port = _free_port()
        self.root = Path(tempfile.mkdtemp(prefix="byok-pg-"))
        self.data = self.root / "data"
        self._as_root = os.geteuid() == 0
        self._counter = 0
        self._template: str | None = None

    def _run(self, *args: str) -> None:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self._as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, cwd=self.root)

    def start(self) -> None:
        if self._as_root:
            shutil.chown(self.root, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8")
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=200"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "-l",
            str(self.root / "log"),
            "start",
        )

    def restart(self) -> None:
        """Stop the server (dropping every connection) and start it again on its port."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "60",
                  "-l", str(self.root / "log"), "restart")  # fmt: skip

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def _execute(self, statement: str) -> None:
        async def execute() -> None:
            connection = await asyncpg.connect(
                host="127.0.0.1", port=self.port, user="postgres", database="postgres"
            )
            try:
                await connection.execute(statement)
            finally:
                await connection.close()

        run_blocking(execute())

    def _new_name(self) -> str:
        self._counter += 1
        return f"byok_test_{os.getpid()}_{self._counter}"

    def create_database(self) -> str:
        """A fresh empty database; returns its asyncpg URL."""
        name = self._new_name()
        self._execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def create_migrated_database(self) -> str:
        """A fresh database at the schema's head revision; returns its asyncpg URL.

        A copy of this server's template database, migrated on first use and closed to
        connections from then on (PostgreSQL copies a template only while nobody is
        connected to it).
        """
        if self._template is None:
            template = self._new_name() + "_template"
            self._execute(f"CREATE DATABASE {template}")
            run_blocking(migrate(self.url(template)))
            self._execute(
                f"ALTER DATABASE {template} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false"
            )
            self._template = template
        name = self._new_name()
        self._execute(f"CREATE DATABASE {name} TEMPLATE {self._template}")
        return self.url(name)

    def url(self, name: str) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{name}"
