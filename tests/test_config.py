"""Configuration: clear errors naming the setting, environment overrides, the example file."""

from __future__ import annotations

import re
import secrets
import tomllib
from pathlib import Path

import pytest
from pydantic import BaseModel

from bot.app import build_app
from bot.config import Config, load_config
from byok.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config.example.toml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_defaults_without_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config, source = load_config(env={})
    assert config.database.url == "sqlite+aiosqlite:///byok.db"
    assert config.bot.mode == "development"
    assert not config.slack.enabled and not config.discord.enabled
    assert source.path is None and source.describe() == "built-in defaults"


def test_example_config_loads_and_documents_every_setting() -> None:
    config, _ = load_config(EXAMPLE, env={})
    assert config.providers["openai"].base_url == "https://api.openai.com/v1"
    text = EXAMPLE.read_text()
    missing = []
    for section, field in Config.model_fields.items():
        model = field.annotation
        if section == "providers":
            from bot.config import ProviderConfig

            model = ProviderConfig
        assert isinstance(model, type) and issubclass(model, BaseModel)
        for name in model.model_fields:
            if not re.search(rf"^#?\s*{name}\s*=", text, re.MULTILINE):
                missing.append(f"[{section}] {name}")
    assert missing == []


def test_unknown_setting_is_named_with_a_suggestion(tmp_path: Path) -> None:
    path = write(tmp_path, "[slack]\nbot_tokn = 'x'\n[providers.openai]\ntimeout = 3\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    message = str(caught.value)
    assert "unknown setting [slack] bot_tokn — did you mean `bot_token`?" in message
    assert "unknown setting [providers.openai] timeout — did you mean `timeout_s`?" in message
    assert str(path) in message


def test_wrong_type_names_the_setting(tmp_path: Path) -> None:
    path = write(tmp_path, "[http]\nport = 'eighty'\n[digest]\ntime = '25:00'\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert "[http] port:" in str(caught.value)
    assert "[digest] time:" in str(caught.value)


def test_secret_values_are_not_echoed_in_errors(tmp_path: Path, canary_key: str) -> None:
    path = write(tmp_path, f"[providers.openai]\noperator_key = ['{canary_key}']\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert "[providers.openai] operator_key" in str(caught.value)
    assert canary_key not in str(caught.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[slack]\nenabled = true\n", "bot_token is missing (set SLACK_BOT_TOKEN"),
        ("[slack]\nenabled = true\nbot_token = 'xoxb-1'\n", "needs app_token"),
        ("[slack]\nenabled = true\nmode = 'http'\nbot_token = 'xoxb-1'\n", "signing_secret"),
        ("[discord]\nenabled = true\n", "token is missing (set DISCORD_TOKEN)"),
        ("[bot]\nmode = 'production'\n", "production mode needs a master key"),
        ("[providers.local]\nwire = 'openai-compatible'\n", "needs base_url and default_model"),
        ("[vault]\npassword = 'p'\n", "must be set together"),
        ("[digest]\ntime = '9am'\n", "[digest] time: use HH:MM on a 24-hour clock, e.g. 09:00"),
        (
            "[digest]\ntimezone = 'Mars/Olympus'\n",
            "[digest] timezone: unknown time zone 'Mars/Olympus'",
        ),
    ],
)
def test_missing_required_settings(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(expected)):
        load_config(write(tmp_path, text), env={})


def test_environment_supplies_secrets_and_wins(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "[slack]\nenabled = true\nbot_token = 'xoxb-from-file'\n[database]\nurl = 'sqlite+aiosqlite:///a.db'\n",
    )
    env = {
        "SLACK_BOT_TOKEN": "xoxb-from-env",
        "SLACK_APP_TOKEN": "xapp-from-env",
        "DATABASE_URL": "postgresql+asyncpg://u@h/db",
        "XAI_API_KEY": "xai-operator",
        "BYOK_ENCRYPTION_PASSWORD": "pw",
        "BYOK_ENCRYPTION_SALT": "0123456789abcdef",
    }
    config, source = load_config(path, env=env)
    assert config.slack.bot_token is not None
    assert config.slack.bot_token.get_secret_value() == "xoxb-from-env"
    assert config.database.url == "postgresql+asyncpg://u@h/db"
    key = config.provider("xai").operator_key
    assert key is not None and key.get_secret_value() == "xai-operator"
    assert config.vault.has_master_key
    assert "SLACK_BOT_TOKEN" in source.describe()
    assert "xoxb-from-env" not in repr(config)


def test_config_path_from_environment(tmp_path: Path) -> None:
    path = write(tmp_path, "[http]\nport = 9999\n")
    config, source = load_config(env={"BYOK_CONFIG": str(path)})
    assert config.http.port == 9999 and source.path == path
    with pytest.raises(ConfigError, match="BYOK_CONFIG points at"):
        load_config(env={"BYOK_CONFIG": str(tmp_path / "nope.toml")})


def test_invalid_toml_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[slack\n"), env={})


def test_example_is_valid_toml_with_only_known_tables() -> None:
    data = tomllib.loads(EXAMPLE.read_text())
    assert set(data) <= set(Config.model_fields)


def test_the_docker_image_config_is_valid_and_listens_outside() -> None:
    config, _ = load_config(ROOT / "docker" / "config.toml", env={"BYOK_ENCRYPTION_KEY": "00" * 32})
    assert config.http.host == "0.0.0.0" and config.bot.mode == "production"
    with pytest.raises(ConfigError, match="production mode needs a master key"):
        load_config(ROOT / "docker" / "config.toml", env={})


def test_the_readme_names_every_environment_variable() -> None:
    from bot.config import _ENV_OVERRIDES, OPERATOR_KEY_ENV

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    for name in [*_ENV_OVERRIDES.values(), *OPERATOR_KEY_ENV.values(), "BYOK_CONFIG"]:
        assert name in readme or name.startswith("BYOK_PREVIOUS_"), name
    assert "`BYOK_PREVIOUS_ENCRYPTION_*`" in readme


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[providers.openai]\ntimeout_s = inf\n", "[providers.openai] timeout_s: must be more than 0 and at most 600 seconds (got inf)"),
        ("[providers.openai]\ntimeout_s = nan\n", "[providers.openai] timeout_s: must be more than 0 and at most 600 seconds (got nan)"),
        ("[providers.openai]\ntimeout_s = 0\n", "[providers.openai] timeout_s: must be more than 0 and at most 600 seconds (got 0.0)"),
        ("[providers.openai]\ntimeout_s = -5\n", "[providers.openai] timeout_s: must be more than 0 and at most 600 seconds (got -5.0)"),
        ("[providers.openai]\ntimeout_s = 1e9\n", "[providers.openai] timeout_s: must be more than 0 and at most 600 seconds (got 1000000000.0)"),
        ("[providers.openai]\noperator_monthly_cap_usd = inf\n", "[providers.openai] operator_monthly_cap_usd: must be at least 0 and at most 1,000,000 US dollars (got inf)"),
        ("[limits]\ndefault_max_tokens = 10000000000\n", "[limits] default_max_tokens: must be at least 1 and at most 200,000 tokens (got 10000000000)"),
        ("[limits]\ndefault_max_tokens = 0\n", "[limits] default_max_tokens: must be at least 1 and at most 200,000 tokens (got 0)"),
        ("[digest]\ngrace_hours = inf\n", "[digest] grace_hours: Input should be a finite number (got inf)"),
        ("[bot]\nshutdown_grace_s = nan\n", "[bot] shutdown_grace_s: Input should be a finite number (got nan)"),
        ("[database]\nuser_state_ttl_s = nan\n", "[database] user_state_ttl_s: must be at least 0 and at most 86,400 seconds (got nan)"),
        ("[database]\nuser_state_ttl_s = -1\n", "[database] user_state_ttl_s: must be at least 0 and at most 86,400 seconds (got -1.0)"),
        ("[database]\nuser_state_check_s = 0\n", "[database] user_state_check_s: must be at least 0.05 and at most 60 seconds (got 0.0)"),
    ],
)  # fmt: skip
def test_numbers_outside_their_range_are_refused_with_the_range(
    tmp_path: Path, text: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text), env={})
    assert str(caught.value).splitlines()[1:] == [f"  {expected}"]


def test_the_largest_numbers_allowed_are_accepted(tmp_path: Path) -> None:
    text = "[providers.openai]\ntimeout_s = 600\n[limits]\ndefault_max_tokens = 200000\n"
    config, _ = load_config(write(tmp_path, text), env={})
    assert config.provider("openai").timeout_s == 600
    assert config.limits.default_max_tokens == 200_000


async def test_the_user_state_settings_reach_the_engine(tmp_path: Path) -> None:
    text = f"[database]\nurl = 'sqlite+aiosqlite:///{tmp_path}/b.db'\nuser_state_ttl_s = 0\nuser_state_check_s = 0.5\n"
    config, _ = load_config(write(tmp_path, text), env={"BYOK_ENCRYPTION_KEY": "ab" * 32})
    app = await build_app(config)
    try:
        settings = app.engine.settings
        assert (settings.user_state_ttl_s, settings.user_state_check_s) == (0, 0.5)
    finally:
        await app.engine.aclose()


PROVIDER_RULE = (
    "a provider id is 1 to 32 lowercase letters, digits, - or _, starting with a letter or "
    "digit ({n} characters); Discord and Slack menus and the usage table take no other"
)


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("p" * 105, "p" * 40 + "…"),
        ("a" * 33, "a" * 33),
        ('"My LLM"', "My LLM"),
        ('"-local"', "-local"),
        ("Local", "Local"),
        ('"ollama.lan"', "ollama.lan"),
    ],
)
def test_operator_provider_ids_follow_one_rule(tmp_path: Path, name: str, shown: str) -> None:
    text = (
        f"[providers.{name}]\nwire = 'openai-compatible'\nbase_url = 'http://127.0.0.1:1/v1'\n"
        "default_model = 'm'\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text), env={})
    message = str(caught.value)
    rule = PROVIDER_RULE.replace("{n}", f"it has {len(name.strip(chr(34)))}")
    assert message.splitlines()[1:] == [f"  [providers.{shown}]: {rule}"]


def test_a_provider_id_of_32_plain_characters_is_accepted(tmp_path: Path) -> None:
    name = "local-llm_" + "x" * 22
    text = (
        f"[providers.{name}]\nwire = 'openai-compatible'\nbase_url = 'http://127.0.0.1:1/v1'\n"
        "default_model = 'm'\n"
    )
    config, _ = load_config(write(tmp_path, text), env={})
    assert name in config.providers


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("not a url", "this is not a database URL"),
        ("postgresql+asyncpg://byok:{pw}@db:notaport/byok", "this is not a database URL"),
        ("sqlite+aiosqlite://", "name the SQLite file, e.g. sqlite+aiosqlite:///byok.db"),
        ("sqlite+aiosqlite:///:memory:", "name the SQLite file"),
    ],
)
def test_a_malformed_database_url_names_the_setting_not_the_password(
    tmp_path: Path, url: str, expected: str
) -> None:
    password = "pw-" + secrets.token_hex(8)
    path = write(tmp_path, f"[database]\nurl = '{url.format(pw=password)}'\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    [header, problem] = str(caught.value).splitlines()
    assert header == f"invalid configuration in {path}:"
    assert problem.startswith(f"  [database] url: {expected}")
    assert password not in str(caught.value)


def test_a_config_file_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(b"[bot]\n# caf\xe9\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert str(caught.value) == (
        f"{path} is not UTF-8 text (byte 0xe9 on line 2): save it as UTF-8"
    )
