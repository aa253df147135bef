"""``QSslError``: what the ``ssl_errors`` and ``peer_verify_error`` signals carry."""

from __future__ import annotations

import enum
import ssl

from ..tls import describe_tls_error

__all__ = ["SslError"]


class SslError:
    """One TLS problem: a :class:`SslError.Kind` (``QSslError::SslError``), a text,
    and the Python exception it came from.

    ``verify_code`` is OpenSSL's ``X509_V_ERR_*`` number for certificate problems.
    """

    class Kind(enum.IntEnum):
        NO_ERROR = 0
        UNABLE_TO_GET_ISSUER_CERTIFICATE = 1
        CERTIFICATE_NOT_YET_VALID = 6
        CERTIFICATE_EXPIRED = 7
        SELF_SIGNED_CERTIFICATE = 13
        SELF_SIGNED_CERTIFICATE_IN_CHAIN = 14
        UNABLE_TO_GET_LOCAL_ISSUER_CERTIFICATE = 15
        UNABLE_TO_VERIFY_FIRST_CERTIFICATE = 16
        CERTIFICATE_REVOKED = 17
        HOST_NAME_MISMATCH = 22
        NO_PEER_CERTIFICATE = 23
        UNSPECIFIED_ERROR = -1

    # X509_V_ERR_* -> QSslError::SslError
    _VERIFY_CODES = {
        2: Kind.UNABLE_TO_GET_ISSUER_CERTIFICATE,
        9: Kind.CERTIFICATE_NOT_YET_VALID,
        10: Kind.CERTIFICATE_EXPIRED,
        18: Kind.SELF_SIGNED_CERTIFICATE,
        19: Kind.SELF_SIGNED_CERTIFICATE_IN_CHAIN,
        20: Kind.UNABLE_TO_GET_LOCAL_ISSUER_CERTIFICATE,
        21: Kind.UNABLE_TO_VERIFY_FIRST_CERTIFICATE,
        23: Kind.CERTIFICATE_REVOKED,
        62: Kind.HOST_NAME_MISMATCH,
        64: Kind.HOST_NAME_MISMATCH,
    }

    def __init__(self, error: SslError.Kind, error_string: str,
                 exception: BaseException | None = None, verify_code: int | None = None) -> None:
        self.error = error
        self.error_string = error_string
        self.exception = exception
        self.verify_code = verify_code

    @classmethod
    def from_exception(cls, exc: BaseException, server_hostname: str | None = None,
                       server_side: bool = False) -> SslError:
        text = describe_tls_error(exc, server_hostname, server_side) or str(exc)
        if isinstance(exc, ssl.SSLCertVerificationError) and server_side:
            text = f"the client's TLS certificate failed verification: {exc.verify_message}"
        if isinstance(exc, ssl.SSLCertVerificationError):
            code = exc.verify_code
            return cls(cls._VERIFY_CODES.get(code, cls.Kind.UNSPECIFIED_ERROR), text, exc, code)
        if isinstance(exc, ssl.SSLError) and exc.reason == "PEER_DID_NOT_RETURN_A_CERTIFICATE":
            return cls(cls.Kind.NO_PEER_CERTIFICATE, text, exc)
        return cls(cls.Kind.UNSPECIFIED_ERROR, text, exc)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SslError):
            return NotImplemented
        return self.error == other.error and self.verify_code == other.verify_code

    def __hash__(self) -> int:
        return hash((self.error, self.verify_code))

    def __repr__(self) -> str:
        return f"<SslError {self.error.name}: {self.error_string}>"
