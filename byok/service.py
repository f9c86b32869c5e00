"""BYOKService: the engine's one entry point, as the original product described it.

:class:`~byok.engine.Engine` holds what every user shares (database, vault, providers); a
``BYOKService`` is a light view of it for one user::

    service = BYOKService(engine, UserRef("slack", "T1", "U1"))
    answer = await service.chat([{"role": "user", "content": "hi"}], provider="anthropic")
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from byok.answers import (
    Answer,
    CompareEvent,
    CompareFailure,
    Comparing,
    FallingBack,
    FromCache,
    StreamEvent,
    TextDelta,
)
from byok.attempts import Answered, Reservation
from byok.catalog import Catalog
from byok.engine import Engine, provider_named, refuse_unusable_characters
from byok.errors import (
    AllProvidersFailedError,
    Attempt,
    ByokError,
    InvalidKeyError,
    KeyForAnotherProviderError,
    KeyInPromptError,
    ProviderError,
    ProviderQuotaError,
    ProviderUnavailableError,
    RateLimitedError,
    RequestRateLimitError,
    SpendLimitError,
    StreamInterruptedError,
    UnpricedModelError,
    VaultError,
    as_operator_endpoint,
)
from byok.images import fit_messages
from byok.keystore import StoredKey
from byok.observer import AttemptRecord
from byok.preferences import Preferences
from byok.pricing import cache_saving, estimate_input_tokens
from byok.providers.builtins import builtin_record
from byok.remedies import AddKey
from byok.response_cache import CachedAnswer
from byok.routing import Candidate, RoutePlan, plan_route
from byok.secret import Secret, key_vendor, looks_like_key
from byok.types import ChatMessage, ChatRequest, KeyInfo, Usage, UserRef
from byok.usage import ProviderSpend, UsageReport, month_bounds, week_bounds
from byok.user_state import UserState
from byok.users import user_id_or_create

__all__ = [
    "BYOKService",
    "KeyStatus",
    "MessageLike",
    "compare_thread",
]

MessageLike = ChatMessage | Mapping[str, str]

# Failures a different provider can help with. A bad request or unknown model is the
# user's to fix, and falling back would hide that.
_FALLBACK_ON = (
    ProviderUnavailableError,
    RateLimitedError,
    ProviderQuotaError,
    InvalidKeyError,
    SpendLimitError,
    UnpricedModelError,
    VaultError,
)


@dataclass(frozen=True, slots=True)
class KeyStatus:
    """A stored key as its owner sees it, with this month's spend."""

    key: StoredKey
    spent_this_month: Decimal
    readable: bool = True  # False: sealed under a master key this bot is not configured with
    unpriced_this_month: int = 0  # answers of unknown cost left out of ``spent_this_month``


def _leave_unread(reading: asyncio.Future[UserState]) -> None:
    """A state read for a request that was refused: its outcome is not needed."""
    if not reading.cancelled():
        reading.exception()


def _name_of(catalog: Catalog, provider_id: str) -> str:
    """The name people know a provider by: this deployment's, else the built-in one."""
    if provider_id in catalog:
        return catalog.get(provider_id).display_name
    builtin = builtin_record(provider_id)
    return builtin.display_name if builtin else provider_id


def _messages(messages: Sequence[MessageLike]) -> tuple[ChatMessage, ...]:
    converted = []
    for message in messages:
        if isinstance(message, ChatMessage):
            converted.append(message)
            continue
        role = message.get("role", "user")
        if role not in ("system", "user", "assistant"):
            raise ByokError(f"unknown message role {role!r}")
        converted.append(ChatMessage(role, str(message.get("content", ""))))  # type: ignore[arg-type]
    if not any(m.role == "user" and m.content.strip() for m in converted):
        raise ByokError("empty question", explanation="There is no question to ask.")
    if any(looks_like_key(m.content) for m in converted):
        raise KeyInPromptError
    return tuple(converted)


class BYOKService:
    """The engine for one user: chat, stream, keys, preferences and usage."""

    def __init__(self, engine: Engine, user: UserRef) -> None:
        self._engine = engine
        self.user = user

    # --- asking -------------------------------------------------------------------

    async def chat(
        self,
        messages: Sequence[MessageLike],
        *,
        provider: str | None = None,
        model: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        kind: str = "chat",
        thread: str | None = None,
        fresh: bool = False,
    ) -> Answer:
        """One complete answer, routed by the user's preferences, with fallback.

        With the user's response cache on, an identical request within its TTL is
        answered from it; ``fresh`` asks the provider all the same (and keeps the new
        answer).
        """
        answer: Answer | None = None
        async for event in self._run(
            messages, provider, model, max_tokens, temperature, kind, thread,
            streaming=False, fresh=fresh,
        ):  # fmt: skip
            if isinstance(event, Answer):
                answer = event
        assert answer is not None
        return answer

    def stream(
        self,
        messages: Sequence[MessageLike],
        *,
        provider: str | None = None,
        model: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        kind: str = "stream",
        thread: str | None = None,
        fresh: bool = False,
    ) -> AsyncIterator[StreamEvent]:
        """Text as it is generated, then the Answer. See :mod:`byok.answers`.

        A cached answer (see :meth:`chat`) comes as one piece of text."""
        return self._run(
            messages, provider, model, max_tokens, temperature, kind, thread,
            streaming=True, fresh=fresh,
        )  # fmt: skip

    async def compare(
        self,
        messages: Sequence[MessageLike],
        *,
        providers: Sequence[str] | None = None,
        max_providers: int = 4,
        max_tokens: int | None = None,
        temperature: float | None = None,
        kind: str = "compare",
        thread: str | None = None,
        fresh: bool = False,
    ) -> AsyncIterator[CompareEvent]:
        """Ask several providers at once; their answers stream in, interleaved.

        ``providers`` (ids or aliases, at most ``max_providers``), or None: every provider
        the user holds a usable key for, in the catalog's order, the first
        ``max_providers``. Each provider is one request of its own, with fallback off:
        its own rate allowance, its own limit reservation and usage row, its own cached
        answer (``fresh`` as in :meth:`chat`), its own conversation in ``thread`` (see
        :func:`compare_thread`). Yields :class:`Comparing` first, then the text deltas as
        they come, each provider ending with its ``Answer`` or :class:`CompareFailure`.

        When the consumer stops early (or is cancelled), the attempts still running are
        cancelled and awaited: every pending usage row is finished before this returns.
        """
        chosen = await self.compare_set(providers, max_providers)
        if thread:
            await self._remember_compare(thread, chosen)
        yield Comparing(chosen)
        queue: asyncio.Queue[CompareEvent | BaseException | None] = asyncio.Queue()

        async def ask_one(provider_id: str) -> None:
            shown: list[str] = []
            run = self._run(
                messages, provider_id, None, max_tokens, temperature, kind,
                compare_thread(thread, provider_id) if thread else None,
                streaming=True, fresh=fresh, fallback=False,
            )  # fmt: skip
            try:
                async with aclosing(run):
                    async for event in run:
                        if isinstance(event, TextDelta):
                            shown.append(event.text)
                        if not isinstance(event, FallingBack):  # none: fallback is off
                            queue.put_nowait(event)
            except StreamInterruptedError as exc:
                partial = exc.partial_text or "".join(shown)
                queue.put_nowait(CompareFailure(provider_id, exc, partial))
            except ByokError as exc:
                queue.put_nowait(CompareFailure(provider_id, exc, "".join(shown)))
            except asyncio.CancelledError:
                raise
            except BaseException as exc:  # noqa: BLE001 - handed to the consumer, who raises it
                queue.put_nowait(exc)
            finally:
                queue.put_nowait(None)

        tasks = [asyncio.create_task(ask_one(pid), name=f"compare:{pid}") for pid in chosen]
        try:
            running = len(tasks)
            while running:
                item = await queue.get()
                if item is None:
                    running -= 1
                elif isinstance(item, BaseException):
                    raise item
                else:
                    yield item
        finally:
            for task in tasks:
                task.cancel()
            # Each attempt finishes its row as it is cancelled (see AttemptRunner.stream);
            # shielded, so a second cancel of the consumer does not leave a row pending.
            await asyncio.shield(asyncio.gather(*tasks, return_exceptions=True))

    async def compare_set(
        self, providers: Sequence[str] | None, max_providers: int
    ) -> tuple[str, ...]:
        """The providers a comparison asks: those named (resolved, each once), or the
        user's usable keys; refused when more than ``max_providers``."""
        catalog = self._engine.catalog
        if providers is not None:
            chosen: list[str] = []
            for name in providers:
                pid = catalog.resolve(name).provider_id
                if pid in chosen:
                    raise ByokError(
                        f"{pid} named twice",
                        explanation=f"{_name_of(catalog, pid)} is named twice: name each "
                        "provider once.",
                    )
                chosen.append(pid)
            if len(chosen) > max_providers:
                raise ByokError(
                    "too many providers to compare",
                    explanation=f"At most {max_providers} providers can be compared at once "
                    f"({len(chosen)} were named).",
                )
            return tuple(chosen)
        state = await self._engine.user_state(self.user)
        usable = [
            entry.provider_id
            for entry in catalog
            if (key := state.keys.get(entry.provider_id)) is not None and key.usable
        ]
        if len(usable) < 2:
            raise ByokError(
                "fewer than two keys to compare",
                explanation="Comparing needs working keys for at least two providers "
                f"(you have {len(usable)}).",
                advice=("Add another with ", AddKey(), "."),
            )
        return tuple(usable[:max_providers])

    async def compare_set_of(self, thread: str) -> tuple[str, ...] | None:
        """The providers a comparison in ``thread`` asked (when history is kept), so a
        follow-up asks them again; None when the thread is not a comparison."""
        state = await self._engine.user_state(self.user)
        if not state.prefs.store_conversation_history:
            return None
        kept = await self._engine.history.recent(self.user, compare_thread(thread, ""), 1000)
        marks = [m.content for m in kept if m.role == "user"]
        if not marks:
            return None
        known = set(self._engine.catalog.ids)
        chosen = tuple(p for p in marks[-1].split(",") if p in known)
        return chosen or None

    async def _remember_compare(self, thread: str, chosen: Sequence[str]) -> None:
        state = await self._engine.user_state(self.user)
        if not state.prefs.store_conversation_history:
            return
        if await self.compare_set_of(thread) == tuple(chosen):
            return
        mark = ChatMessage("user", ",".join(chosen))
        await self._engine.history.append(self.user, compare_thread(thread, ""), [mark])

    async def _prepare(
        self,
        messages: Sequence[MessageLike],
        provider: str | None,
        model: str | None,
        max_tokens: int | None,
        thread: str | None,
        *,
        fallback: bool = True,
    ) -> tuple[tuple[ChatMessage, ...], UserState, RoutePlan, int, list[str]]:
        engine = self._engine
        asked = _messages(messages)
        # A shared allowance is a database round trip of its own: the state is read meanwhile.
        reading = (
            asyncio.ensure_future(engine.user_state(self.user))
            if engine.limiter.in_database
            else None
        )
        try:
            await engine.limiter.acquire(self.user)
        except BaseException as exc:
            if reading is not None:
                reading.add_done_callback(_leave_unread)
            if isinstance(exc, RequestRateLimitError):
                engine.runner.observer.request_refused(provider or "any", "request_rate")
            raise
        state = await (reading if reading is not None else engine.user_state(self.user))
        prefs = state.prefs
        notes: list[str] = []
        limit = max_tokens or prefs.max_tokens_per_request or engine.settings.default_max_tokens
        if prefs.max_tokens_per_request and limit > prefs.max_tokens_per_request:
            notes.append(
                f"max tokens capped at {prefs.max_tokens_per_request} by your preferences."
            )
            limit = prefs.max_tokens_per_request
        full = asked
        if thread and prefs.store_conversation_history:
            earlier = await engine.history.recent(
                self.user, thread, engine.settings.history_token_budget
            )
            system = tuple(m for m in asked if m.role == "system")
            rest = tuple(m for m in asked if m.role != "system")
            full = (*system, *earlier, *rest)
        plan = plan_route(
            engine.catalog,
            prefs,
            list(state.keys.values()),
            resolve=engine.resolve,
            provider=provider,
            model=model,
            input_tokens=estimate_input_tokens(full),
            max_tokens=limit,
            images=any(m.images for m in full),
        )
        notes.extend(plan.notes)
        if not fallback:
            plan = replace(plan, candidates=plan.candidates[:1])
        return full, state, plan, limit, notes

    async def _run(
        self,
        messages: Sequence[MessageLike],
        provider: str | None,
        model: str | None,
        max_tokens: int | None,
        temperature: float | None,
        kind: str,
        thread: str | None,
        *,
        streaming: bool,
        fresh: bool = False,
        fallback: bool = True,
    ) -> AsyncGenerator[StreamEvent, None]:
        engine = self._engine
        full, state, plan, limit, notes = await self._prepare(
            messages, provider, model, max_tokens, thread, fallback=fallback
        )
        prefs, user_ref = state.prefs, state.user_ref
        request_id = uuid.uuid4().hex
        failures: list[Attempt] = []
        for index, candidate in enumerate(plan.candidates):
            # Images fitted to this provider's limits (each candidate may differ), before
            # anything is reserved or billed.
            request = ChatRequest(
                candidate.model, await fit_messages(candidate.provider_id, full), limit, temperature
            )
            key_hash = self._cache_key(prefs, candidate, request)
            # Before the limit check: a cached answer costs nothing, so it is served even
            # when the month's limit is reached.
            cached = None
            if key_hash is not None and not fresh:
                cached = await self._cached(
                    candidate, key_hash, prefs, user_ref, request_id, kind, failures, notes
                )
            if cached is not None:
                async for event in self._deliver(cached, thread, prefs, full, whole=streaming):
                    yield event
                return
            try:
                key = engine.runner.key_for(
                    self.user, candidate, state.sealed.get(candidate.provider_id)
                )
                reservation = await engine.runner.reserve(
                    user_ref=user_ref,
                    candidate=candidate,
                    stored_key=state.keys.get(candidate.provider_id),
                    request=request,
                    request_id=request_id,
                    kind=kind,
                )
                if streaming:
                    answer = None
                    attempt = self._stream_attempt(
                        candidate, key, request, reservation, request_id, failures, notes
                    )
                    async with aclosing(attempt):
                        async for event in attempt:
                            if isinstance(event, Answer):
                                answer = event
                            else:
                                yield event
                    assert answer is not None
                else:
                    answer = await self._chat_attempt(
                        candidate, key, request, reservation, request_id, failures, notes
                    )
            except (ProviderError, SpendLimitError, UnpricedModelError, VaultError) as exc:
                entry = engine.catalog.get(candidate.provider_id)
                if isinstance(exc, ProviderError) and not entry.requires_user_key:
                    as_operator_endpoint(exc)
                exc.name_provider(entry.display_name)
                if isinstance(exc, StreamInterruptedError):
                    raise
                failures.append(Attempt(candidate.provider_id, candidate.model, exc))
                if isinstance(exc, SpendLimitError) and prefs.notify_on_quota_low:
                    exc.notices = tuple(
                        await engine.runner.notices_after(
                            user_ref=user_ref, candidate=candidate, limit=exc.limit, refused=True
                        )
                    )
                later = plan.candidates[index + 1 :]
                if not later or not isinstance(exc, _FALLBACK_ON):
                    final = _final_error(failures)
                    if final is exc:
                        raise
                    raise final from exc
                if streaming:
                    yield FallingBack(failures[-1], later[0].provider_id, later[0].model)
                continue
            if prefs.notify_on_quota_low and reservation.limit is not None:
                notices = await engine.runner.notices_after(
                    user_ref=user_ref, candidate=candidate, limit=reservation.limit
                )
                answer = replace(answer, notices=tuple(notices)) if notices else answer
            await self._keep(answer, user_ref, key_hash, prefs)
            async for event in self._deliver(answer, thread, prefs, full, whole=False):
                yield event
            return

    def _cache_key(
        self, prefs: Preferences, candidate: Candidate, request: ChatRequest
    ) -> str | None:
        """The request's name in the user's response cache; None when not caching."""
        if not (self._engine.response_cache.settings.enabled and prefs.cache_answers):
            return None
        return self._engine.response_cache.key_hash(
            self.user,
            candidate.provider_id,
            request.model,
            request.messages,
            request.max_tokens,
            request.temperature,
        )

    async def _keep(
        self, answer: Answer, user_ref: int, key_hash: str | None, prefs: Preferences
    ) -> None:
        """Keep a complete answer in the cache, under the provider that gave it."""
        if key_hash is None:
            return
        cache = self._engine.response_cache
        cached = CachedAnswer(
            text=answer.text,
            provider_id=answer.provider_id,
            model=answer.model,
            usage=answer.usage,
            cost=answer.cost,
            finish_reason=answer.finish_reason,
            created_at=self._engine.clock(),
        )
        ttl_s = cache.settings.ttl_s(prefs.cache_ttl_s)
        await cache.put(self.user, user_ref, key_hash, cached, ttl_s)

    async def _deliver(
        self,
        answer: Answer,
        thread: str | None,
        prefs: Preferences,
        full: Sequence[ChatMessage],
        *,
        whole: bool,
    ) -> AsyncIterator[StreamEvent]:
        """Keep the question and its answer in the thread's history when allowed, then
        hand the answer over (``whole``: its text first, as one streamed piece)."""
        if thread and prefs.store_conversation_history:
            new = [m for m in full if m.role == "user"][-1:]
            await self._engine.history.append(
                self.user, thread, [*new, ChatMessage("assistant", answer.text)]
            )
        if whole:
            yield TextDelta(answer.text, answer.provider_id, answer.model)
        yield answer

    async def _cached(
        self,
        candidate: Candidate,
        key_hash: str,
        prefs: Preferences,
        user_ref: int,
        request_id: str,
        kind: str,
        failures: list[Attempt],
        notes: list[str],
    ) -> Answer | None:
        """The cached answer to this request, if any, and its one usage row: outcome
        ``cached``, cost 0, and what the original cost as the saving. No provider is
        called."""
        engine = self._engine
        started = time.perf_counter()
        cache = engine.response_cache
        ttl_s = cache.settings.ttl_s(prefs.cache_ttl_s)
        hit = await cache.lookup(self.user, user_ref, candidate.provider_id, key_hash, ttl_s)
        if hit is None:
            return None
        elapsed_s = time.perf_counter() - started
        latency_ms = round(elapsed_s * 1000)
        engine.ledger.record(
            user_ref=user_ref,
            request_id=request_id,
            provider_id=candidate.provider_id,
            model=hit.model,
            key_source=candidate.key_source,
            request_kind=kind,
            is_fallback=candidate.is_fallback,
            created_at=engine.clock(),
            outcome="cached",
            cost=Decimal(0),
            latency_ms=latency_ms,
            saved_cost=hit.cost,
        )
        engine.runner.observer.attempt_finished(
            AttemptRecord(
                provider_id=candidate.provider_id,
                model=hit.model,
                outcome="cached",
                error_kind=None,
                request_kind=kind,
                is_fallback=candidate.is_fallback,
                key_source=candidate.key_source,
                latency_s=elapsed_s,
                saved=hit.cost,
            )
        )
        return Answer(
            text=hit.text,
            provider_id=candidate.provider_id,
            model=hit.model,
            usage=Usage(),
            cost=Decimal(0),
            latency_ms=latency_ms,
            request_id=request_id,
            key_source=candidate.key_source,
            failed_attempts=tuple(failures),
            notes=tuple(notes),
            finish_reason=hit.finish_reason,
            from_cache=FromCache(
                hit.created_at, hit.cost, (engine.clock() - hit.created_at).total_seconds()
            ),
        )

    async def _chat_attempt(
        self,
        candidate: Candidate,
        key: Secret,
        request: ChatRequest,
        reservation: Reservation,
        request_id: str,
        failures: list[Attempt],
        notes: list[str],
    ) -> Answer:
        result, answered = await self._engine.runner.call(
            self.user, candidate, key, request, reservation
        )
        return _answer(result.text, answered, candidate, request, request_id, failures, notes)

    async def _stream_attempt(
        self,
        candidate: Candidate,
        key: Secret,
        request: ChatRequest,
        reservation: Reservation,
        request_id: str,
        failures: list[Attempt],
        notes: list[str],
    ) -> AsyncGenerator[TextDelta | Answer, None]:
        parts: list[str] = []
        stream = self._engine.runner.stream(self.user, candidate, key, request, reservation)
        try:
            async with aclosing(stream):
                async for item in stream:
                    if isinstance(item, Answered):
                        text = "".join(parts)
                        yield _answer(text, item, candidate, request, request_id, failures, notes)
                    else:
                        parts.append(item.text)
                        yield TextDelta(item.text, candidate.provider_id, request.model)
        except StreamInterruptedError as exc:
            exc.partial_text = "".join(parts)
            raise

    # --- keys ---------------------------------------------------------------------

    async def validate_api_key(self, provider: str, key: str | Secret) -> KeyInfo:
        return await self._engine.validate_api_key(provider, key)

    async def add_key(
        self,
        provider: str,
        key: str | Secret,
        *,
        label: str | None = None,
        monthly_limit: Decimal | None = None,
        allowed_models: Sequence[str] | None = None,
    ) -> tuple[StoredKey, KeyInfo]:
        """Validate the key with the provider, then store it encrypted (replacing any)."""
        entry = self._engine.catalog.resolve(provider)
        secret = key if isinstance(key, Secret) else Secret(key)
        refuse_unusable_characters(secret)
        vendor = key_vendor(secret)
        if (
            vendor is not None
            and vendor[0] != entry.provider_id
            and builtin_record(entry.provider_id) is not None
        ):
            raise KeyForAnotherProviderError(
                entry.provider_id,
                *vendor,
                name=entry.display_name,
                vendor_name=_name_of(self._engine.catalog, vendor[0]),
            )
        with provider_named(entry):
            info = await entry.provider.validate_key(secret)
        models = [self._engine.canonical_model(entry.provider_id, m) for m in allowed_models or ()]
        stored = await self._engine.keys.put(
            self.user,
            entry.provider_id,
            secret,
            label=label,
            monthly_limit=monthly_limit,
            allowed_models=models or None,
        )
        return stored, info

    async def test_key(self, provider: str) -> KeyInfo:
        """Check the stored key again; a refused key is marked invalid, a good one valid."""
        entry = self._engine.catalog.resolve(provider)
        with provider_named(entry):
            secret = await self._engine.keys.secret(self.user, entry.provider_id)
            try:
                info = await entry.provider.validate_key(secret)
            except InvalidKeyError as exc:
                await self._engine.keys.update(
                    self.user, entry.provider_id, is_valid=False, invalid_reason=exc.reason
                )
                raise
        await self._engine.keys.update(
            self.user,
            entry.provider_id,
            is_valid=True,
            invalid_reason=None,
            last_validated_at=self._engine.clock(),
        )
        return info

    async def get_user_api_keys(self) -> list[KeyStatus]:
        keys = await self._engine.keys.list(self.user)
        if not keys:
            return []
        async with self._engine.database.session() as session:
            user_ref = await user_id_or_create(session, self.user, self._engine.clock())
        spent = await self._engine.ledger.month_spend_by_provider(user_ref, "user")
        nothing = ProviderSpend(Decimal(0))
        return [
            KeyStatus(
                k,
                spent.get(k.provider_id, nothing).spent,
                self._engine.keys.readable(k),
                spent.get(k.provider_id, nothing).unpriced,
            )
            for k in keys
        ]

    async def remove_key(self, provider: str) -> bool:
        entry = self._engine.catalog.resolve(provider)
        return await self._engine.keys.remove(self.user, entry.provider_id)

    async def set_key_enabled(self, provider: str, enabled: bool) -> StoredKey:
        entry = self._engine.catalog.resolve(provider)
        with provider_named(entry):
            return await self._engine.keys.update(self.user, entry.provider_id, is_active=enabled)

    async def set_monthly_limit(self, provider: str, usd: Decimal | None) -> StoredKey:
        entry = self._engine.catalog.resolve(provider)
        if usd is not None and usd < 0:
            raise ByokError("negative limit", explanation="A monthly limit cannot be negative.")
        with provider_named(entry):
            return await self._engine.keys.update(self.user, entry.provider_id, monthly_limit=usd)

    async def set_allowed_models(self, provider: str, models: Sequence[str]) -> StoredKey:
        entry = self._engine.catalog.resolve(provider)
        canonical = [self._engine.canonical_model(entry.provider_id, m) for m in models]
        with provider_named(entry):
            return await self._engine.keys.update(
                self.user, entry.provider_id, allowed_models=canonical or None
            )

    # --- preferences ----------------------------------------------------------------

    async def get_preferences(self) -> Preferences:
        return await self._engine.preferences.get(self.user)

    async def set_preferences(self, **changes: Any) -> Preferences:
        """Change preferences; provider names are resolved (aliases allowed) and checked."""
        catalog = self._engine.catalog
        for name in ("default_provider", "fallback_provider"):
            if changes.get(name):
                changes[name] = catalog.resolve(changes[name]).provider_id
        if "preferred_models" in changes:
            changes["preferred_models"] = {
                catalog.resolve(p).provider_id: self._engine.canonical_model(
                    catalog.resolve(p).provider_id, m
                )
                for p, m in changes["preferred_models"].items()
            }
        if "max_tokens_per_request" in changes:
            cap = changes["max_tokens_per_request"]
            if cap is not None and cap < 1:
                raise ByokError(
                    "bad max tokens", explanation="Max tokens per request must be at least 1."
                )
        if "cache_ttl_s" in changes:
            ttl = changes["cache_ttl_s"]
            longest = self._engine.response_cache.settings.max_ttl_s
            if ttl is not None and not 60 <= ttl <= longest:
                raise ByokError(
                    "bad cache ttl",
                    explanation=(
                        f"The cache TTL must be between 1 minute and {longest // 3600:,} hours."
                    ),
                )
        if not changes.get("store_conversation_history", True):
            await self.forget_history()
        if not changes.get("cache_answers", True):
            await self.clear_cache()
        return await self._engine.preferences.update(self.user, **changes)

    async def forget_history(self) -> int:
        """Delete the user's stored conversation history, and their cached answers with
        it (an answer kept is history too); how many history messages there were."""
        forgotten = await self._engine.history.forget(self.user)
        await self.clear_cache()
        return forgotten

    async def clear_cache(self) -> int:
        """Delete every cached answer of the user; how many there were."""
        return await self._engine.response_cache.clear(self.user)

    async def set_preferred_model(self, provider: str, model: str | None) -> Preferences:
        entry = self._engine.catalog.resolve(provider)
        prefs = await self.get_preferences()
        models = dict(prefs.preferred_models)
        if model:
            models[entry.provider_id] = self._engine.canonical_model(entry.provider_id, model)
        else:
            models.pop(entry.provider_id, None)
        return await self._engine.preferences.update(self.user, preferred_models=models)

    # --- usage ------------------------------------------------------------------------

    async def usage_report(
        self, period: Literal["week", "month"] = "month", *, at: datetime | None = None
    ) -> UsageReport:
        now = at or self._engine.clock()
        start, end = week_bounds(now) if period == "week" else month_bounds(now)
        async with self._engine.database.session() as session:
            user_ref = await user_id_or_create(session, self.user, self._engine.clock())
        return await self._engine.ledger.report(user_ref, start, end)


def compare_thread(thread: str, provider_id: str) -> str:
    """The history key of one provider's conversation in a comparison thread; with no
    provider, the key under which the thread's set of providers is remembered."""
    return f"{thread}#compare:{provider_id}" if provider_id else f"{thread}#compare"


def _answer(
    text: str,
    answered: Answered,
    candidate: Candidate,
    request: ChatRequest,
    request_id: str,
    failures: list[Attempt],
    notes: list[str],
) -> Answer:
    return Answer(
        text=text,
        provider_id=candidate.provider_id,
        model=answered.model,
        usage=answered.usage,
        cost=answered.cost,
        latency_ms=answered.latency_ms,
        request_id=request_id,
        key_source=candidate.key_source,
        failed_attempts=tuple(failures),
        notes=(*notes, *_substitution_note(candidate, request.model, answered.model)),
        finish_reason=answered.finish_reason,
        cache_saved=cache_saving(candidate.provider_id, answered.model, answered.usage),
    )


def _substitution_note(candidate: Candidate, asked: str, served: str) -> tuple[str, ...]:
    """Say which model a router (OpenRouter) really used when it was not the one chosen."""
    router = builtin_record(candidate.provider_id)
    if router is None or router.auto_router_model is None or served == asked:
        return ()
    name = router.display_name
    if asked == router.auto_router_model:
        return (f"{name}'s auto router picked {served}; it was priced as {served}.",)
    base, _, variant = asked.partition(":")
    if served.partition(":")[0] == base and variant != "free":
        return ()  # the same model under a routing variant (":nitro", ":floor")
    return (f"{name} answered with {served}, not {asked}; it was priced as {served}.",)


def _final_error(failures: list[Attempt]) -> ByokError:
    if len(failures) == 1:
        return failures[0].error
    return AllProvidersFailedError(failures)
