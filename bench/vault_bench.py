"""The vault: AES-256-GCM seals and opens per second, and the scrypt start-up cost.

Seal and open run exactly as the engine does for every stored key (``Keyring.seal`` /
``Keyring.open``: a fresh nonce, associated data naming owner and provider), on one core,
for a key-sized plaintext. The KDF is ``derive_master_key`` with the production cost
(scrypt N=2**15, r=8, p=1): paid once at start-up when the master key is a password, and
once more for a previous password while rotating. A raw 32-byte key (``BYOK_ENCRYPTION_KEY``)
costs nothing at start-up.

    .venv/bin/python -m bench.vault_bench [--seconds 2] [--kdf-runs 5]
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import time
from collections.abc import Callable

from bench.common import load_average, machine
from byok.secret import Secret
from byok.types import UserRef
from byok.vault import SCRYPT_N, Keyring, MasterKey, derive_master_key, parse_raw_key


def rate(operation: Callable[[], object], seconds: float) -> tuple[float, float]:
    """Operations per second and µs per operation, timed in batches for ``seconds``."""
    count, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        for _ in range(1000):
            operation()
        count += 1000
    return count / elapsed, elapsed / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--kdf-runs", type=int, default=5)
    args = parser.parse_args()
    load_before = load_average()
    keyring = Keyring(MasterKey.from_bytes(os.urandom(32)))
    owner = UserRef("slack", "T0123456789", "U0123456789")
    plaintext = Secret("sk-proj-" + secrets.token_urlsafe(120))  # a long, real-sized key
    sealed = keyring.seal(plaintext, owner, "openai")
    assert keyring.open(sealed, owner, "openai").reveal() == plaintext.reveal()

    seal_rate, seal_us = rate(lambda: keyring.seal(plaintext, owner, "openai"), args.seconds)
    open_rate, open_us = rate(lambda: keyring.open(sealed, owner, "openai"), args.seconds)

    kdf: list[float] = []
    for _ in range(args.kdf_runs):
        started = time.perf_counter()
        derive_master_key(secrets.token_urlsafe(24), secrets.token_hex(16))
        kdf.append(time.perf_counter() - started)
    raw_started = time.perf_counter()
    parse_raw_key(secrets.token_hex(32))
    raw_us = (time.perf_counter() - raw_started) * 1e6

    print(f"machine: {machine()} (before: {load_before})\n")
    print("| operation | per second (one core) | µs each |")
    print("|---|---|---|")
    print(
        f"| seal (encrypt) a {len(plaintext.reveal())}-character key | {seal_rate:,.0f} | {seal_us:.1f} |"
    )
    print(f"| open (decrypt) it | {open_rate:,.0f} | {open_us:.1f} |")
    print()
    print("| master key at start-up | time |")
    print("|---|---|")
    print(
        f"| password + salt through scrypt (N=2**{SCRYPT_N.bit_length() - 1}, r=8, p=1, "
        f"32 MiB), {args.kdf_runs} runs | median {statistics.median(kdf) * 1000:.0f} ms, "
        f"max {max(kdf) * 1000:.0f} ms |"
    )
    print(f"| raw 32-byte key (hex) | {raw_us:.0f} µs |")


if __name__ == "__main__":
    main()
