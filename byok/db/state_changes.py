"""Seeing changes to users' keys and preferences made by other processes and instances.

A cache of user states (:class:`byok.user_state.UserStateCache`) is told of changes made
through its own process's stores directly. Changes made elsewhere reach it here:

* PostgreSQL: every store that changes a user's keys or preferences calls
  :func:`announce_user_change` inside its transaction (``pg_notify``, delivered only if
  and when the transaction commits); :class:`PostgresChangeListener` LISTENs on a
  connection of its own and forgets the named user. While it is not listening (before
  its first connection, or after one was lost) the cache must not serve: notifications
  may have been missed, so everything is forgotten when it listens again.
* SQLite: other processes (the console, ``byok-bot keys rotate``) write the same file.
  :class:`SqliteCommitWatch` reads ``PRAGMA data_version`` on the process's one write
  connection, which changes exactly when another connection committed, at most every
  ``check_s`` seconds, and forgets everything when it changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import asyncpg
from sqlalchemy import event, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from byok.types import UserRef

if TYPE_CHECKING:
    from byok.db.database import Database

__all__ = [
    "CHANNEL",
    "LISTENER_NAME",
    "ChangeWatch",
    "PostgresChangeListener",
    "SqliteCommitWatch",
    "announce_user_change",
    "watch_changes",
]

log = logging.getLogger(__name__)

CHANNEL = "byok_user_state"
#: The listening connection's application_name (pg_stat_activity shows it).
LISTENER_NAME = "byok-bot state listener"
#: A payload naming no single user: forget everyone.
EVERYONE = "*"

Forget = Callable[[UserRef | None], None]

# Options SQLAlchemy's asyncpg dialect takes that asyncpg.connect does not.
_SQLALCHEMY_ONLY = (
    "prepared_statement_cache_size",
    "prepared_statement_name_func",
    "async_fallback",
)


class ChangeWatch(Protocol):
    async def ready(self) -> bool:
        """Whether cached states may be served now (changes made elsewhere are seen)."""

    async def aclose(self) -> None: ...


async def announce_user_change(session: AsyncSession, owner: UserRef | None) -> None:
    """Within a transaction that changes ``owner``'s keys or preferences: tell every
    instance once it commits (PostgreSQL). SQLite needs nothing: see SqliteCommitWatch."""
    if session.get_bind().dialect.name != "postgresql":
        return
    payload = (
        EVERYONE if owner is None else json.dumps([owner.platform, owner.workspace, owner.user])
    )
    await session.execute(
        text("SELECT pg_notify(:channel, :payload)"), {"channel": CHANNEL, "payload": payload}
    )


def _owner_of(payload: str) -> UserRef | None:
    """The user a notification names; None (everyone) for anything else."""
    try:
        platform, workspace, user = json.loads(payload)
    except (ValueError, TypeError):
        return None
    if not all(isinstance(part, str) for part in (platform, workspace, user)):
        return None
    return UserRef(platform, workspace, user)


class SqliteCommitWatch:
    """Forgets every cached state when another connection committed to the SQLite file.

    ``PRAGMA data_version`` is read on the write connection whenever it is checked out
    and the last reading is older than ``check_s``: a busy process checks in passing,
    and :meth:`ready` checks itself only when nothing else used the connection lately.
    Commits of this process's own connection do not change it.
    """

    def __init__(
        self,
        database: Database,
        forget: Forget,
        *,
        check_s: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = database.engine
        self._forget = forget
        self._check_s = check_s
        self._monotonic = monotonic
        self._checked_at = -math.inf
        self._version: int | None = None
        self._checking: asyncio.Task[None] | None = None
        event.listen(self._engine.sync_engine, "checkout", self._on_checkout)

    def _on_checkout(self, dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        started = self._monotonic()
        if started - self._checked_at < self._check_s:
            return
        try:
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute("PRAGMA data_version")
                (version,) = cursor.fetchone()
            finally:
                cursor.close()
        except Exception:  # the check is not made: it runs again at the next checkout
            log.debug("PRAGMA data_version failed", exc_info=True)
            return
        # A new connection has its own numbering: treated as a change, which is safe.
        if version != self._version:
            self._version = version
            self._forget(None)
        self._checked_at = started

    async def _check(self) -> None:
        try:
            async with self._engine.connect():
                pass  # checking the connection out ran _on_checkout
        finally:
            self._checking = None

    async def ready(self) -> bool:
        asked = self._monotonic()

        def fresh() -> bool:  # a check began at most check_s before this call
            return self._checked_at >= asked - self._check_s

        for _ in range(2):  # a check already under way may have begun too early
            if fresh():
                return True
            if self._checking is None:
                self._checking = asyncio.ensure_future(self._check())
            try:
                await asyncio.shield(self._checking)
            except (SQLAlchemyError, OSError):
                return False  # the load that follows reports the database's state
        return fresh()

    async def aclose(self) -> None:
        if event.contains(self._engine.sync_engine, "checkout", self._on_checkout):
            event.remove(self._engine.sync_engine, "checkout", self._on_checkout)
        if self._checking is not None:
            with contextlib.suppress(Exception):
                await self._checking


class PostgresChangeListener:
    """LISTENs for :func:`announce_user_change` on a connection of its own.

    Started by the first :meth:`ready` (one-shot commands that never read a user's
    state open no connection); reconnects after ``retry_s`` when the connection is lost,
    and pings it every ``ping_s`` so a silent loss is noticed too.
    """

    def __init__(
        self,
        database: Database,
        forget: Forget,
        *,
        retry_s: float = 1.0,
        ping_s: float = 5.0,
    ) -> None:
        engine = database.engine
        _args, params = engine.dialect.create_connect_args(engine.url)
        for name in _SQLALCHEMY_ONLY:
            params.pop(name, None)
        self._params: dict[str, Any] = dict(params)
        self._safe_url = database.safe_url
        self._forget = forget
        self._retry_s = retry_s
        self._ping_s = ping_s
        self._task: asyncio.Task[None] | None = None
        self._connection: asyncpg.Connection | None = None
        self._closed = False
        self.listening = False
        #: Times the listener started listening (a test can wait for a reconnect).
        self.connections = 0

    async def ready(self) -> bool:
        if self._task is None and not self._closed:
            self._task = asyncio.create_task(self._run(), name="byok-state-listener")
        return self.listening

    def _notified(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        self._forget(_owner_of(payload))

    async def _run(self) -> None:
        outage_logged = False
        while not self._closed:
            try:
                await self._listen()
                outage_logged = False
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                if not outage_logged:
                    log.warning(
                        "not listening for key and preference changes on %s (%s); cached "
                        "user states are not used until it listens again",
                        self._safe_url,
                        type(exc).__name__,
                    )
                    outage_logged = True
            finally:
                self._stop_serving()
            if not self._closed:
                await asyncio.sleep(self._retry_s)

    async def _listen(self) -> None:
        settings = {"application_name": LISTENER_NAME}
        connection = await asyncpg.connect(**self._params, server_settings=settings, timeout=10)
        self._connection = connection
        lost = asyncio.Event()
        connection.add_termination_listener(lambda _c: lost.set())
        try:
            await connection.add_listener(CHANNEL, self._notified)
            # Whatever changed before this point was not heard: start afresh.
            self._forget(None)
            self.listening = True
            self.connections += 1
            while not lost.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), self._ping_s)
                    break
                await asyncio.wait_for(connection.execute("SELECT 1"), self._ping_s)
            raise ConnectionResetError("listening connection lost")
        finally:
            self._stop_serving()
            self._connection = None
            connection.terminate()

    def _stop_serving(self) -> None:
        if self.listening:
            self.listening = False
            self._forget(None)

    async def aclose(self) -> None:
        self._closed = True
        self._stop_serving()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None


def watch_changes(database: Database, forget: Forget, *, check_s: float = 1.0) -> ChangeWatch:
    """The watch for ``database``'s kind: see the module's description."""
    if database.dialect == "postgresql":
        return PostgresChangeListener(database, forget)
    return SqliteCommitWatch(database, forget, check_s=check_s)
