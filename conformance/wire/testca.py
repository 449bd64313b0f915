"""The suite's own test CA: a CA certificate and a server and a client certificate signed by it,
generated on first use with ``cryptography`` (EC P-256, valid one year) so that TLS runs out of
the box against the embedded reference. Profiles name it ``tls: {ca: test-ca}``.

The files live in ``$CONFORMANCE_TEST_CA`` or ``~/.cache/outbound-conformance/test-ca``; a set
that is missing, unreadable or within a week of expiry is generated again, written to a
temporary folder and renamed into place so that concurrent runs never see half a set.

``python -m conformance.wire.testca [DIR]`` prints the paths (scripts use it for Kamailio's
tls.cfg).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import shutil
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = ["TestCa", "ensure_test_ca", "default_dir", "SERVER_NAMES"]

SERVER_NAMES = ("localhost", "ims.test", "*.ims.test")
SERVER_IPS = ("127.0.0.1", "::1")
_FILES = ("ca_cert", "server_cert", "server_key", "client_cert", "client_key")


@dataclass(frozen=True)
class TestCa:
    __test__ = False  # not a pytest class
    ca_cert: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def default_dir() -> Path:
    env = os.environ.get("CONFORMANCE_TEST_CA")
    if env:
        return Path(env)
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "outbound-conformance" / "test-ca"


def _paths(directory: Path) -> TestCa:
    return TestCa(*(directory / f"{name.replace('_', '.')}.pem" for name in _FILES))


def _usable(ca: TestCa) -> bool:
    from cryptography import x509
    try:
        for p in (ca.ca_cert, ca.server_cert, ca.client_cert):
            cert = x509.load_pem_x509_certificate(p.read_bytes())
            if cert.not_valid_after_utc - dt.timedelta(days=7) < dt.datetime.now(dt.timezone.utc):
                return False
        return ca.server_key.is_file() and ca.client_key.is_file()
    except (OSError, ValueError):
        return False


def _generate(directory: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    until = now + dt.timedelta(days=365)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "outbound-conformance test CA"),
                          x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def pem_key(key) -> bytes:
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = name("outbound-conformance test CA (do not trust outside tests)")
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now).not_valid_after(until)
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False,
                                       encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))

    def leaf(cn: str, usage, sans) -> tuple[bytes, bytes]:
        key = ec.generate_private_key(ec.SECP256R1())
        b = (x509.CertificateBuilder().subject_name(name(cn)).issuer_name(ca_name)
             .public_key(key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(now).not_valid_after(until)
             .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
             .add_extension(x509.ExtendedKeyUsage(usage), critical=False)
             .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                            critical=False))
        if sans:
            b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = b.sign(ca_key, hashes.SHA256())
        return cert.public_bytes(serialization.Encoding.PEM), pem_key(key)

    server_sans = [x509.DNSName(n) for n in SERVER_NAMES] + [x509.IPAddress(ipaddress.ip_address(a))
                                                              for a in SERVER_IPS]
    # A UE/client certificate names the tester's UE host; proxies use the server pair (RFC 5923).
    client_sans = [x509.DNSName("ue.ims.test")]
    server_pem, server_key = leaf("ims.test", [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
                                  server_sans)
    client_pem, client_key = leaf("ue.ims.test", [ExtendedKeyUsageOID.CLIENT_AUTH], client_sans)
    paths = _paths(directory)
    paths.ca_cert.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths.server_cert.write_bytes(server_pem)
    paths.server_key.write_bytes(server_key)
    paths.client_cert.write_bytes(client_pem)
    paths.client_key.write_bytes(client_key)
    for p in (paths.server_key, paths.client_key):
        p.chmod(0o600)


def ensure_test_ca(directory: Path | str | None = None) -> TestCa:
    """The test CA's files in ``directory`` (default: :func:`default_dir`), generated when needed."""
    directory = Path(directory) if directory else default_dir()
    ca = _paths(directory)
    if _usable(ca):
        return ca
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".test-ca-", dir=directory.parent))
    tmp.chmod(0o755)  # the certificates are public; the keys stay 0600
    try:
        _generate(tmp)
        if directory.exists():
            old = directory.with_name(f".{directory.name}-old-{os.getpid()}")
            try:
                directory.rename(old)
                shutil.rmtree(old, ignore_errors=True)
            except OSError:
                pass
        try:
            tmp.rename(directory)
        except OSError:          # another process put a set in place first: use it
            shutil.rmtree(tmp, ignore_errors=True)
    finally:
        if tmp.exists() and tmp != directory:
            shutil.rmtree(tmp, ignore_errors=True)
    if not _usable(ca):
        raise RuntimeError(f"cannot create the test CA in {directory}")
    return ca


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ca = ensure_test_ca(argv[0] if argv else None)
    print(json.dumps({k: str(v) for k, v in asdict(ca).items()}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
