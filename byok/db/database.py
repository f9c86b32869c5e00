"""Database engines: SQLite (WAL, busy timeout) by default, PostgreSQL via asyncpg.

A SQLite file the bot creates is readable by its owner only (0600), and so are the
``-wal`` and ``-shm`` files beside it: SQLite gives them the database file's mode.

A database that cannot be reached, opened or written (server down, folder not
creatable, file locked) raises :class:`~byok.errors.DatabaseUnavailableError`, whose text
names ``[database] url`` (password hidden) and why — for operators — and whose
``explanation`` is for chat users. Connections fail that way from the first attempt,
migrations included; :func:`unavailable_error` translates what else reaches a boundary.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import PoolResetState

from byok.errors import ConfigError, DatabaseUnavailableError

__all__ = ["Database", "database_unavailable", "is_sqlite", "unavailable_error"]

SQLITE_BUSY_TIMEOUT_MS = 5_000
#: PostgreSQL connections one process keeps (besides its LISTEN connection).
POSTGRES_CONNECTIONS = 20
#: A PostgreSQL connection idle this long is pinged before it is used again.
PING_IDLE_AFTER_S = 1.0
#: Read-only connections to a SQLite file beside its one writer (WAL lets them read
#: while it writes); long reports may use all but one, kept for the asks.
SQLITE_READERS = 3


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_reader_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA query_only=ON")
    cursor.close()


def _note_idle_since(_dbapi_connection: Any, record: Any) -> None:
    record.info["idle_since"] = time.monotonic()


def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """Ping a PostgreSQL connection before use if it sat idle for ``PING_IDLE_AFTER_S``.

    SQLAlchemy's ``pool_pre_ping`` pings at every checkout: three round trips (its ping
    opens and rolls back a transaction), 40% of a short transaction's CPU here. One in
    use a moment ago is as alive as a ping would show; if the server went away since,
    that transaction fails as unavailable and the pool replaces every connection.
    """
    idle_since = record.info.get("idle_since")
    if idle_since is None or time.monotonic() - idle_since < PING_IDLE_AFTER_S:
        return
    try:
        dbapi_connection.ping()
    except Exception as exc:  # the pool then connects afresh (up to three times)
        raise DisconnectionError(str(exc)) from exc


def _rollback_if_still_open(dbapi_connection: Any, _record: Any, state: PoolResetState) -> None:
    """Reset a SQLite connection the pool takes back only if a transaction is still open.

    The pool's own reset rolls back every time, and every call to SQLite is a round
    trip to aiosqlite's thread: after a commit, that one is wasted on the hot path.
    """
    resettable = state.asyncio_safe and not state.terminate_only
    if resettable and dbapi_connection.driver_connection.in_transaction:
        dbapi_connection.rollback()


class Database:
    """One async engine and its session factory for the whole process."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self._reader: AsyncEngine | None = None
        self._autocommit: AsyncEngine | None = None
        parsed = make_url(url)
        backend = parsed.get_backend_name()
        if backend == "sqlite":
            if parsed.drivername != "sqlite+aiosqlite":
                raise ConfigError(
                    "[database] url: use the async driver, e.g. sqlite+aiosqlite:///byok.db"
                )
            file = parsed.database if parsed.database not in (None, "", ":memory:") else None
            if file:
                self._prepare_sqlite_file(Path(file).expanduser())
            # One connection: SQLite admits one writer at a time, and a second connection
            # waiting in SQLite's busy handler sleeps in steps of up to 100 ms; queueing
            # for the connection in asyncio instead keeps every transaction short.
            self.engine: AsyncEngine = create_async_engine(
                url,
                echo=echo,
                pool_size=1,
                max_overflow=0,
                pool_timeout=60,
                pool_reset_on_return=None,  # _rollback_if_still_open instead
            )
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
            event.listen(self.engine.sync_engine, "reset", _rollback_if_still_open)
            if file:
                # Reads on the hot path (a user's state) then never queue behind a write.
                self._reader = create_async_engine(
                    url,
                    echo=echo,
                    pool_size=SQLITE_READERS,
                    max_overflow=0,
                    pool_timeout=60,
                    pool_reset_on_return=None,
                )
                self._bulk_reads = asyncio.Semaphore(SQLITE_READERS - 1)
                reader = self._reader.sync_engine
                event.listen(reader, "connect", _sqlite_reader_pragmas)
                event.listen(reader, "reset", _rollback_if_still_open)
                event.listen(reader, "do_connect", self._connect)
        elif backend == "postgresql":
            if parsed.drivername != "postgresql+asyncpg":
                raise ConfigError(
                    "[database] url: use the asyncpg driver, e.g. "
                    "postgresql+asyncpg://user:pass@host/db"
                )
            # Every connection it may open is kept: an overflow connection (closed when
            # handed back) made a busy engine connect afresh, the costliest thing it did.
            self.engine = create_async_engine(
                url, echo=echo, pool_size=POSTGRES_CONNECTIONS, max_overflow=0
            )
            # The same pool, for statements that need no BEGIN and COMMIT around them.
            self._autocommit = self.engine.execution_options(isolation_level="AUTOCOMMIT")
            event.listen(self.engine.sync_engine, "checkin", _note_idle_since)
            event.listen(self.engine.sync_engine, "checkout", _ping_if_idle)
        else:
            raise ConfigError(
                f"[database] url: unsupported database {backend!r}; "
                "use sqlite+aiosqlite:/// or postgresql+asyncpg://"
            )
        event.listen(self.engine.sync_engine, "do_connect", self._connect)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    def _prepare_sqlite_file(self, path: Path) -> None:
        """Create the folder, and the file itself owner-only, before SQLite opens it."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            why = exc.strerror or type(exc).__name__
            raise database_unavailable(
                self.safe_url, exc, reason=f"cannot create its folder {path.parent} ({why})"
            ) from None
        # An existing file keeps the mode its operator gave it; any other failure is
        # reported by SQLite's own open, in the same words as every other.
        with contextlib.suppress(OSError):
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))

    def _connect(self, dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        # A refused connection is an OSError that SQLAlchemy passes on unwrapped.
        try:
            return dialect.connect(*cargs, **cparams)
        except (OSError, dialect.loaded_dbapi.Error) as exc:
            raise database_unavailable(self.safe_url, exc) from exc

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def safe_url(self) -> str:
        """The URL with any password hidden, for messages and logs."""
        return make_url(self.url).render_as_string(hide_password=True)

    @contextmanager
    def _outages_named(self) -> Iterator[None]:
        """The database being unreachable or unusable raised as DatabaseUnavailableError."""
        try:
            yield
        except (OperationalError, DBAPIError, OSError) as exc:
            if isinstance(exc, DBAPIError) and not _is_availability_error(exc):
                raise
            raise database_unavailable(self.safe_url, exc) from exc

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session in a transaction, committed on success; DB outages become clear errors."""
        with self._outages_named():
            async with self.sessions() as session, session.begin():
                yield session

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A Core connection in a transaction: the lighter path for hot, simple statements."""
        with self._outages_named():
            async with self.engine.begin() as connection:
                yield connection

    @asynccontextmanager
    async def single_statements(self) -> AsyncIterator[AsyncConnection]:
        """A Core connection for statements that are each whole on their own.

        On PostgreSQL it runs in autocommit: one round trip a statement, where a
        transaction adds BEGIN and COMMIT (an upsert or a single SELECT is atomic by
        itself). Elsewhere it is :meth:`transaction`.
        """
        if self._autocommit is None:
            async with self.transaction() as connection:
                yield connection
            return
        with self._outages_named():
            async with self._autocommit.connect() as connection:
                yield connection

    @asynccontextmanager
    async def reading(self, *, bulk: bool = False) -> AsyncIterator[AsyncConnection]:
        """A Core connection for reads that must not wait for writes.

        On a SQLite file it is one of the read-only connections (each read sees every
        commit made before it began); ``bulk`` reads (a report over many users) never
        take the last of them: an ask's read finds it. Elsewhere a bulk read is a
        :meth:`transaction` and any other one :meth:`single_statements`.
        """
        if self._reader is None:
            opened = self.transaction() if bulk else self.single_statements()
            async with opened as connection:
                yield connection
            return
        if bulk:
            async with self._bulk_reads, self.reading() as connection:
                yield connection
            return
        with self._outages_named():
            async with self._reader.connect() as connection:
                yield connection

    async def take_write_lock(self, session: AsyncSession) -> None:
        """On SQLite, make ``session``'s transaction the only writer from here on.

        ``BEGIN IMMEDIATE`` takes the write lock before anything is read, so what this
        transaction reads cannot change under it in another process before it commits
        (waiting up to the busy timeout for a writer that holds the lock). Call it first
        in the transaction. PostgreSQL locks rows instead (``SELECT … FOR UPDATE``).
        """
        if self.dialect == "sqlite":
            await session.execute(text("BEGIN IMMEDIATE"))

    async def bound_waits(self, session: AsyncSession, *, lock_s: float, idle_s: float) -> None:
        """On PostgreSQL, bound this transaction's waits for locks and the server's for us.

        A lock held by a transaction whose client vanished mid-way (a crashed host, a
        partition) would otherwise block everyone until TCP keepalive reaps it, hours
        later. Call it first in the transaction.
        """
        if self.dialect == "postgresql":
            await session.execute(
                text(
                    "SELECT set_config('lock_timeout', :lock, true), "
                    "set_config('idle_in_transaction_session_timeout', :idle, true)"
                ),
                {"lock": f"{int(lock_s * 1000)}ms", "idle": f"{int(idle_s * 1000)}ms"},
            )

    async def ping(self) -> None:
        async with self.session() as session:
            await session.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        if self._reader is not None:
            await self._reader.dispose()
        await self.engine.dispose()


def _is_availability_error(exc: DBAPIError) -> bool:
    if isinstance(exc, OperationalError) or exc.connection_invalidated:
        return True
    text = str(exc.orig).lower() if exc.orig is not None else ""
    return any(
        word in text
        for word in ("connection", "locked", "busy", "cannot connect", "terminating", "shutdown")
    )


def unavailable_error(url: str, exc: BaseException) -> DatabaseUnavailableError | None:
    """``exc`` as a DatabaseUnavailableError if it says the database cannot be used."""
    if isinstance(exc, DatabaseUnavailableError):
        return exc
    if isinstance(exc, DBAPIError) and _is_availability_error(exc):
        return database_unavailable(make_url(url).render_as_string(hide_password=True), exc)
    return None


def database_unavailable(
    safe_url: str, exc: BaseException, *, reason: str | None = None
) -> DatabaseUnavailableError:
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    text = f"{exc} {cause}".lower()
    locked = "locked" in text
    if locked:
        verb, why = "use", "database is locked: another process is writing to it"
    elif is_sqlite(safe_url):
        verb, why = "open", reason or _why(cause, text)
    else:
        verb, why = "reach", reason or _why(cause, text)
    what = "locked by another writer" if locked else "unreachable"
    return DatabaseUnavailableError(
        f"cannot {verb} the database at [database] url ({safe_url}): {why}",
        explanation=f"The bot's database is {what} right now, so nothing was saved or sent.",
        advice=("Please try again in a moment.",),
    )


def _why(cause: BaseException, text: str) -> str:
    """A few words on why, from the error's type and known phrases — never its whole text."""
    if isinstance(cause, ConnectionRefusedError) or "connection refused" in text:
        return "connection refused — is the server running?"
    if isinstance(cause, socket.gaierror):
        return "the host name does not resolve"
    if isinstance(cause, TimeoutError) or "timeout" in text or "timed out" in text:
        return "no answer in time — is the host right and reachable?"
    if "password" in text or "authentication" in text:
        return "the server refused the user name or password"
    if "database" in text and "does not exist" in text:
        return "the server has no database of that name"
    if "unable to open database file" in text:
        return "the file cannot be opened or created there"
    if "no such table" in text:
        return "its tables are missing — run `byok-bot db upgrade`"
    return type(cause).__name__
