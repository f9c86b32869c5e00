"""Configuration: clear errors naming the setting, environment overrides, the example file."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from pydantic import BaseModel

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
