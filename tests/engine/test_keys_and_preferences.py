"""Keys and preferences through BYOKService; history only when allowed; request rate limit."""

from __future__ import annotations

import secrets
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from bot.commands.table import COMMAND_HINTS
from byok.db.tables import ConversationMessage
from byok.engine import EngineSettings
from byok.errors import (
    ByokError,
    DatabaseUnavailableError,
    InvalidKeyError,
    KeyForAnotherProviderError,
    KeyInPromptError,
    ProviderQuotaError,
    RequestRateLimitError,
)
from tests.engine.conftest import MakeRig, Rig

QUESTION = [{"role": "user", "content": "Hello?"}]


async def test_add_validates_before_storing(rig: Rig, canary_key: str) -> None:
    with pytest.raises(InvalidKeyError) as caught:
        await rig.service().add_key("openai", canary_key)
    assert caught.value.reason == "invalid"
    shown = COMMAND_HINTS.error_text(caught.value)
    assert canary_key not in str(caught.value) and canary_key not in shown
    assert await rig.service().get_user_api_keys() == []
    check = rig.fakes["openai"].requests[-1]
    assert (check.method, check.path) == ("GET", "/v1/models")


async def test_a_key_of_another_provider_is_refused_before_any_request(rig: Rig) -> None:
    anthropic_key = rig.fakes.key("anthropic")
    with pytest.raises(KeyForAnotherProviderError) as caught:
        await rig.service().add_key("openai", anthropic_key)
    message = COMMAND_HINTS.error_text(caught.value)
    assert "looks like an anthropic key (it starts with `sk-ant-`), not your openai key" in message
    assert "`/byok add anthropic`" in message and anthropic_key not in message
    assert not rig.fakes["openai"].requests and not rig.fakes["anthropic"].requests
    assert await rig.service().get_user_api_keys() == []
    legacy_openai = f"sk-{secrets.token_hex(10)}T3BlbkFJ{secrets.token_hex(10)}"
    with pytest.raises(KeyForAnotherProviderError):
        await rig.service().add_key("openrouter", legacy_openai)
    assert not rig.fakes["openrouter"].requests
    # A bare "sk-" is shared by several providers: not judged by its prefix alone.
    await rig.add_key("openai")
    assert [s.key.provider_id for s in await rig.service().get_user_api_keys()] == ["openai"]


async def test_openrouter_key_without_credit_is_refused(rig: Rig) -> None:
    broke = rig.fakes["openrouter"].add_key(status="no_credit", limit=10.0, limit_remaining=0.0)
    with pytest.raises(ProviderQuotaError):
        await rig.service().add_key("openrouter", broke)


async def test_list_is_masked_and_shows_month_spend(rig: Rig) -> None:
    key = await rig.add_key("openai", limit="20", label="work")
    await rig.service().chat(QUESTION)
    [status] = await rig.service().get_user_api_keys()
    assert status.key.last4 == key[-4:] and status.key.label == "work"
    assert status.key.monthly_limit == Decimal(20)
    assert status.spent_this_month > 0
    assert key not in repr(status)


async def test_test_key_marks_a_revoked_key_invalid_then_valid_again(rig: Rig) -> None:
    key = await rig.add_key("anthropic")
    rig.fakes["anthropic"].keys[key].status = "revoked"
    with pytest.raises(InvalidKeyError):
        await rig.service().test_key("anthropic")
    [status] = await rig.service().get_user_api_keys()
    assert not status.key.usable
    rig.fakes["anthropic"].keys[key].status = "valid"
    await rig.service().test_key("claude")
    [status] = await rig.service().get_user_api_keys()
    assert status.key.usable


async def test_disable_enable_remove(rig: Rig) -> None:
    await rig.add_key("openai")
    await rig.service().set_key_enabled("openai", False)
    with pytest.raises(ByokError, match="disabled") as caught:
        await rig.service().chat(QUESTION, provider="openai")
    assert "/byok enable openai" in COMMAND_HINTS.error_text(caught.value)
    await rig.service().set_key_enabled("openai", True)
    assert (await rig.service().chat(QUESTION)).provider_id == "openai"
    assert await rig.service().remove_key("openai")
    assert await rig.service().get_user_api_keys() == []


async def test_preferences_round_trip_with_aliases(rig: Rig) -> None:
    prefs = await rig.service().set_preferences(
        default_provider="claude", fallback_provider="grok", max_tokens_per_request=300,
        enable_cost_optimization=True, notify_on_quota_low=False,
    )  # fmt: skip
    assert (prefs.default_provider, prefs.fallback_provider) == ("anthropic", "xai")
    again = await rig.service().get_preferences()
    assert again == prefs and again.max_tokens_per_request == 300
    models = await rig.service().set_preferred_model("openai", "gpt-4")
    assert models.preferred_models == {"openai": "gpt-5.6-sol"}


async def _stored_messages(rig: Rig) -> int:
    async with rig.engine.database.session() as session:
        return int(await session.scalar(select(func.count()).select_from(ConversationMessage)) or 0)


async def test_history_is_kept_only_when_allowed(rig: Rig) -> None:
    await rig.add_key("openai")
    await rig.service().chat([{"role": "user", "content": "secret plans"}], thread="t1")
    assert await _stored_messages(rig) == 0
    await rig.service().set_preferences(store_conversation_history=True)
    rig.fakes["openai"].reply(text="Noted: the plan is X.")
    await rig.service().chat([{"role": "user", "content": "Remember X."}], thread="t1")
    await rig.service().chat([{"role": "user", "content": "What did I say?"}], thread="t1")
    sent = rig.fakes["openai"].requests[-1].json()["messages"]
    assert [m["content"] for m in sent] == [
        "Remember X.",
        "Noted: the plan is X.",
        "What did I say?",
    ]
    await rig.service().set_preferences(store_conversation_history=False)
    assert await _stored_messages(rig) == 0


async def test_history_stays_within_its_token_budget(make_rig: MakeRig) -> None:
    rig = await make_rig(settings=EngineSettings(requests_per_minute=1000, history_token_budget=60))
    await rig.add_key("openai")
    await rig.service().set_preferences(store_conversation_history=True)
    for n in range(10):
        rig.fakes["openai"].reply(text=f"answer {n} " + "x" * 80)
        await rig.service().chat([{"role": "user", "content": f"question {n}"}], thread="t")
    sent = rig.fakes["openai"].requests[-1].json()["messages"]
    history = sent[:-1]
    assert sum(len(m["content"]) for m in history) <= 60 * 4
    assert history == [] or history[0]["role"] == "user"


async def test_a_key_in_the_prompt_is_never_sent(rig: Rig, canary_key: str) -> None:
    await rig.add_key("openai")
    before = len(rig.fakes["openai"].requests)
    with pytest.raises(KeyInPromptError) as caught:
        await rig.service().chat([{"role": "user", "content": f"is {canary_key} valid?"}])
    assert "revoke it" in COMMAND_HINTS.error_text(caught.value)
    assert len(rig.fakes["openai"].requests) == before
    assert await rig.usage_rows() == []


async def test_request_rate_limit_says_when_to_retry(make_rig: MakeRig) -> None:
    rig = await make_rig(settings=EngineSettings(requests_per_minute=2))
    await rig.add_key("openai")
    await rig.service().chat(QUESTION)
    await rig.service().chat(QUESTION)
    with pytest.raises(RequestRateLimitError) as caught:
        await rig.service().chat(QUESTION)
    assert "Try again in" in COMMAND_HINTS.error_text(caught.value)
    assert 0 < caught.value.retry_after <= 30


async def test_database_down_is_a_clear_error_and_nothing_is_sent(
    make_rig: MakeRig, tmp_path: object
) -> None:
    from byok.db import Database

    rig = await make_rig(Database("postgresql+asyncpg://nobody@127.0.0.1:1/none"))
    with pytest.raises(DatabaseUnavailableError) as caught:
        await rig.service().chat(QUESTION)
    assert "nothing was saved or sent" in COMMAND_HINTS.error_text(caught.value)
    assert all(r.method == "GET" for fake in rig.fakes for r in rig.fakes[fake].requests)


def test_a_state_loaded_while_a_change_happened_is_not_kept() -> None:
    from byok.preferences import Preferences
    from byok.types import UserRef
    from byok.user_state import UserState, UserStateCache

    cache = UserStateCache()
    owner = UserRef("slack", "T", "U")
    state = UserState(1, Preferences(), {}, {})
    before = cache.generation
    cache.forget(owner)  # a write committed while the load was reading
    cache.put(owner, state, before)
    assert cache.get(owner) is None
    cache.put(owner, state, cache.generation)
    assert cache.get(owner) is state


async def test_changes_take_effect_on_the_very_next_request(rig: Rig) -> None:
    await rig.add_key("openai")
    await rig.add_key("anthropic")
    assert (await rig.service().chat(QUESTION)).provider_id == "openai"
    await rig.service().set_preferences(default_provider="anthropic")
    assert (await rig.service().chat(QUESTION)).provider_id == "anthropic"
    await rig.service().remove_key("anthropic")
    assert (await rig.service().chat(QUESTION)).provider_id == "openai"
