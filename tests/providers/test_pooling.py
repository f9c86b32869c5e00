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


async def test_per_key_sdk_clients_share_the_pool(subject: Subject) -> None:
    provider = subject.provider
    if isinstance(provider, OpenAIProvider | AnthropicProvider):
        per_key = provider._for(subject.key)
        assert per_key is not provider.client
        assert per_key._client is provider.client._client
    else:
        assert _pool(provider) is _pool(provider)
