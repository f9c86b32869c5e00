"""One HTTP client per provider, reused across requests and users (connection pooling).

Proved from the server side: the fake sees every request arrive on the same TCP
connection; and from the client side: the pooled client object never changes.
"""

from __future__ import annotations

from typing import Any

from byok.providers.anthropic import AnthropicProvider
from byok.providers.google import GoogleProvider
from byok.providers.openai import OpenAIProvider
from byok.providers.openai_compatible import OpenAICompatibleProvider
from byok.secret import Secret
from tests.providers.chat import Subject, ask, drain


def _pool(provider: object) -> Any:
    if isinstance(provider, OpenAIProvider | AnthropicProvider):
        return provider.client._client  # the SDK's httpx2 client
    assert isinstance(provider, GoogleProvider | OpenAICompatibleProvider)
    return provider.http_client


async def test_requests_share_one_connection(subject: Subject) -> None:
    other_user = Secret(subject.fake.add_key())
    model = subject.fake.models[0]
    pool = _pool(subject.provider)

    await subject.provider.chat(subject.key, ask(model, "one"))
    await drain(subject.provider, subject.key, ask(model, "two"))
    await subject.provider.chat(other_user, ask(model, "three"))  # another user's key
    await drain(subject.provider, other_user, ask(model, "four"))
    await subject.provider.validate_key(subject.key)

    assert len(subject.fake.requests) == 5
    assert subject.fake.connection_count == 1
    assert _pool(subject.provider) is pool


async def test_each_request_carries_its_own_users_key_on_one_pool(subject: Subject) -> None:
    """Every user's key reaches the provider on the one shared connection pool."""
    other_user = Secret(subject.fake.add_key())
    model = subject.fake.models[0]
    before = _pool(subject.provider)
    await subject.provider.chat(subject.key, ask(model, "one"))
    await subject.provider.chat(other_user, ask(model, "two"))
    await subject.provider.chat(subject.key, ask(model, "three"))
    sent = [subject.fake.key_of(r) for r in subject.fake.requests[-3:]]
    assert sent == [subject.key.reveal(), other_user.reveal(), subject.key.reveal()]
    assert _pool(subject.provider) is before
