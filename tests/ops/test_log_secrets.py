"""The log mask holds every secret setting the configuration declares, without a hand list.

The settings are found from the configuration's classes (every field typed ``SecretStr``),
each given a canary, and the mask built from the loaded configuration must hold them
all: a token setting added later is masked the moment it is declared a ``SecretStr``.
"""

from __future__ import annotations

import io
import logging
import secrets
import types
import typing
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, SecretStr

from bot.config import Config
from bot.logs import LogRedactor, config_secrets


def _secret_paths(model: type[BaseModel], path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """The settings typed SecretStr, as paths; a table of tables gets one entry, "openai"."""
    for name, field in model.model_fields.items():
        annotation = field.annotation
        origin = typing.get_origin(annotation)
        arguments = typing.get_args(annotation)
        if annotation is SecretStr or SecretStr in arguments:
            yield (*path, name)
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from _secret_paths(annotation, (*path, name))
        elif origin is dict and arguments and issubclass(arguments[1], BaseModel):
            yield from _secret_paths(arguments[1], (*path, name, "openai"))
        else:
            assert origin not in (list, tuple, types.UnionType) or not any(
                isinstance(a, type) and issubclass(a, BaseModel) for a in arguments
            ), f"{'.'.join((*path, name))}: walk this shape too"


def _with(values: dict[str, Any], path: tuple[str, ...], value: str) -> None:
    for part in path[:-1]:
        values = values.setdefault(part, {})
    values[path[-1]] = value


def test_every_secret_setting_is_masked_in_the_logs() -> None:
    paths = list(_secret_paths(Config))
    assert len(paths) >= 12  # slack (4), discord, vault (6: salts too), operator keys
    raw: dict[str, Any] = {}
    canaries = {}
    for path in paths:
        canary = f"canary-{'-'.join(path)}-{secrets.token_hex(12)}"
        canaries[".".join(path)] = canary
        _with(raw, path, canary)
    password = "pw-" + secrets.token_hex(12)
    raw["database"] = {"url": f"postgresql+asyncpg://bot:{password}@db.example/byok"}
    config = Config.model_validate(raw)

    masked = set(config_secrets(config))
    assert {name for name, canary in canaries.items() if canary not in masked} == set()
    assert password in masked

    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(LogRedactor(config_secrets(config)))  # as configure_logging does
    logger = logging.getLogger("byok.test.secrets")
    logger.addHandler(handler)
    try:
        logger.warning("settings: %s", " ".join(canaries.values()))
    finally:
        logger.removeHandler(handler)
    assert not [name for name, canary in canaries.items() if canary in out.getvalue()]
    assert "[redacted]" in out.getvalue()
