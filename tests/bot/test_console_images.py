"""``/ask --image PATH`` (repeatable) in the real console: the images reach the provider in
its own form, fitted to its limits; a file that is not an image is refused with one clear
line, nothing sent and nothing billed."""

from __future__ import annotations

import base64
import io
import secrets
from pathlib import Path

import pytest
from PIL import Image

from tests.bot.test_console import console, write_config
from tests.fakes.plugin import FakeProviders

pytestmark = pytest.mark.slow  # each test runs the console as a process


def _png(path: Path, width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), "orange").save(out, "PNG")
    path.write_bytes(out.getvalue())
    return out.getvalue()


async def _run(tmp_path: Path, fakes: FakeProviders, provider: str, *lines: str) -> str:
    script = "\n".join([f"/byok add {provider}", fakes.key(provider), *lines]) + "\n"
    env = {"BYOK_ENCRYPTION_KEY": secrets.token_hex(32)}
    out, err, code = await console(tmp_path, write_config(tmp_path, fakes), script, env=env)
    assert code == 0, err
    assert "Traceback" not in err and "Traceback" not in out, err
    return out


async def test_images_from_files_reach_openai_as_data_urls(
    tmp_path: Path, fake_providers: FakeProviders
) -> None:
    small = _png(tmp_path / "small.png", 64, 32)
    _png(tmp_path / "my big photo.png", 4096, 1024)
    out = await _run(
        tmp_path,
        fake_providers,
        "openai",
        f'/ask --image {tmp_path / "small.png"} --image "{tmp_path / "my big photo.png"}" '
        "what's in these?",
    )
    openai = fake_providers["openai"]
    (request,) = [r for r in openai.requests if r.method == "POST"]
    content = request.json()["messages"][-1]["content"]
    assert content[0] == {"type": "text", "text": "what's in these?"}
    assert content[1]["image_url"]["url"] == (
        "data:image/png;base64," + base64.b64encode(small).decode()
    )
    assert [(i.width, i.height) for i in openai.images_seen] == [(64, 32), (2048, 512)]
    assert "— OpenAI · gpt-5.6-terra" in out


async def test_a_file_that_is_not_an_image_is_refused_and_nothing_is_sent(
    tmp_path: Path, fake_providers: FakeProviders
) -> None:
    (tmp_path / "notes.png").write_text("meeting notes, not a picture")
    out = await _run(
        tmp_path,
        fake_providers,
        "anthropic",
        f"/ask --image {tmp_path / 'notes.png'} what is this",
        "/ask --image",
        f"/ask --image {tmp_path / 'missing.png'} hi",
        "/usage",
    )
    assert "notes.png is not an image that can be read (PNG, JPEG, GIF or WebP)." in out
    assert "`--image` needs a path" in out
    assert f"No such file: {tmp_path / 'missing.png'}" in out
    assert [r for r in fake_providers["anthropic"].requests if r.method == "POST"] == []
    assert "No questions in" in out  # no usage row: nothing billed
