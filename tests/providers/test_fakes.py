"""The fakes themselves: what other suites rely on when they drive them."""

from __future__ import annotations

import httpx
import pytest

from tests.fakes.fake_anthropic import FakeAnthropic
from tests.fakes.llm_script import FakeLLM
from tests.fakes.loopback import Fault
from tests.fakes.plugin import FakeProviders


async def test_each_fake_listens_on_its_own_loopback_port(fake_providers: FakeProviders) -> None:
    urls = {fake_providers[pid].url for pid in fake_providers}

    assert len(urls) == 5
    assert all(url.startswith("http://127.0.0.1:") for url in urls)
    for pid in fake_providers:
        assert fake_providers.settings(pid).base_url.startswith(fake_providers[pid].url)


async def test_anthropic_fake_accepts_both_header_styles(fake_anthropic: FakeLLM) -> None:
    key = fake_anthropic.valid_key
    body = {
        "model": "claude-haiku-4-5",
        "max_tokens": 5,
        "messages": [{"role": "user", "content": "hi"}],
    }
    async with httpx.AsyncClient(base_url=fake_anthropic.url) as client:
        old = await client.post(
            "/v1/messages", json=body, headers={"x-api-key": key, "anthropic-version": "2023-06-01"}
        )
        new = await client.post(
            "/v1/messages",
            json=body,
            headers={"Authorization": f"Bearer {key}", "anthropic-version": "2026-10-21"},
        )
        no_version = await client.post("/v1/messages", json=body, headers={"x-api-key": key})

    assert (old.status_code, new.status_code, no_version.status_code) == (200, 200, 400)


async def test_anthropic_fake_rejects_sampling_parameters_on_the_new_api_version() -> None:
    async with FakeAnthropic() as fake, httpx.AsyncClient(base_url=fake.url) as client:
        body = {
            "model": "claude-haiku-4-5",
            "max_tokens": 5,
            "temperature": 1.0,
            "messages": [{"role": "user", "content": "hi"}],
        }
        response = await client.post(
            "/v1/messages",
            json=body,
            headers={"x-api-key": fake.valid_key, "anthropic-version": "2026-10-21"},
        )

    assert response.status_code == 400
    assert "temperature" in response.json()["error"]["message"]


@pytest.mark.parametrize("version", ["v1beta", "v1"])
async def test_gemini_fake_serves_both_api_versions(fake_gemini: FakeLLM, version: str) -> None:
    async with httpx.AsyncClient(base_url=fake_gemini.url) as client:
        response = await client.get(
            f"/{version}/models", headers={"x-goog-api-key": fake_gemini.valid_key}
        )

    assert response.status_code == 200
    assert response.json()["models"]


async def test_faults_are_consumed_in_order_and_by_path(fake_openai: FakeLLM) -> None:
    fake_openai.inject(Fault.http(503), path="chat/completions", times=2)
    fake_openai.inject(Fault.http(418))
    headers = {"Authorization": f"Bearer {fake_openai.valid_key}"}
    async with httpx.AsyncClient(base_url=fake_openai.base_url, headers=headers) as client:
        teapot = await client.get("/models")  # only the 418 fault matches this path
        statuses = [
            teapot.status_code,
            (await client.get("/models")).status_code,
            (await client.post("/chat/completions", json={})).status_code,
            (await client.post("/chat/completions", json={})).status_code,
        ]

    assert statuses == [418, 200, 503, 503]
    assert teapot.headers["content-type"] == "application/json"
    assert [r.method for r in fake_openai.requests] == ["GET", "GET", "POST", "POST"]
    assert fake_openai.requests_to("chat/completions")[0].json() == {}


async def test_scripted_replies_are_served_in_order(fake_openai: FakeLLM) -> None:
    fake_openai.reply(text="first")
    fake_openai.reply(text="second")
    body = {"model": fake_openai.models[0], "messages": [{"role": "user", "content": "hi"}]}
    headers = {"Authorization": f"Bearer {fake_openai.valid_key}"}
    async with httpx.AsyncClient(base_url=fake_openai.base_url, headers=headers) as client:
        texts = [
            (await client.post("/chat/completions", json=body)).json()["choices"][0]["message"][
                "content"
            ]
            for _ in range(3)
        ]

    assert texts == ["first", "second", fake_openai.default_reply.text]
