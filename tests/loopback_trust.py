"""The tests trust one throwaway certificate authority instead of the public ones.

Every fake the tests talk to is plain HTTP on loopback (pytest-socket allows nothing
else), so no test completes a TLS handshake. Yet every HTTP client a provider builds
makes an SSL context and loads a CA bundle into it (certifi's or the system's, about
150 certificates): 30-40 ms each, seven for the five providers of each engine a test
builds, a large share of the quick tier. Pointed at a bundle of one certificate by
``SSL_CERT_FILE`` (which httpx, httpx2, google-genai and OpenSSL's default paths all
honour), each load takes well under a millisecond. The contexts are otherwise the ones
production builds; a test that did speak TLS would fail verification, not pass
unverified.
"""

from __future__ import annotations

import atexit
import datetime
import os
import shutil
import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

__all__ = ["trust_only_a_throwaway_ca"]


def trust_only_a_throwaway_ca() -> None:
    """Set ``SSL_CERT_FILE`` (for this process and its children) to a fresh one-CA bundle."""
    folder = Path(tempfile.mkdtemp(prefix="byok-test-ca-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "byok-bot tests: trusted by nobody")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    bundle = folder / "ca.pem"
    bundle.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    os.environ["SSL_CERT_FILE"] = str(bundle)
    os.environ.pop("SSL_CERT_DIR", None)
