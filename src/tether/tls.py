"""TLS helpers shared by the engines: SSL contexts with safe defaults, readable errors.

::

    ctx = client_ssl_context()                      # system CAs, hostname checked
    ctx = client_ssl_context(ca_file="ca.pem")      # your own CA (as well as the system's)
    ctx = client_ssl_context(insecure=True)         # NO verification: testing only
    ctx = server_ssl_context("cert.pem", "key.pem")

Both sides refuse anything older than TLS 1.2.
"""

from __future__ import annotations

import os
import ssl
import warnings

__all__ = [
    "clarify_tls_error",
    "client_ssl_context",
    "describe_tls_error",
    "server_ssl_context",
]

StrPath = str | os.PathLike[str]


def client_ssl_context(
    ca_file: StrPath | None = None,
    insecure: bool = False,
    *,
    certfile: StrPath | None = None,
    keyfile: StrPath | None = None,
) -> ssl.SSLContext:
    """An SSL context for wss:// clients (and for TLS to an https:// proxy).

    Starts from :func:`ssl.create_default_context`: the system's CA certificates,
    certificate verification and host name checking on, TLS 1.2 or newer.
    ``ca_file`` adds a PEM bundle of CAs to trust (a private CA).  ``certfile`` and
    ``keyfile`` send a client certificate.

    ``insecure=True`` turns OFF certificate verification and the host name check.
    Anyone on the path can then read and change the traffic (a man in the middle
    needs no valid certificate).  Only for tests and throw-away setups; it warns.
    """
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if ca_file is not None:
        ctx.load_verify_locations(cafile=os.fspath(ca_file))
    if certfile is not None:
        ctx.load_cert_chain(os.fspath(certfile), None if keyfile is None else os.fspath(keyfile))
    if insecure:
        warnings.warn(
            "TLS certificate verification is disabled (insecure=True): the connection "
            "is encrypted but the server is not authenticated",
            stacklevel=2,
        )
        ctx.check_hostname = False  # must be switched off before verify_mode
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def server_ssl_context(
    certfile: StrPath,
    keyfile: StrPath | None = None,
    password: str | bytes | None = None,
) -> ssl.SSLContext:
    """An SSL context for wss:// servers: the certificate chain and key, TLS 1.2+.

    ``certfile`` is a PEM file with the server certificate followed by any
    intermediates (and the key, if ``keyfile`` is not given).  ``password``
    decrypts an encrypted key.
    """
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(
        os.fspath(certfile), None if keyfile is None else os.fspath(keyfile), password
    )
    return ctx


# OpenSSL reasons (ssl.SSLError.reason) for a client whose peer did not answer in TLS:
# 1.1/3.0 say WRONG_VERSION_NUMBER or UNKNOWN_PROTOCOL, 3.2+ RECORD_LAYER_FAILURE,
# PACKET_LENGTH_TOO_LONG when the bytes parse as a huge record.
_NOT_TLS_FROM_SERVER = frozenset(
    {"WRONG_VERSION_NUMBER", "UNKNOWN_PROTOCOL", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG"}
)
# ... and for a server that read plain HTTP instead of a ClientHello.
_PLAIN_HTTP_TO_SERVER = frozenset({"HTTP_REQUEST", "HTTPS_PROXY_REQUEST"})

# X509_V_ERR_* codes of ssl.SSLCertVerificationError.verify_code.
_UNTRUSTED = {
    2: "its issuer's certificate is not available",
    18: "it is self-signed",
    19: "it is signed by a self-signed CA that is not trusted",
    20: "it is signed by a CA that is not trusted",
    21: "its chain cannot be verified",
}
_EXPIRED = 10
_NOT_YET_VALID = 9
_HOSTNAME_MISMATCH = 62
_IP_MISMATCH = 64


def describe_tls_error(
    exc: BaseException,
    server_hostname: str | None = None,
    server_side: bool = False,
) -> str | None:
    """A sentence saying what went wrong in a TLS handshake, or ``None`` if unknown.

    Covers untrusted certificates, host name mismatches, expired certificates, a
    client speaking TLS to a plain-text port, and (``server_side``) a plain-text
    client on a TLS port.
    """
    peer = f"the server {server_hostname!r}" if server_hostname else "the server"
    if isinstance(exc, ssl.SSLCertVerificationError):
        code = exc.verify_code
        detail = exc.verify_message
        if code in _UNTRUSTED:
            return (
                f"TLS certificate of {peer} is not trusted: {_UNTRUSTED[code]} ({detail}); "
                "pass the CA with client_ssl_context(ca_file=...) if it is a private CA"
            )
        if code in (_HOSTNAME_MISMATCH, _IP_MISMATCH):
            return (
                f"TLS certificate of {peer} is for another host name: {detail}; connect "
                "with a name the certificate lists, or fix the certificate"
            )
        if code == _EXPIRED:
            return f"TLS certificate of {peer} has expired ({detail})"
        if code == _NOT_YET_VALID:
            return f"TLS certificate of {peer} is not valid yet ({detail}); check the clocks"
        return f"TLS certificate of {peer} failed verification: {detail}"
    if isinstance(exc, ssl.SSLError):
        reason = getattr(exc, "reason", None) or ""
        if server_side and reason in _PLAIN_HTTP_TO_SERVER:
            return (
                "plain-text HTTP received on a TLS port: the client used ws:// (or http://) "
                "where wss:// was needed"
            )
        if not server_side and reason in _NOT_TLS_FROM_SERVER:
            return (
                f"TLS spoken to a plain-text port: {peer} did not answer with TLS; "
                "use ws:// for it, or check the port"
            )
        if reason == "TLSV1_ALERT_PROTOCOL_VERSION" or reason == "UNSUPPORTED_PROTOCOL":
            return f"TLS version refused by {peer}: both sides need TLS 1.2 or newer"
        if isinstance(exc, ssl.SSLEOFError) and not server_side:
            return (
                f"{peer} closed the connection during the TLS handshake; it may not speak "
                "TLS on this port (use ws://?) or it refused this client"
            )
    return None


def clarify_tls_error(
    exc: ssl.SSLError,
    server_hostname: str | None = None,
    server_side: bool = False,
) -> ssl.SSLError:
    """A copy of ``exc`` whose message starts with :func:`describe_tls_error`'s sentence.

    The copy has the same class (``except ssl.SSLCertVerificationError`` still works)
    and the same ``errno``, ``reason``, ``library``, ``verify_code`` and
    ``verify_message``; raise it ``from exc``.  Returns ``exc`` itself when there is
    nothing clearer to say.
    """
    text = describe_tls_error(exc, server_hostname, server_side)
    if text is None:
        return exc
    clear = type(exc)(exc.errno, f"{text} [{exc.strerror or exc}]")
    for name in ("reason", "library", "verify_code", "verify_message"):
        if hasattr(exc, name):
            setattr(clear, name, getattr(exc, name))
    return clear
