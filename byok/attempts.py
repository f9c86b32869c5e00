"""One attempt at one provider: reserve against limits, call, record exactly one row.

The usage row is written before the call and finished after it, whatever happens:
success, a provider error, a cancelled caller, a stream the consumer dropped, or a
process killed mid-call (its pending row is closed at the next start).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from decimal import Decimal
from typing import ClassVar

from byok.alerts import QuotaNotice, claim_quota_notices
from byok.catalog import Catalog
from byok.clock import Clock
from byok.db.database import Database
from byok.errors import (
    DatabaseUnavailableError,
    InvalidKeyError,
    KeyNotFoundError,
    ProviderError,
    SpendLimitError,
    StreamInterruptedError,
    UnpricedModelError,
)
from byok.keystore import KeyStore, StoredKey
from byok.observer import AttemptRecord, EngineObserver, NullObserver
from byok.pricing import estimate_input_tokens, price_of, worst_case_cost
from byok.routing import Candidate
from byok.secret import Secret
from byok.types import NOT_REPORTED, ChatRequest, ChatResult, Chunk, Usage, UserRef
from byok.usage import Outcome, SpendKey, UsageLedger
from byok.vault import Sealed

__all__ = ["Answered", "AttemptRunner", "Ending", "Failed", "Reservation"]

log = logging.getLogger(__name__)

_MAX_NOTED = 10_000


@dataclass(frozen=True, slots=True)
class Reservation:
    """An attempt about to be made: what it asks, and the limit it was checked against.

    Its pending usage row already exists (``attempt_id``); with a limit it holds the
    worst-case cost, and the limit's month spend as the check saw it.
    """

    attempt_id: int
    limit: Decimal | None
    candidate: Candidate
    request: ChatRequest
    kind: str
    request_id: str
    worst_case: Decimal | None = None
    spend_key: SpendKey | None = None
    spent_before: Decimal | None = None  # the month's spend the limit check saw


@dataclass(frozen=True, slots=True)
class Answered:
    """The attempt answered: the model that served it, its usage and its cost, priced
    once here (None when unknown: never $0)."""

    model: str
    usage: Usage
    cost: Decimal | None
    latency_ms: int
    finish_reason: str | None
    #: An answer of unknown cost under a limit keeps its worst case against the limit:
    #: the provider billed it, and $0 would let the limit slip.
    may_have_billed: bool
    outcome: ClassVar[Outcome] = "success"
    error_kind: ClassVar[None] = None


@dataclass(frozen=True, slots=True)
class Failed:
    """The attempt ended without an answer: a provider error, or the caller went away."""

    error_kind: str
    latency_ms: int
    #: The provider may have billed tokens it never reported: the row keeps its worst case.
    may_have_billed: bool
    cancelled: bool = False
    model: ClassVar[None] = None
    usage: ClassVar[None] = None
    cost: ClassVar[None] = None

    @property
    def outcome(self) -> Outcome:
        return "cancelled" if self.cancelled else "error"


Ending = Answered | Failed


class AttemptRunner:
    """Runs attempts for the engine; shared by every user."""

    def __init__(
        self,
        database: Database,
        catalog: Catalog,
        keys: KeyStore,
        ledger: UsageLedger,
        clock: Clock,
        observer: EngineObserver | None = None,
    ) -> None:
        self.observer: EngineObserver = observer or NullObserver()
        self._db = database
        self._catalog = catalog
        self._keys = keys
        self._ledger = ledger
        self._clock = clock
        # The latest month spend known per limit, noted as attempts finish (see notices_after).
        self._spend_after: dict[SpendKey, Decimal] = {}

    def key_for(self, user: UserRef, candidate: Candidate, sealed: Sealed | None) -> Secret:
        if candidate.key_source == "user":
            if sealed is None:
                raise KeyNotFoundError(candidate.provider_id)
            return self._keys.open_sealed(user, candidate.provider_id, sealed)
        entry = self._catalog.get(candidate.provider_id)
        return entry.operator_key or Secret("")

    def _limit_for(self, candidate: Candidate, key: StoredKey | None) -> Decimal | None:
        if candidate.key_source == "operator":
            entry = self._catalog.get(candidate.provider_id)
            return entry.operator_monthly_cap if entry.requires_user_key else None
        return key.monthly_limit if key is not None else None

    async def reserve(
        self,
        *,
        user_ref: int,
        candidate: Candidate,
        stored_key: StoredKey | None,
        request: ChatRequest,
        request_id: str,
        kind: str,
    ) -> Reservation:
        """Check the monthly limit with the worst-case cost and write the pending row."""
        limit = self._limit_for(candidate, stored_key)
        if limit is None:
            attempt_id = await self._ledger.begin_grouped(
                user_ref=user_ref,
                request_id=request_id,
                provider_id=candidate.provider_id,
                model=request.model,
                key_source=candidate.key_source,
                request_kind=kind,
                is_fallback=candidate.is_fallback,
            )
            return Reservation(attempt_id, None, candidate, request, kind, request_id)
        worst = _worst_case(request, candidate)
        if worst is None:
            self.observer.request_refused(candidate.provider_id, "unpriced_model")
            raise UnpricedModelError(
                candidate.provider_id,
                request.model,
                operator_key=candidate.key_source == "operator",
            )
        key = SpendKey.at(self._clock(), user_ref, candidate.provider_id, candidate.key_source)
        reserved_id, spent = await self._ledger.reserve(
            key=key,
            request_id=request_id,
            model=request.model,
            request_kind=kind,
            is_fallback=candidate.is_fallback,
            worst=worst,
            limit=limit,
        )
        if reserved_id is None:
            self._spend_after[key] = spent
            self.observer.request_refused(candidate.provider_id, "spend_limit")
            raise SpendLimitError(
                candidate.provider_id,
                limit,
                spent,
                worst,
                operator_key=candidate.key_source == "operator",
            )
        return Reservation(
            reserved_id, limit, candidate, request, kind, request_id, worst, key, spent
        )

    async def finish(self, reservation: Reservation, ending: Ending) -> None:
        """Finish the row and report it; a database outage now must not lose the answer."""
        try:
            await asyncio.shield(self._write_row(reservation, ending))
        except DatabaseUnavailableError:
            log.warning(
                "usage row %s: database unavailable; its finish is queued and retried",
                reservation.attempt_id,
            )
        usage = ending.usage
        self.observer.attempt_finished(
            AttemptRecord(
                provider_id=reservation.candidate.provider_id,
                model=_model(reservation, ending),
                outcome=ending.outcome,
                error_kind=ending.error_kind,
                request_kind=reservation.kind,
                is_fallback=reservation.candidate.is_fallback,
                key_source=reservation.candidate.key_source,
                latency_s=ending.latency_ms / 1000,
                input_tokens=usage.input_tokens if usage else 0,
                output_tokens=usage.output_tokens if usage else 0,
                cost=ending.cost,
            )
        )

    async def _write_row(self, reservation: Reservation, ending: Ending) -> None:
        may_have_billed = ending.may_have_billed
        reserved = reservation.worst_case
        if reserved is None and may_have_billed:
            # Nothing was reserved (no limit), but a cut-off call may still be billed:
            # keep its worst case so reports do not show it as free.
            reserved = _worst_case(reservation.request, reservation.candidate)
        limited = None
        if reservation.spend_key is not None and reservation.worst_case is not None:
            limited = (reservation.spend_key, reservation.worst_case)
            self._note_spend(reservation, ending.cost, reserved, may_have_billed)
        await self._ledger.finish(
            reservation.attempt_id,
            outcome=ending.outcome,
            model=_model(reservation, ending),
            usage=ending.usage,
            cost=ending.cost,
            latency_ms=ending.latency_ms,
            error_kind=ending.error_kind,
            reserved_cost=reserved,
            may_have_billed=may_have_billed,
            request_id=reservation.request_id,
            # Group-committed: until written, this process's next limit check counts
            # the row at its real cost (and other processes at its reservation).
            wait=False,
            limited=limited,
        )

    def _note_spend(
        self,
        reservation: Reservation,
        cost: Decimal | None,
        reserved: Decimal | None,
        may_have_billed: bool,
    ) -> None:
        """The limit's month spend once this attempt counts, for its quota notices: what
        the check saw plus what the attempt counts, without reading it again."""
        if reservation.spend_key is None or reservation.spent_before is None:
            return
        counted = cost if cost is not None else (reserved if may_have_billed else None)
        if len(self._spend_after) >= _MAX_NOTED:
            self._spend_after.clear()  # only a hint: notices_after reads the database instead
        self._spend_after[reservation.spend_key] = reservation.spent_before + (
            counted or Decimal(0)
        )

    async def call(
        self,
        user: UserRef,
        candidate: Candidate,
        key: Secret,
        request: ChatRequest,
        reservation: Reservation,
    ) -> tuple[ChatResult, Answered]:
        provider = self._catalog.get(candidate.provider_id).provider
        started = time.perf_counter()
        try:
            result = await provider.chat(key, request)
        except ProviderError as exc:
            await self._failed(
                user, candidate, reservation, exc, started, billed=exc.may_have_billed
            )
            raise
        except asyncio.CancelledError:
            await self.finish(reservation, _gone(started, cancelled=True))
            raise
        except BaseException:
            await self.finish(reservation, _gone(started, cancelled=False))
            raise
        answered = _answered(reservation, result.model, result.usage, started, result.finish_reason)
        await self.finish(reservation, answered)
        return result, answered

    async def stream(
        self,
        user: UserRef,
        candidate: Candidate,
        key: Secret,
        request: ChatRequest,
        reservation: Reservation,
    ) -> AsyncGenerator[Chunk | Answered, None]:
        """Yields text chunks, then how the attempt answered; the row is finished in every
        case."""
        provider = self._catalog.get(candidate.provider_id).provider
        started = time.perf_counter()
        shown = False
        final: Chunk | None = None
        done = False
        try:
            async for chunk in provider.stream(key, request):
                if chunk.is_final:
                    final = chunk
                if chunk.text:
                    shown = True
                    yield chunk
            if final is None:
                raise StreamInterruptedError(
                    candidate.provider_id, "the stream ended without a final usage report"
                )
            served = final.model or request.model
            answered = _answered(
                reservation, served, final.usage or NOT_REPORTED, started, final.finish_reason
            )
            # Before the await: a cancel during it must not finish the row a second time
            # (finish shields its write, so the success row is written regardless).
            done = True
            await self.finish(reservation, answered)
            yield answered
        except ProviderError as exc:
            if not done:
                error = exc
                if shown and not isinstance(exc, StreamInterruptedError):
                    error = StreamInterruptedError(
                        candidate.provider_id, exc.kind.replace("_", " ")
                    )
                done = True
                billed = shown or exc.may_have_billed
                await self._failed(user, candidate, reservation, error, started, billed=billed)
                if error is not exc:
                    raise error from exc
            raise
        finally:
            if not done:
                # The consumer went away (GeneratorExit) or the task was cancelled.
                await self.finish(reservation, _gone(started, cancelled=True))

    async def _failed(
        self,
        user: UserRef,
        candidate: Candidate,
        reservation: Reservation,
        exc: ProviderError,
        started: float,
        *,
        billed: bool,
    ) -> None:
        await self.finish(reservation, Failed(exc.kind, _ms(started), may_have_billed=billed))
        # A 403 for one model, region or endpoint says nothing about the key's other uses.
        if (
            isinstance(exc, InvalidKeyError)
            and exc.reason != "no_permission"
            and candidate.key_source == "user"
        ):
            try:
                await self._keys.update(
                    user, candidate.provider_id, is_valid=False, invalid_reason=exc.reason
                )
            except DatabaseUnavailableError:
                log.warning("could not mark %s key invalid: database unavailable", exc.provider_id)

    async def notices_after(
        self, *, user_ref: int, candidate: Candidate, limit: Decimal | None, refused: bool = False
    ) -> list[QuotaNotice]:
        if limit is None:
            return []
        key = SpendKey.at(self._clock(), user_ref, candidate.provider_id, candidate.key_source)
        spent = self._spend_after.pop(key, None)
        if spent is None:
            spent = await self._ledger.month_spend(key)
        return await claim_quota_notices(
            self._db,
            user_ref=user_ref,
            provider_id=candidate.provider_id,
            spent=spent,
            limit=limit,
            now=self._clock(),
            operator_key=candidate.key_source == "operator",
            refused=refused,
        )


def _answered(
    reservation: Reservation, served: str, usage: Usage, started: float, finish: str | None
) -> Answered:
    cost = price_of(reservation.candidate.provider_id, served, usage)
    # Unknown cost (usage not reported or implausible) under a limit: keep the worst case.
    unknown_under_limit = cost is None and reservation.limit is not None
    return Answered(served, usage, cost, _ms(started), finish, unknown_under_limit)


def _gone(started: float, *, cancelled: bool) -> Failed:
    """The caller went away (cancelled) or our own code failed mid-call: either way the
    provider may have billed the call."""
    return Failed(
        "cancelled" if cancelled else "internal",
        _ms(started),
        may_have_billed=True,
        cancelled=cancelled,
    )


def _model(reservation: Reservation, ending: Ending) -> str:
    """The model that served the attempt, else the one asked for."""
    return ending.model or reservation.request.model


def _worst_case(request: ChatRequest, candidate: Candidate) -> Decimal | None:
    return worst_case_cost(
        candidate.provider_id,
        request.model,
        estimate_input_tokens(request.messages, candidate.provider_id, request.model),
        request.max_tokens or 0,
    )


def _ms(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)
