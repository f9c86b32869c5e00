"""Configuration: a TOML file validated into typed settings, secrets from the environment.

Lookup order for the file: ``--config PATH``, then ``$BYOK_CONFIG``, then
``./config.toml``, else built-in defaults (SQLite ``./byok.db``, development mode,
console only). Secrets may sit in the file, but an environment variable, when set,
wins: deployments keep secrets out of files. Every error names the exact setting.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bot.bounds import MAX_TOKENS, MONTHLY_LIMIT_MAX_USD, PROVIDER_ID_MAX_CHARS, readable_bound
from byok.errors import ConfigError
from byok.providers.builtins import BUILTIN_PROVIDER_IDS, BUILTIN_RECORDS, WireProtocol

__all__ = [
    "BUILTIN_PROVIDER_IDS",
    "Config",
    "ConfigSource",
    "load_config",
]

# Environment variables that may supply a setting; the value wins over the file.
OPERATOR_KEY_ENV = {r.provider_id: r.operator_key_env for r in BUILTIN_RECORDS}
_ENV_OVERRIDES: dict[tuple[str, ...], str] = {
    ("database", "url"): "DATABASE_URL",
    ("vault", "password"): "BYOK_ENCRYPTION_PASSWORD",
    ("vault", "salt"): "BYOK_ENCRYPTION_SALT",
    ("vault", "key"): "BYOK_ENCRYPTION_KEY",
    ("vault", "previous_password"): "BYOK_PREVIOUS_ENCRYPTION_PASSWORD",
    ("vault", "previous_salt"): "BYOK_PREVIOUS_ENCRYPTION_SALT",
    ("vault", "previous_key"): "BYOK_PREVIOUS_ENCRYPTION_KEY",
    ("bot", "mode"): "BYOK_MODE",
    ("slack", "bot_token"): "SLACK_BOT_TOKEN",
    ("slack", "app_token"): "SLACK_APP_TOKEN",
    ("slack", "signing_secret"): "SLACK_SIGNING_SECRET",
    ("slack", "client_id"): "SLACK_CLIENT_ID",
    ("slack", "client_secret"): "SLACK_CLIENT_SECRET",
    ("discord", "token"): "DISCORD_TOKEN",
}


class _Section(BaseModel):
    # No setting means anything as inf or nan (TOML has both).
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False, allow_inf_nan=False)


def _within(
    low: float, high: float, unit: str, *, low_allowed: bool = True
) -> Callable[[float], float]:
    """A check that names the whole allowed range when a number is outside it."""
    above = f"at least {readable_bound(low)}" if low_allowed else f"more than {readable_bound(low)}"

    def check(value: float) -> float:
        fits = value >= low if low_allowed else value > low
        if not (math.isfinite(value) and fits and value <= high):
            raise ValueError(
                f"must be {above} and at most {readable_bound(high)} {unit} (got {value!r})"
            )
        return value

    return check


#: Seconds a provider may take to answer; the OpenAI and Anthropic SDKs' own default is 600.
PROVIDER_TIMEOUT_MAX_S = 600.0
#: Operator-added provider ids: each becomes a Discord choice, a Slack option value and a
#: usage row's provider, so it is short and plain enough for all of them.
PROVIDER_ID_RULE = re.compile(rf"[a-z0-9][a-z0-9_-]{{0,{PROVIDER_ID_MAX_CHARS - 1}}}")


#: Discord's largest bots run tens of thousands of shards; beyond this is a typo.
MAX_SHARDS = 65_536


class BotSettings(_Section):
    mode: Literal["development", "production"] = "development"
    instance_name: str | None = None
    shutdown_grace_s: Annotated[float, Field(ge=0, le=600)] = 30.0


class DatabaseSettings(_Section):
    url: str = "sqlite+aiosqlite:///byok.db"
    auto_migrate: bool = True
    #: Seconds a user's keys and preferences stay in memory between asks (each entry
    #: ±20%); a change anywhere drops them at once all the same. 0: read on every ask.
    user_state_ttl_s: Annotated[
        float, Field(allow_inf_nan=True), AfterValidator(_within(0, 86_400, "seconds"))
    ] = 300.0
    #: SQLite: how soon a change made by another process (the console, a CLI command)
    #: is seen at the latest.
    user_state_check_s: Annotated[
        float, Field(allow_inf_nan=True), AfterValidator(_within(0.05, 60, "seconds"))
    ] = 1.0

    @field_validator("url")
    @classmethod
    def _readable_url(cls, value: str) -> str:
        # The URL is not echoed: it may hold a password.
        try:
            url = make_url(value)
        except (ArgumentError, ValueError):
            raise ValueError(
                "this is not a database URL: write sqlite+aiosqlite:///path/to/byok.db or "
                "postgresql+asyncpg://user:password@host:5432/dbname"
            ) from None
        if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
            raise ValueError(
                "name the SQLite file, e.g. sqlite+aiosqlite:///byok.db (an in-memory "
                "database would forget every key when the bot stops)"
            )
        return value


class VaultSettings(_Section):
    password: SecretStr | None = None
    salt: SecretStr | None = None
    key: SecretStr | None = None
    previous_password: SecretStr | None = None
    previous_salt: SecretStr | None = None
    previous_key: SecretStr | None = None
    key_file: Path = Path(".byok/master.key")

    @model_validator(mode="after")
    def _pairs(self) -> VaultSettings:
        if (self.password is None) != (self.salt is None):
            raise ValueError(
                "BYOK_ENCRYPTION_PASSWORD and BYOK_ENCRYPTION_SALT must be set together "
                "([vault] password and salt)"
            )
        if (self.previous_password is None) != (self.previous_salt is None):
            raise ValueError(
                "BYOK_PREVIOUS_ENCRYPTION_PASSWORD and BYOK_PREVIOUS_ENCRYPTION_SALT "
                "must be set together"
            )
        return self

    @property
    def has_master_key(self) -> bool:
        return self.key is not None or self.password is not None


class ProviderConfig(_Section):
    """``[providers.<id>]``. Unset fields take the provider's documented defaults."""

    wire: WireProtocol | None = None
    display_name: str | None = None
    base_url: str | None = None
    default_model: str | None = None
    timeout_s: Annotated[
        float,
        Field(allow_inf_nan=True),
        AfterValidator(_within(0, PROVIDER_TIMEOUT_MAX_S, "seconds", low_allowed=False)),
    ] = 60.0
    max_retries: Annotated[int, Field(ge=0, le=10)] = 2
    enabled: bool = True
    operator_key: SecretStr | None = None
    allow_operator_key: bool = False
    operator_monthly_cap_usd: Annotated[
        float,
        Field(allow_inf_nan=True),
        AfterValidator(_within(0, float(MONTHLY_LIMIT_MAX_USD), "US dollars")),
    ] = 5.0
    requires_user_key: bool = True


class LimitsSettings(_Section):
    requests_per_minute: Annotated[int, Field(ge=1)] = 20
    default_max_tokens: Annotated[int, AfterValidator(_within(1, MAX_TOKENS, "tokens"))] = 1024
    max_transcript_chars: Annotated[int, Field(ge=1000)] = 400_000
    history_token_budget: Annotated[int, Field(ge=0)] = 4000


#: The longest an answer may be kept in a response cache: a year.
CACHE_TTL_MAX_S = 365 * 86_400


class ResponseCacheSettings(_Section):
    """``[cache]``: the response cache users may opt into (``/byok prefs cache on``)."""

    #: The operator's switch: false turns caching off for everyone (nothing is kept or read).
    enabled: bool = True
    #: Answers kept per user; the oldest is evicted first.
    max_entries_per_user: Annotated[int, Field(ge=1, le=100_000)] = 200
    #: Longer answers are not kept.
    max_answer_chars: Annotated[int, Field(ge=100, le=1_000_000)] = 32_000
    #: Seconds an answer is served again, for users who set no TTL of their own.
    default_ttl_s: Annotated[int, Field(ge=60, le=CACHE_TTL_MAX_S)] = 86_400
    #: The longest TTL a user may choose.
    max_ttl_s: Annotated[int, Field(ge=60, le=CACHE_TTL_MAX_S)] = 30 * 86_400

    @model_validator(mode="after")
    def _default_within_max(self) -> ResponseCacheSettings:
        if self.default_ttl_s > self.max_ttl_s:
            raise ValueError(
                f"default_ttl_s ({self.default_ttl_s}) must not be longer than max_ttl_s "
                f"({self.max_ttl_s})"
            )
        return self


class CompareSettings(_Section):
    """``[compare]``: ``/ask --compare`` and ``--provider a,b,c`` (answers side by side)."""

    #: The most providers one comparison asks at once (each is a request of its own).
    max_providers: Annotated[int, Field(ge=2, le=5)] = 3


class SlackSettings(_Section):
    enabled: bool = False
    mode: Literal["socket", "http"] = "socket"
    bot_token: SecretStr | None = None
    app_token: SecretStr | None = None
    signing_secret: SecretStr | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    api_url: str = "https://slack.com/api/"


class DiscordSettings(_Section):
    enabled: bool = False
    token: SecretStr | None = None
    dev_guild_id: int | None = None
    api_base: str = "https://discord.com/api/v10"
    gateway_url: str = "wss://gateway.discord.gg/"
    #: Gateway shards shared by every instance; 0 uses Discord's recommendation.
    shard_count: Annotated[int, Field(ge=0, le=MAX_SHARDS)] = 0
    #: Seconds a shard lease lasts unrenewed: a dead instance's shards are claimed within
    #: about this plus a third of it, then connected one per identify turn (5 s).
    shard_lease_s: Annotated[float, Field(ge=3, le=600)] = 30.0


class HttpSettings(_Section):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8080


class DigestSettings(_Section):
    enabled: bool = True
    day: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = "mon"
    time: str = "09:00"
    timezone: str = "UTC"
    grace_hours: Annotated[float, Field(ge=0)] = 24.0
    chart_weeks: Annotated[int, Field(ge=1, le=12)] = 4

    @field_validator("time")
    @classmethod
    def _clock_time(cls, value: str) -> str:
        if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
            raise ValueError(f"use HH:MM on a 24-hour clock, e.g. 09:00 or 17:30 (got {value!r})")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r}: use an IANA name such as UTC, Europe/Berlin "
                "or America/New_York"
            ) from None
        return value


class LoggingSettings(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["text", "json"] = "text"


class Config(_Section):
    bot: BotSettings = BotSettings()
    database: DatabaseSettings = DatabaseSettings()
    vault: VaultSettings = VaultSettings()
    providers: dict[str, ProviderConfig] = Field(default_factory=dict)
    limits: LimitsSettings = LimitsSettings()
    cache: ResponseCacheSettings = ResponseCacheSettings()
    compare: CompareSettings = CompareSettings()
    slack: SlackSettings = SlackSettings()
    discord: DiscordSettings = DiscordSettings()
    http: HttpSettings = HttpSettings()
    digest: DigestSettings = DigestSettings()
    logging: LoggingSettings = LoggingSettings()

    @model_validator(mode="after")
    def _consistent(self) -> Config:
        for name, provider in self.providers.items():
            if not PROVIDER_ID_RULE.fullmatch(name):
                shown = name if len(name) <= 40 else name[:40] + "…"
                raise ValueError(
                    f"[providers.{shown}]: a provider id is 1 to {PROVIDER_ID_MAX_CHARS} "
                    "lowercase letters, digits, - or _, starting with a letter or digit "
                    f"(it has {len(name)} characters); Discord and Slack menus and the usage "
                    "table take no other"
                )
            if name not in BUILTIN_PROVIDER_IDS:
                missing = [f for f in ("base_url", "default_model") if getattr(provider, f) is None]
                if missing:
                    raise ValueError(
                        f"[providers.{name}] is not a built-in provider, so it needs "
                        + " and ".join(missing)
                        + ' (and wire = "openai-compatible")'
                    )
        return self

    def provider(self, provider_id: str) -> ProviderConfig:
        return self.providers.get(provider_id, ProviderConfig())


@dataclass(frozen=True, slots=True)
class ConfigSource:
    """Where the configuration came from, for messages."""

    path: Path | None
    env_used: tuple[str, ...]

    def describe(self) -> str:
        where = str(self.path) if self.path else "built-in defaults"
        if self.env_used:
            where += " + environment (" + ", ".join(self.env_used) + ")"
        return where


def _find_path(explicit: str | Path | None, env: Mapping[str, str]) -> Path | None:
    if explicit is not None:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        return path
    if env.get("BYOK_CONFIG"):
        path = Path(env["BYOK_CONFIG"])
        if not path.is_file():
            raise ConfigError(f"BYOK_CONFIG points at {path}, which does not exist")
        return path
    default = Path("config.toml")
    return default if default.is_file() else None


def _apply_env(raw: dict[str, Any], env: Mapping[str, str]) -> list[str]:
    used: list[str] = []
    for (section, key), var in _ENV_OVERRIDES.items():
        value = env.get(var)
        if value:
            raw.setdefault(section, {})
            if isinstance(raw[section], dict):
                raw[section][key] = value
                used.append(var)
    providers = raw.setdefault("providers", {})
    if isinstance(providers, dict):
        for provider_id, var in OPERATOR_KEY_ENV.items():
            value = env.get(var)
            if value:
                section = providers.setdefault(provider_id, {})
                if isinstance(section, dict):
                    section["operator_key"] = value
                    used.append(var)
    return used


def _setting_name(loc: tuple[str | int, ...]) -> str:
    parts = [str(p) for p in loc]
    if not parts:
        return "(top level)"
    if parts[0] == "providers" and len(parts) >= 2:
        table = f"providers.{parts[1]}"
        rest = parts[2:]
    else:
        table, rest = parts[0], parts[1:]
    if not rest:
        return f"[{table}]"
    return f"[{table}] {'.'.join(rest)}"


def _known_fields(loc: tuple[str | int, ...]) -> list[str]:
    """The valid setting names of the table that holds ``loc``'s last part."""
    parts = [str(p) for p in loc[:-1]]
    if not parts:
        return list(Config.model_fields)
    if parts[0] == "providers":
        return list(ProviderConfig.model_fields) if len(parts) == 2 else []
    field = Config.model_fields.get(parts[0])
    model = field.annotation if field is not None else None
    if len(parts) == 1 and isinstance(model, type) and issubclass(model, BaseModel):
        return list(model.model_fields)
    return []


def _format_errors(exc: ValidationError, source: str) -> str:
    lines = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        name = _setting_name(loc)
        if error["type"] == "extra_forbidden":
            hint = difflib.get_close_matches(str(loc[-1]), _known_fields(loc), n=1)
            suggestion = f" — did you mean `{hint[0]}`?" if hint else ""
            lines.append(f"unknown setting {name}{suggestion}")
        elif error["type"] == "value_error":
            message = str(error["msg"]).removeprefix("Value error, ")
            lines.append(f"{name}: {message}" if loc else message)
        else:
            lines.append(f"{name}: {error['msg']} (got {_shown(error.get('input'), name)})")
    return f"invalid configuration in {source}:\n  " + "\n  ".join(lines)


def _shown(value: Any, name: str) -> str:
    secret_words = ("token", "secret", "password", "salt", "key")
    if any(word in name for word in secret_words):
        return "a hidden value"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _check_adapters(config: Config) -> list[str]:
    problems = []
    slack = config.slack
    if slack.enabled:
        if slack.bot_token is None and slack.client_id is None:
            problems.append(
                "[slack] is enabled but bot_token is missing (set SLACK_BOT_TOKEN, "
                "or client_id and client_secret for OAuth installs)"
            )
        if slack.mode == "socket" and slack.app_token is None:
            problems.append(
                '[slack] mode = "socket" needs app_token (set SLACK_APP_TOKEN, an xapp- token)'
            )
        if slack.mode == "http" and slack.signing_secret is None:
            problems.append('[slack] mode = "http" needs signing_secret (set SLACK_SIGNING_SECRET)')
        if (slack.client_id is None) != (slack.client_secret is None):
            problems.append("[slack] client_id and client_secret must be set together")
    if config.discord.enabled and config.discord.token is None:
        problems.append("[discord] is enabled but token is missing (set DISCORD_TOKEN)")
    if config.bot.mode == "production" and not config.vault.has_master_key:
        problems.append(
            "[vault] production mode needs a master key: set BYOK_ENCRYPTION_PASSWORD and "
            "BYOK_ENCRYPTION_SALT, or BYOK_ENCRYPTION_KEY"
        )
    return problems


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        line = exc.object[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{path} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} on line {line}): "
            "save it as UTF-8"
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read the config file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc


def load_config(
    path: str | Path | None = None, env: Mapping[str, str] | None = None
) -> tuple[Config, ConfigSource]:
    """Read, merge with the environment and validate. Raises ConfigError naming each problem."""
    env = os.environ if env is None else env
    found = _find_path(path, env)
    raw: dict[str, Any] = {}
    if found is not None:
        raw = _read_toml(found)
    used = _apply_env(raw, env)
    source = ConfigSource(found, tuple(used))
    try:
        config = Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, source.describe())) from None
    problems = _check_adapters(config)
    if problems:
        raise ConfigError(
            f"invalid configuration in {source.describe()}:\n  " + "\n  ".join(problems)
        )
    return config, source
