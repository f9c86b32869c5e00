"""Every consumer of the provider records covers every record, and a new provider is one
record: the registry, pricing, key shapes, ``--model`` alone, config and its environment
variables, chart colours and display names all pick it up with nothing else edited."""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from genai_prices import data as price_data

from bot.app import build_catalog
from bot.config import OPERATOR_KEY_ENV, Config, load_config
from bot.digest.charts import _OTHER_COLORS, PROVIDER_COLORS
from bot.provider_names import ProviderNames
from byok.providers.builtins import (
    BUILTIN_PROVIDER_IDS,
    BUILTIN_RECORDS,
    WIRE_IMPLEMENTATIONS,
    BuiltinProvider,
)
from byok.providers.models import provider_of_model
from byok.providers.registry import (
    BUILTIN_PROVIDERS,
    PROVIDER_ALIASES,
    build_provider,
    resolve_provider_id,
)
from byok.secret import Secret, key_vendor, looks_like_key, redact

ROOT = Path(__file__).resolve().parents[2]
RECORDS = pytest.mark.parametrize("record", BUILTIN_RECORDS, ids=BUILTIN_PROVIDER_IDS)


def _class_at(path: str) -> type:
    module, _, name = path.partition(":")
    found = getattr(importlib.import_module(module), name)
    assert isinstance(found, type)
    return found


def test_ids_and_aliases_are_unique() -> None:
    assert len(set(BUILTIN_PROVIDER_IDS)) == len(BUILTIN_PROVIDER_IDS)
    aliases = [a for r in BUILTIN_RECORDS for a in r.aliases]
    assert len(set(aliases)) == len(aliases)
    assert not set(aliases) & set(BUILTIN_PROVIDER_IDS)


def test_every_wire_has_an_implementation() -> None:
    for path in WIRE_IMPLEMENTATIONS.values():
        _class_at(path)


@RECORDS
async def test_the_registry_builds_the_records_class(record: BuiltinProvider) -> None:
    settings = BUILTIN_PROVIDERS[record.provider_id]
    assert (settings.wire, settings.base_url, settings.default_model) == (
        record.wire,
        record.base_url,
        record.default_model,
    )
    provider = build_provider(settings)
    try:
        assert type(provider) is _class_at(record.implementation_path)
    finally:
        await provider.aclose()
    for alias in record.aliases:
        assert PROVIDER_ALIASES[alias] == record.provider_id
        assert resolve_provider_id(alias.upper()) == record.provider_id


@RECORDS
def test_prices_come_from_a_table_genai_prices_has(record: BuiltinProvider) -> None:
    if record.price_id is not None:
        assert record.price_id in {p.id for p in price_data.providers}


@RECORDS
def test_the_records_keys_are_recognised_masked_and_attributed(record: BuiltinProvider) -> None:
    for prefix in record.keys.own_prefixes:
        key = prefix + "Q7rT2xW9kLmN4pZs8vB3cD6fG1hJ5aE0"
        assert looks_like_key(f"my key is {key}")
        assert key not in redact(f"my key is {key}")
        assert key_vendor(Secret(key)) == (record.provider_id, prefix)


@RECORDS
def test_the_records_default_model_is_recognised_by_model_alone(record: BuiltinProvider) -> None:
    if record.model_pattern is not None:
        assert provider_of_model(record.default_model) == record.provider_id


@RECORDS
def test_config_offers_the_provider_and_reads_its_operator_key(record: BuiltinProvider) -> None:
    assert OPERATOR_KEY_ENV[record.provider_id] == record.operator_key_env
    config, _ = load_config(env={record.operator_key_env: "sk-operator-key-0123456789"})
    operator_key = config.provider(record.provider_id).operator_key
    assert operator_key is not None
    assert operator_key.get_secret_value() == "sk-operator-key-0123456789"
    entry = build_catalog(Config()).get(record.provider_id)
    assert entry.display_name == record.display_name
    assert entry.default_model == record.default_model


@RECORDS
def test_charts_and_names_show_the_provider(record: BuiltinProvider) -> None:
    assert PROVIDER_COLORS[record.provider_id] == record.chart_color
    assert ProviderNames.builtin().label(record.provider_id) == record.display_name


def test_chart_colours_tell_providers_apart() -> None:
    colours = list(PROVIDER_COLORS.values())
    assert len(set(colours)) == len(colours)
    assert not set(colours) & set(_OTHER_COLORS)


_SIXTH = """\
    BuiltinProvider(
        provider_id="mistral",
        display_name="Mistral",
        wire="openai-compatible",
        base_url="https://api.mistral.ai/v1",
        default_model="mistral-large-latest",
        operator_key_env="MISTRAL_API_KEY",
        keys=KeyShape(pattern=r"mst-[A-Za-z0-9]{16,}", prefix="mst-", own_prefixes=("mst-",)),
        price_id="mistral",
        model_pattern=r"mistral-",
        chart_color="#fa520f",
        aliases=("le-chat",),
    ),
"""

_CHECK_SIXTH = """
from bot.app import build_catalog
from bot.digest.charts import PROVIDER_COLORS
from bot.config import Config, load_config
from bot.provider_names import ProviderNames
from byok.pricing import price_of
from byok.providers.models import provider_of_model
from byok.providers.openai_compatible import OpenAICompatibleProvider
from byok.providers.registry import build_provider, provider_settings, resolve_provider_id
from byok.secret import Secret, key_vendor, looks_like_key, redact
from byok.types import Usage

key = "mst-Q7rT2xW9kLmN4pZs8vB3"
assert resolve_provider_id("Le-Chat") == "mistral"
assert type(build_provider(provider_settings("mistral"))) is OpenAICompatibleProvider
assert price_of("mistral", "mistral-large-latest", Usage(1000, 100)) > 0
assert provider_of_model("mistral-large-latest") == "mistral"
assert looks_like_key(key) and key not in redact(key)
assert key_vendor(Secret(key)) == ("mistral", "mst-")
config, _ = load_config(env={"MISTRAL_API_KEY": key})
assert config.provider("mistral").operator_key.get_secret_value() == key
assert build_catalog(Config()).resolve("le-chat").display_name == "Mistral"
assert PROVIDER_COLORS["mistral"] == "#fa520f"
assert ProviderNames.builtin().label("mistral") == "Mistral"
print("sixth provider: ok")
"""


@pytest.mark.slow
def test_a_new_openai_compatible_provider_is_one_record(tmp_path: Path) -> None:
    for package in ("byok", "bot"):
        shutil.copytree(
            ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    builtins = tmp_path / "byok" / "providers" / "builtins.py"
    source = builtins.read_text(encoding="utf-8")
    end_of_records = "\n)\n\nBUILTIN_PROVIDER_IDS"  # the record goes last in the tuple
    assert source.count(end_of_records) == 1
    builtins.write_text(source.replace(end_of_records, "\n" + _SIXTH + end_of_records[1:]))

    done = subprocess.run(
        [sys.executable, "-c", _CHECK_SIXTH],
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert "sixth provider: ok" in done.stdout
