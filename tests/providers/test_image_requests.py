"""Images in a question reach each provider in its own documented form.

OpenAI, xAI and OpenRouter (Chat Completions): array content with a ``text`` part and
``image_url`` parts whose ``url`` is a base64 ``data:`` URL. Anthropic (Messages): base64
``image`` blocks before the text. Gemini (generateContent): ``inlineData`` parts with
``mimeType`` and base64 ``data``. Asserted on the bodies the fakes recorded; the fakes
refuse malformed images with each API's 400, which becomes a bad-request error.
"""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from byok.errors import BadRequestError
from byok.types import ChatMessage, ChatRequest, ImageInput
from tests.providers.chat import Subject, call


def png(width: int = 40, height: int = 30, colour: str = "red") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, "PNG")
    return out.getvalue()


def jpeg(width: int = 20, height: int = 10) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), "blue").save(out, "JPEG")
    return out.getvalue()


PNG = png()
JPEG = jpeg()
IMAGES = (ImageInput("image/png", PNG, 40, 30, "a.png"), ImageInput("image/jpeg", JPEG, 20, 10))


def _request(model: str, images: tuple[ImageInput, ...] = IMAGES) -> ChatRequest:
    return ChatRequest(
        model=model,
        messages=(
            ChatMessage("system", "Be brief."),
            ChatMessage("user", "What is in these?", images=images),
        ),
        max_tokens=50,
    )


def _b64(data: bytes, *, url_safe: bool = False) -> str:
    encode = base64.urlsafe_b64encode if url_safe else base64.b64encode
    return encode(data).decode()


@pytest.mark.parametrize("streamed", [False, True], ids=["chat", "stream"])
async def test_images_go_in_each_providers_form(subject: Subject, streamed: bool) -> None:
    model = subject.fake.models[0]
    await call(subject.provider, subject.key, _request(model), streamed=streamed)

    (recorded,) = subject.fake.requests
    body = recorded.json()
    if subject.provider_id in ("openai", "xai", "openrouter"):
        assert body["messages"][1] == {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in these?"},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{_b64(PNG)}"}},
                {
                    "type": "image_url",
                    "image_url": {"url": f"data:image/jpeg;base64,{_b64(JPEG)}"},
                },
            ],
        }
        assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    elif subject.provider_id == "anthropic":
        assert body["system"] == "Be brief."
        assert body["messages"] == [
            {
                "role": "user",
                "content": [
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": _b64(PNG)},
                    },
                    {
                        "type": "image",
                        "source": {
                            "type": "base64",
                            "media_type": "image/jpeg",
                            "data": _b64(JPEG),
                        },
                    },
                    {"type": "text", "text": "What is in these?"},
                ],
            }
        ]
    else:
        (content,) = body["contents"]
        assert content["role"] == "user"
        # google-genai writes bytes in the URL-safe base64 alphabet and the proto name
        # ``mime_type``; protobuf's JSON mapping takes either alphabet and either name.
        assert content["parts"] == [
            {"inlineData": {"mime_type": "image/png", "data": _b64(PNG, url_safe=True)}},
            {"inlineData": {"mime_type": "image/jpeg", "data": _b64(JPEG, url_safe=True)}},
            {"text": "What is in these?"},
        ]
    assert [(i.media_type, i.width, i.height) for i in subject.fake.images_seen] == [
        ("image/png", 40, 30),
        ("image/jpeg", 20, 10),
    ]


async def test_text_only_messages_keep_plain_content(subject: Subject) -> None:
    """No images: the body is exactly what it was before images existed."""
    model = subject.fake.models[0]
    await call(subject.provider, subject.key, _request(model, images=()), streamed=False)
    body = subject.fake.requests[0].json()
    if subject.provider_id in ("openai", "xai", "openrouter"):
        assert body["messages"][1] == {"role": "user", "content": "What is in these?"}
    elif subject.provider_id == "anthropic":
        assert body["messages"] == [{"role": "user", "content": "What is in these?"}]
    else:
        assert body["contents"][0]["parts"] == [{"text": "What is in these?"}]


@pytest.mark.parametrize(
    "image",
    [
        ImageInput("image/png", b"this is not an image at all", 1, 1, "fake.png"),
        ImageInput("image/png", JPEG, 20, 10, "mislabelled.png"),
    ],
    ids=["not-an-image", "wrong-media-type"],
)
async def test_a_malformed_image_is_refused_as_a_bad_request(
    subject: Subject, image: ImageInput
) -> None:
    """What our own checks would never send; the fakes refuse it as the real APIs do."""
    model = subject.fake.models[0]
    with pytest.raises(BadRequestError):
        await call(subject.provider, subject.key, _request(model, (image,)), streamed=False)
    assert subject.fake.images_seen == []


def test_an_images_repr_leaves_its_bytes_out() -> None:
    image = ImageInput("image/png", PNG, 40, 30, "a.png")
    assert "\\x89PNG" not in repr(image)
    assert image.placeholder == "[image: a.png 40\u00d730]"
