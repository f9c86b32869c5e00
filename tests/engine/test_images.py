"""Images checked when they arrive and fitted to each provider's limits (byok/images.py).

Real image bytes made with Pillow; the fitted images are read back from what the fake
providers received over the wire.
"""

from __future__ import annotations

import io
from dataclasses import replace

import pytest
from PIL import Image

from byok.errors import ImageError, NoVisionModelError
from byok.images import check_image, fit_image, fitted_size, image_limits, image_tokens
from byok.pricing import estimate_input_tokens
from byok.providers.builtins import ANTHROPIC_IMAGES, GEMINI_IMAGES, OPENAI_IMAGES, XAI_IMAGES
from byok.remedies import ChooseModel, ChooseProvider
from byok.types import ChatMessage
from tests.engine.conftest import Rig


def encode(fmt: str, width: int, height: int, *, mode: str = "RGB", **save: object) -> bytes:
    out = io.BytesIO()
    Image.new(mode, (width, height), "green").save(out, fmt, **save)
    return out.getvalue()


def noisy_png(width: int, height: int) -> bytes:
    """A PNG that does not compress (random pixels), for byte limits."""
    import os

    out = io.BytesIO()
    Image.frombytes("RGB", (width, height), os.urandom(width * height * 3)).save(out, "PNG")
    return out.getvalue()


def animated_gif() -> bytes:
    out = io.BytesIO()
    frames = [Image.new("RGB", (64, 48), c) for c in ("red", "green", "blue")]
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return out.getvalue()


# --- checking what arrived -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "media_type"),
    [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("GIF", "image/gif"), ("WEBP", "image/webp")],
)
def test_the_format_is_read_from_the_bytes_not_the_name(fmt: str, media_type: str) -> None:
    image = check_image(encode(fmt, 30, 20), "holiday.txt")
    assert (image.media_type, image.width, image.height, image.name) == (
        media_type,
        30,
        20,
        "holiday.txt",
    )


@pytest.mark.parametrize(
    "data",
    [
        b"just some text pretending to be a picture",
        b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n",
        encode("PNG", 40, 40)[:60],  # truncated: the header reads, the pixels do not
        b"",
    ],
    ids=["text", "pdf", "truncated-png", "empty"],
)
def test_what_is_not_an_image_is_refused_clearly(data: bytes) -> None:
    with pytest.raises(ImageError) as caught:
        check_image(data, "notes.png")
    assert "notes.png is not an image" in caught.value.explanation


def test_an_image_format_nobody_takes_is_refused() -> None:
    with pytest.raises(ImageError) as caught:
        check_image(encode("BMP", 10, 10), "scan.bmp")
    assert "BMP" in caught.value.explanation


def test_a_decompression_bomb_is_refused_from_its_header(monkeypatch: pytest.MonkeyPatch) -> None:
    # Pillow's own threshold (a library setting, not our code) lowered so a small file
    # plays a bomb: more than twice MAX_IMAGE_PIXELS is an error.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(ImageError) as caught:
        check_image(encode("PNG", 100, 100), "bomb.png")
    assert "too many pixels" in caught.value.explanation
    with pytest.raises(ImageError):  # between 1x and 2x: Pillow only warns; refused too
        check_image(encode("PNG", 40, 40), "bomb.png")


def test_a_file_too_large_to_read_is_refused_before_decoding() -> None:
    with pytest.raises(ImageError) as caught:
        check_image(b"\x89PNG" + bytes(26 * 1024 * 1024), "huge.png")
    assert "huge.png is 26.0 MB" in caught.value.explanation


# --- fitting to each provider ------------------------------------------------------------------


def test_a_large_photo_is_scaled_to_each_providers_size() -> None:
    image = check_image(encode("JPEG", 4000, 3000), "photo.jpg")
    anthropic = fit_image(image, ANTHROPIC_IMAGES)
    assert max(anthropic.width, anthropic.height) <= 1568
    assert anthropic.width * anthropic.height <= 1_150_000
    assert anthropic.media_type == "image/jpeg"
    openai = fit_image(image, OPENAI_IMAGES)
    assert (openai.width, openai.height) == (2048, 1536)
    gemini = fit_image(image, GEMINI_IMAGES)
    assert (gemini.width, gemini.height) == (3000 * 3072 // 4000 * 4 // 3, 2304)
    for fitted in (anthropic, openai, gemini):
        assert check_image(fitted.data).media_type == "image/jpeg"  # real, decodable bytes


def test_an_image_that_fits_is_sent_as_it_came() -> None:
    image = check_image(encode("PNG", 800, 600), "shot.png")
    for limits in (ANTHROPIC_IMAGES, OPENAI_IMAGES, GEMINI_IMAGES, XAI_IMAGES):
        assert fit_image(image, limits) is image


def test_formats_a_provider_does_not_take_are_re_encoded() -> None:
    gif = check_image(encode("GIF", 50, 40), "a.gif")
    assert fit_image(gif, GEMINI_IMAGES).media_type == "image/png"  # Gemini takes no GIF
    assert fit_image(gif, ANTHROPIC_IMAGES) is gif
    webp = check_image(encode("WEBP", 50, 40), "a.webp")
    assert fit_image(webp, XAI_IMAGES).media_type == "image/png"  # xAI: JPEG and PNG only


def test_an_animated_gif_is_sent_as_its_first_frame() -> None:
    gif = check_image(animated_gif(), "dance.gif")
    fitted = fit_image(gif, OPENAI_IMAGES)  # OpenAI refuses animated GIFs
    assert fitted.media_type == "image/png"
    with Image.open(io.BytesIO(fitted.data)) as frame:
        assert not getattr(frame, "is_animated", False)
        assert frame.size == (64, 48)


def test_an_image_over_the_byte_limit_is_made_smaller() -> None:
    image = check_image(noisy_png(600, 600), "noise.png")
    tight = replace(ANTHROPIC_IMAGES, max_image_bytes=len(image.data) // 4)
    fitted = fit_image(image, tight)
    assert len(fitted.data) <= tight.max_image_bytes
    assert fitted.media_type == "image/jpeg"  # no transparency: JPEG first


def test_fitted_size_keeps_the_aspect_ratio() -> None:
    assert fitted_size(8000, 1000, OPENAI_IMAGES) == (2048, 256)
    assert fitted_size(100, 50, ANTHROPIC_IMAGES) == (100, 50)


# --- tokens --------------------------------------------------------------------------------------


def test_image_tokens_follow_each_providers_formula() -> None:
    # Anthropic: w*h/750 after fitting; a 1000x1000 image is 1334, a huge one at most 1600.
    assert image_tokens("anthropic", "claude-sonnet-4-6", 1000, 1000) == 1334
    assert image_tokens("anthropic", "claude-sonnet-4-6", 8000, 8000) <= 1600
    # OpenAI high detail: 1024x1024 -> 768x768 -> 4 tiles; gpt-4o 85 + 4*170.
    assert image_tokens("openai", "gpt-4o", 1024, 1024) == 85 + 4 * 170
    assert image_tokens("openai", "gpt-4o-mini", 1024, 1024) == 2833 + 4 * 5667
    assert image_tokens("openai", "gpt-5.6-terra", 1024, 1024) == 70 + 4 * 140
    # Gemini: 258 for a small image, at least 1120 for a large one (Gemini 3 high res).
    assert image_tokens("google", "gemini-3.5-flash", 300, 300) == 258
    assert image_tokens("google", "gemini-3.5-flash", 3000, 3000) == 16 * 258
    # xAI: (tiles, at most 6, + 1) * 256.
    assert image_tokens("xai", "grok-4.3", 4000, 4000) == 7 * 256


def test_the_worst_case_estimate_counts_images() -> None:
    text = (ChatMessage("user", "What is this?"),)
    with_image = (replace(text[0], images=(check_image(encode("PNG", 1000, 1000)),)),)
    assert estimate_input_tokens(with_image, "anthropic", "claude-sonnet-4-6") == (
        estimate_input_tokens(text, "anthropic", "claude-sonnet-4-6") + 1334
    )
    # No provider named (routing): the most any built-in provider would count.
    assert estimate_input_tokens(with_image) >= estimate_input_tokens(with_image, "openai", "x")


def test_every_builtin_provider_has_image_limits() -> None:
    assert image_limits("anthropic") is ANTHROPIC_IMAGES
    assert image_limits("an-operator-endpoint") is OPENAI_IMAGES


# --- through the engine ----------------------------------------------------------------------------


async def test_a_question_with_an_image_reaches_the_provider_fitted_and_billed(
    rig: Rig,
) -> None:
    await rig.add_key("anthropic")
    photo = check_image(encode("JPEG", 3000, 2000), "photo.jpg")
    answer = await rig.service().chat(
        [ChatMessage("user", "What is in the picture?", images=(photo,))], provider="anthropic"
    )
    assert answer.text
    (seen,) = rig.fakes["anthropic"].images_seen
    assert seen.media_type == "image/jpeg"
    assert max(seen.width, seen.height) <= 1568
    (row,) = await rig.usage_rows()
    assert row["outcome"] == "success"
    assert row["input_tokens"] == rig.fakes["anthropic"].default_reply.input_tokens


async def test_too_many_images_are_refused_before_anything_is_billed(rig: Rig) -> None:
    await rig.add_key("anthropic")
    tiny = check_image(encode("PNG", 4, 4))
    with pytest.raises(ImageError) as caught:
        await rig.service().chat(
            [ChatMessage("user", "Compare them", images=(tiny,) * 101)], provider="anthropic"
        )
    assert "at most 100 images" in caught.value.explanation
    assert await rig.usage_rows() == []
    assert [r for r in rig.fakes["anthropic"].requests if r.method == "POST"] == []


# --- models that read images ---------------------------------------------------------------------


def _photo() -> tuple[ChatMessage, ...]:
    return (ChatMessage("user", "What is this?", images=(check_image(encode("PNG", 64, 64)),)),)


async def test_a_model_that_cannot_see_is_replaced_by_one_of_the_same_provider(rig: Rig) -> None:
    await rig.add_key("xai")
    answer = await rig.service().chat(_photo(), provider="xai", model="grok-3")
    assert (answer.provider_id, answer.model) == ("xai", "grok-4.3")
    assert "grok-3 does not read images, so xai's grok-4.3 answered." in answer.notes
    (request,) = [r for r in rig.fakes["xai"].requests if r.method == "POST"]
    assert request.json()["model"] == "grok-4.3"


async def test_without_images_the_model_asked_for_answers(rig: Rig) -> None:
    rig.fakes["xai"].models.append("grok-3")
    await rig.add_key("xai")
    answer = await rig.service().chat(
        [ChatMessage("user", "What is this?")], provider="xai", model="grok-3"
    )
    assert answer.model == "grok-3"


async def test_no_model_that_sees_is_a_clear_error_and_bills_nothing(rig: Rig) -> None:
    await rig.add_key("anthropic", allowed_models=["claude-3-5-haiku-20241022"])
    with pytest.raises(NoVisionModelError) as caught:
        await rig.service().chat(_photo(), provider="anthropic")
    assert caught.value.explanation == (
        "No anthropic model you can use reads images, so the question was not sent."
    )
    assert caught.value.remedies == (ChooseModel(), ChooseProvider())
    assert await rig.usage_rows() == []


async def test_another_provider_answers_when_the_first_cannot_see(rig: Rig) -> None:
    await rig.add_key("anthropic", allowed_models=["claude-3-5-haiku-20241022"])
    await rig.add_key("google")
    await rig.service().set_preferences(default_provider="anthropic", auto_switch_provider=True)
    answer = await rig.service().chat(_photo())
    assert answer.provider_id == "google"
    assert "No anthropic model you can use reads images." in answer.notes
    assert "google answered, as its models read images." in answer.notes


async def test_history_keeps_a_placeholder_for_an_image_never_its_bytes(rig: Rig) -> None:
    await rig.add_key("openai")
    service = rig.service()
    await service.set_preferences(store_conversation_history=True)
    photo = check_image(encode("PNG", 320, 200), "chart.png")
    await service.chat(
        [ChatMessage("user", "What does this chart show?", images=(photo,))],
        provider="openai",
        thread="T-1",
    )
    await service.chat([ChatMessage("user", "And the trend?")], provider="openai", thread="T-1")
    first, second = [r.json() for r in rig.fakes["openai"].requests if r.method == "POST"]
    assert first["messages"][-1]["content"][1]["type"] == "image_url"
    assert second["messages"][0] == {
        "role": "user",
        "content": "[image: chart.png 320\u00d7200]\nWhat does this chart show?",
    }
    assert second["messages"][-1] == {"role": "user", "content": "And the trend?"}
