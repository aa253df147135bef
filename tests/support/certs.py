"""Test certificates, made at test time with trustme (no key is ever committed).

Fixtures (register with ``pytest_plugins = ["tests.support.certs"]``):

- ``tls_certs`` (session): a :class:`CertBundle` in a temporary directory.
- ``server_ssl_ctx``: a server context for 127.0.0.1, ::1 and localhost.
- ``client_ssl_ctx``: a client context that trusts the test CA only.
"""

from __future__ import annotations

import dataclasses
import datetime
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tether.tls import client_ssl_context, server_ssl_context

if TYPE_CHECKING:
    import trustme

__all__ = ["CertBundle", "client_ssl_ctx", "make_certs", "server_ssl_ctx", "tls_certs"]

#: The names in the good server certificate.
SERVER_NAMES = ("localhost", "127.0.0.1", "::1")
#: The only name in the wrong-name certificate.
WRONG_NAME = "wrong.example"


@dataclasses.dataclass(frozen=True)
class KeyPair:
    """A certificate chain (leaf first) and its private key, as PEM files."""

    cert: Path
    key: Path


@dataclasses.dataclass(frozen=True)
class CertBundle:
    """A test CA and server certificates in ``directory``.

    ``ca_file`` is the CA to trust.  ``server`` is valid for :data:`SERVER_NAMES`;
    ``wrong_name`` is signed by the same CA for :data:`WRONG_NAME` only; ``untrusted``
    is for :data:`SERVER_NAMES` but signed by another CA; ``expired`` expired in 2001.
    """

    directory: Path
    ca_file: Path
    server: KeyPair
    wrong_name: KeyPair
    untrusted: KeyPair
    expired: KeyPair

    def server_context(self, which: str = "server") -> ssl.SSLContext:
        """A server context for one of the key pairs, by attribute name."""
        pair: KeyPair = getattr(self, which)
        return server_ssl_context(pair.cert, pair.key)

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts the test CA (and the system's CAs)."""
        return client_ssl_context(ca_file=self.ca_file)


def _write(directory: Path, name: str, leaf: trustme.LeafCert) -> KeyPair:
    cert = directory / f"{name}.pem"
    key = directory / f"{name}.key"
    leaf.cert_chain_pems[0].write_to_path(str(cert))
    for pem in leaf.cert_chain_pems[1:]:
        pem.write_to_path(str(cert), append=True)
    leaf.private_key_pem.write_to_path(str(key))
    key.chmod(0o600)
    return KeyPair(cert, key)


def make_certs(directory: Path) -> CertBundle:
    """Create a CA and the server certificates in ``directory``."""
    try:
        import trustme
    except ImportError:
        pytest.fail(
            "the trustme package is missing: run scripts/install-system-deps.sh",
            pytrace=False,
        )
    directory.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA(organization_name="tether test CA")
    other_ca = trustme.CA(organization_name="untrusted test CA")
    ca_file = directory / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    long_ago = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)
    return CertBundle(
        directory=directory,
        ca_file=ca_file,
        server=_write(directory, "server", ca.issue_cert(*SERVER_NAMES)),
        wrong_name=_write(directory, "wrong-name", ca.issue_cert(WRONG_NAME)),
        untrusted=_write(directory, "untrusted", other_ca.issue_cert(*SERVER_NAMES)),
        expired=_write(
            directory,
            "expired",
            ca.issue_cert(
                *SERVER_NAMES,
                not_before=long_ago,
                not_after=long_ago + datetime.timedelta(days=365),
            ),
        ),
    )


@pytest.fixture(scope="session")
def tls_certs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CertBundle]:
    """The test CA and certificates, made once per session."""
    yield make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture
def server_ssl_ctx(tls_certs: CertBundle) -> ssl.SSLContext:
    """A server context with the good certificate."""
    return tls_certs.server_context()


@pytest.fixture
def client_ssl_ctx(tls_certs: CertBundle) -> ssl.SSLContext:
    """A client context that trusts the test CA."""
    return tls_certs.client_context()
