"""Building the vault's keyring from configuration.

Production mode requires a configured master key. Development mode, with none
configured, creates a local key file readable only by its owner and warns loudly.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.config import Config, VaultSettings
from byok.errors import MasterKeyMissingError
from byok.vault import Keyring, MasterKey, derive_master_key, load_or_create_key_file, parse_raw_key

__all__ = ["KeyringSetup", "build_keyring"]

log = logging.getLogger(__name__)

DEV_KEY_WARNING = (
    "NO MASTER KEY CONFIGURED: development mode is using the local key file {path}. "
    "Anyone who can read that file can decrypt every stored API key. For real use set "
    "BYOK_ENCRYPTION_PASSWORD and BYOK_ENCRYPTION_SALT (or BYOK_ENCRYPTION_KEY) and "
    'set [bot] mode = "production".'
)


@dataclass(frozen=True, slots=True)
class KeyringSetup:
    keyring: Keyring
    source: str
    secrets: tuple[str, ...]  # literal secret strings for the log redaction filter


def _current(vault: VaultSettings) -> tuple[MasterKey, str] | None:
    if vault.key is not None:
        return parse_raw_key(vault.key.get_secret_value()), "BYOK_ENCRYPTION_KEY"
    if vault.password is not None and vault.salt is not None:
        key = derive_master_key(vault.password.get_secret_value(), vault.salt.get_secret_value())
        return key, "BYOK_ENCRYPTION_PASSWORD + BYOK_ENCRYPTION_SALT"
    return None


def _previous(vault: VaultSettings) -> list[MasterKey]:
    keys = []
    if vault.previous_key is not None:
        keys.append(parse_raw_key(vault.previous_key.get_secret_value()))
    if vault.previous_password is not None and vault.previous_salt is not None:
        keys.append(
            derive_master_key(
                vault.previous_password.get_secret_value(), vault.previous_salt.get_secret_value()
            )
        )
    return keys


def build_keyring(config: Config) -> KeyringSetup:
    vault = config.vault
    literals = tuple(
        s.get_secret_value()
        for s in (vault.password, vault.key, vault.previous_password, vault.previous_key)
        if s is not None
    )
    previous = _previous(vault)
    configured = _current(vault)
    if configured is not None:
        current, source = configured
        if vault.key_file.exists():
            # Keys stored while the bot ran on the development key file stay readable
            # until `byok-bot keys rotate` moves them to the configured key.
            dev_key, _ = load_or_create_key_file(vault.key_file)
            previous.append(dev_key)
        return KeyringSetup(Keyring(current, previous), source, literals)
    if config.bot.mode == "production":
        raise MasterKeyMissingError(
            "production mode needs a master key: set BYOK_ENCRYPTION_PASSWORD and "
            "BYOK_ENCRYPTION_SALT, or BYOK_ENCRYPTION_KEY"
        )
    current, created = load_or_create_key_file(vault.key_file)
    log.warning(DEV_KEY_WARNING.format(path=vault.key_file))
    source = f"development key file {vault.key_file}" + (" (created now)" if created else "")
    return KeyringSetup(Keyring(current, previous), source, literals)
