"""The vault: AES-256-GCM round trips, tamper detection, binding to owner and provider."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from bot.commands.table import COMMAND_HINTS
from byok.errors import KeyDecryptError, VaultError
from byok.secret import Secret
from byok.types import UserRef
from byok.vault import (
    Keyring,
    MasterKey,
    Sealed,
    derive_master_key,
    load_or_create_key_file,
    parse_raw_key,
)

ALICE = UserRef("slack", "T111", "U111")
BOB = UserRef("slack", "T111", "U222")


def test_round_trip(keyring: Keyring, canary_key: str) -> None:
    sealed = keyring.seal(Secret(canary_key), ALICE, "openai")
    assert canary_key.encode() not in sealed.blob
    assert sealed.master_key_id == keyring.current.key_id
    assert keyring.open(sealed, ALICE, "openai").reveal() == canary_key


def test_every_flipped_byte_is_detected(keyring: Keyring, canary_key: str) -> None:
    sealed = keyring.seal(Secret(canary_key), ALICE, "openai")
    for index in range(len(sealed.blob)):
        tampered = bytearray(sealed.blob)
        tampered[index] ^= 0x01
        with pytest.raises(KeyDecryptError):
            keyring.open(Sealed(bytes(tampered), sealed.master_key_id), ALICE, "openai")


def test_truncated_ciphertext_is_rejected(keyring: Keyring, canary_key: str) -> None:
    sealed = keyring.seal(Secret(canary_key), ALICE, "openai")
    with pytest.raises(KeyDecryptError):
        keyring.open(Sealed(sealed.blob[:20], sealed.master_key_id), ALICE, "openai")


@pytest.mark.parametrize(
    ("owner", "provider"),
    [
        (BOB, "openai"),
        (ALICE, "anthropic"),
        (UserRef("discord", "T111", "U111"), "openai"),
        (UserRef("slack", "T999", "U111"), "openai"),
    ],
)
def test_ciphertext_moved_to_another_owner_or_provider_fails(
    keyring: Keyring, canary_key: str, owner: UserRef, provider: str
) -> None:
    sealed = keyring.seal(Secret(canary_key), ALICE, "openai")
    with pytest.raises(KeyDecryptError) as caught:
        keyring.open(sealed, owner, provider)
    assert canary_key not in str(caught.value)
    assert canary_key not in COMMAND_HINTS.error_text(caught.value)


def test_nonces_never_repeat(keyring: Keyring) -> None:
    nonces = {
        keyring.seal(Secret("sk-same-plaintext"), ALICE, "openai").blob[1:13] for _ in range(20_000)
    }
    assert len(nonces) == 20_000


def test_same_plaintext_gives_different_ciphertexts(keyring: Keyring) -> None:
    first = keyring.seal(Secret("sk-abc-123456"), ALICE, "openai")
    second = keyring.seal(Secret("sk-abc-123456"), ALICE, "openai")
    assert first.blob != second.blob


def test_unknown_master_key_id_is_a_clear_error(keyring: Keyring, canary_key: str) -> None:
    other = Keyring(MasterKey.from_bytes(os.urandom(32)))
    sealed = other.seal(Secret(canary_key), ALICE, "openai")
    with pytest.raises(KeyDecryptError, match="not configured"):
        keyring.open(sealed, ALICE, "openai")


def test_wrong_master_key_with_forged_id_fails(canary_key: str) -> None:
    right = Keyring(MasterKey.from_bytes(os.urandom(32)))
    wrong = MasterKey(material=os.urandom(32), key_id=right.current.key_id)
    sealed = right.seal(Secret(canary_key), ALICE, "openai")
    with pytest.raises(KeyDecryptError):
        Keyring(wrong).open(sealed, ALICE, "openai")


def test_reseal_moves_to_current_key_and_stays_readable(canary_key: str) -> None:
    old = MasterKey.from_bytes(os.urandom(32))
    new = MasterKey.from_bytes(os.urandom(32))
    sealed = Keyring(old).seal(Secret(canary_key), ALICE, "xai")
    resealed = Keyring(new, [old]).reseal(sealed, ALICE, "xai")
    assert resealed.master_key_id == new.key_id
    assert Keyring(new).open(resealed, ALICE, "xai").reveal() == canary_key


def test_scrypt_derivation_is_deterministic_and_salted() -> None:
    a = derive_master_key("correct horse", "0123456789abcdef", n=2**10)
    b = derive_master_key("correct horse", "0123456789abcdef", n=2**10)
    c = derive_master_key("correct horse", "fedcba9876543210", n=2**10)
    assert a.material == b.material and a.key_id == b.key_id
    assert c.material != a.material
    assert "correct horse" not in repr(a) and a.material.hex() not in repr(a)


def test_short_salt_is_refused_with_instructions() -> None:
    with pytest.raises(VaultError, match="at least 16 characters"):
        derive_master_key("pw", "short")


def test_raw_key_hex_and_base64() -> None:
    material = os.urandom(32)
    assert parse_raw_key(material.hex()).material == material
    assert parse_raw_key(base64.b64encode(material).decode()).material == material
    with pytest.raises(VaultError, match="32 bytes"):
        parse_raw_key("not-a-key")


def test_key_file_is_created_owner_only_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "master.key"
    first, created = load_or_create_key_file(path)
    assert created
    assert path.stat().st_mode & 0o777 == 0o600
    second, created_again = load_or_create_key_file(path)
    assert not created_again and second.material == first.material


def test_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    load_or_create_key_file(path)
    path.chmod(0o644)
    with pytest.raises(VaultError, match="chmod 600"):
        load_or_create_key_file(path)


def test_secret_never_shows_itself(canary_key: str) -> None:
    secret = Secret(canary_key)
    for text in (repr(secret), str(secret), f"{secret}", f"{secret!r}", f"{secret}"):
        assert canary_key not in text
        assert text.endswith(canary_key[-4:] + ")")
    with pytest.raises(TypeError):
        import pickle

        pickle.dumps(secret)
