"""Authentication hooks for the opening handshake: HTTP Basic, bearer tokens, a callable.

Each helper returns a ``process_request`` hook for :func:`tether.serve` (and for the
blocking :func:`tether.sync.serve`): it answers ``401 Unauthorized`` (with a
``WWW-Authenticate`` challenge) before the upgrade when the credentials are missing or
wrong, and lets the handshake go on (returns ``None``) when they are right, after
setting ``connection.username`` (the user, or the token's name, or what the callable
returned)::

    serve(handler, host, port, process_request=basic_auth({"alice": hash_password("s3cret")}))

How secrets are compared:

* in constant time: both sides are hashed to fixed-length digests and compared with
  :func:`hmac.compare_digest`, so neither the content nor the length of a stored secret
  leaks through the time a wrong guess takes;
* without a user-existence oracle: an unknown user name is checked against a dummy
  secret of the same kind (a dummy PBKDF2 hash with the same cost when passwords are
  hashed), so "no such user" and "wrong password" take the same time and get the same
  answer;
* every token in a bearer-token set is compared (no early exit on the first match).

Stored passwords may be plain text (for tests and demos) or, better, hashes made by
:func:`hash_password` (PBKDF2-HMAC-SHA256, ``pbkdf2_sha256$iterations$salt$hash``).
Basic auth sends the password in clear on every connection: use it only over ``wss://``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import inspect
import os
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from .core.handshake import reject
from .core.http11 import Request, Response

__all__ = [
    "AuthHook",
    "basic_auth",
    "bearer_auth",
    "callable_auth",
    "check_password",
    "compare_secret",
    "hash_password",
]

#: A ``process_request`` hook: ``hook(connection, request)`` -> an answer, None, or an
#: awaitable of either (only when the checker given to the helper is async).
AuthHook = Callable[[Any, Request], Response | Awaitable[Response | None] | None]

#: PBKDF2 iterations for :func:`hash_password` (OWASP 2023 advice for SHA-256 is 600,000;
#: lower it only where handshakes per second matter more than offline cracking).
DEFAULT_ITERATIONS = 600_000
_PREFIX = "pbkdf2_sha256"
#: Longest Authorization value looked at (the header block limit bounds it anyway).
_MAX_CREDENTIALS = 4096


def _digest(secret: str | bytes) -> bytes:
    data = secret.encode("utf-8") if isinstance(secret, str) else secret
    return hashlib.sha256(data).digest()


def compare_secret(given: str | bytes, expected: str | bytes) -> bool:
    """Whether two secrets are equal, in time independent of their content and length."""
    return hmac.compare_digest(_digest(given), _digest(expected))


def hash_password(password: str, *, salt: bytes | None = None,
                  iterations: int = DEFAULT_ITERATIONS) -> str:
    """A salted PBKDF2-HMAC-SHA256 hash to store instead of a password."""
    salt = os.urandom(16) if salt is None else salt
    dk = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    return (f"{_PREFIX}${iterations}${base64.b64encode(salt).decode()}"
            f"${base64.b64encode(dk).decode()}")


def _parse_hash(stored: str) -> tuple[int, bytes, bytes] | None:
    parts = stored.split("$")
    if len(parts) != 4 or parts[0] != _PREFIX or not parts[1].isdecimal():
        return None
    try:
        return (int(parts[1]), base64.b64decode(parts[2], validate=True),
                base64.b64decode(parts[3], validate=True))
    except binascii.Error:
        return None


def _verify(password: str, stored: str) -> bool:
    parsed = _parse_hash(stored)
    if parsed is None:
        return compare_secret(password, stored)  # stored in plain text
    iterations, salt, expected = parsed
    dk = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    return hmac.compare_digest(dk, expected)


class _Dummy:
    """Dummy secrets to check unknown users against, one per PBKDF2 cost seen."""

    def __init__(self) -> None:
        self.plain = base64.b64encode(os.urandom(18)).decode()
        self._hashes: dict[int, str] = {}

    def like(self, stored_kind: str | None) -> str:
        if stored_kind is None:
            return self.plain
        parsed = _parse_hash(stored_kind)
        if parsed is None:
            return self.plain
        iterations = parsed[0]
        h = self._hashes.get(iterations)
        if h is None:
            h = self._hashes[iterations] = hash_password(self.plain, iterations=iterations)
        return h


_DUMMY = _Dummy()


def check_password(users: Mapping[str, str], user: str, password: str) -> bool:
    """Whether ``password`` is ``user``'s, in ``users`` (name -> password or hash).

    An unknown user costs the same as a known one with a wrong password: the password
    is checked against a dummy secret of the same kind as the stored ones.
    """
    stored = users.get(user)
    if stored is None:
        sample = next(iter(users.values()), None)
        _verify(password, _DUMMY.like(sample))
        return False
    return _verify(password, stored)


def _unauthorized(challenge: str) -> Response:
    return reject(401, "Unauthorized", headers=[("WWW-Authenticate", challenge)])


def _authorization(request: Request, scheme: str) -> str | None:
    """The credentials after ``scheme`` in the one Authorization header, or None."""
    values = request.headers.get_all("Authorization")
    if len(values) != 1 or len(values[0]) > _MAX_CREDENTIALS:
        return None
    kind, _, creds = values[0].strip().partition(" ")
    if kind.lower() != scheme.lower():
        return None
    return creds.strip() or None


def _finish(connection: Any, ok: object, challenge: str) -> Response | None:
    if not ok:
        return _unauthorized(challenge)
    # The name the check settled on (a user name, a token's name), for the handler.
    # (A connection class with __slots__ has nowhere to record it: skipped.)
    with contextlib.suppress(AttributeError):
        connection.username = ok if isinstance(ok, str) else getattr(connection, "username",
                                                                     None)
    return None


def _answer(connection: Any, result: Any, challenge: str) -> Any:
    """The hook's answer for a check result that may be awaitable."""
    if inspect.isawaitable(result):
        async def later() -> Response | None:
            return _finish(connection, await result, challenge)
        return later()
    return _finish(connection, result, challenge)


def basic_auth(
    users: Mapping[str, str] | None = None,
    *,
    check: Callable[[str, str], bool | Awaitable[bool]] | None = None,
    realm: str = "tether",
) -> AuthHook:
    """HTTP Basic authentication (RFC 7617) against ``users`` or a ``check`` function.

    ``users`` maps names to passwords or :func:`hash_password` hashes; ``check(user,
    password)`` (sync or async) is the alternative for a user store of your own: it
    must then itself compare in constant time and check unknown users against a dummy.
    """
    if (users is None) == (check is None):
        raise TypeError("basic_auth() takes users or check=, one of them")
    challenge = f'Basic realm="{realm}", charset="UTF-8"'
    table = dict(users) if users is not None else None

    def hook(connection: Any, request: Request) -> Any:
        creds = _authorization(request, "Basic")
        user, password = "", ""
        valid = False
        if creds is not None:
            try:
                decoded = base64.b64decode(creds.encode("ascii"), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeError):
                decoded = ""
            user, sep, password = decoded.partition(":")
            valid = bool(sep)
        if table is not None:
            # Checked even when the header was missing or malformed: same time either way.
            ok = check_password(table, user, password) and valid
            return _finish(connection, (user or True) if ok else None, challenge)
        if not valid:
            return _unauthorized(challenge)
        assert check is not None
        result = check(user, password)
        if inspect.isawaitable(result):
            async def later() -> Response | None:
                return _finish(connection, (user or True) if await result else None,
                               challenge)
            return later()
        return _finish(connection, (user or True) if result else None, challenge)

    return hook


def bearer_auth(
    tokens: Iterable[str] | Mapping[str, str] | None = None,
    *,
    check: Callable[[str], object] | None = None,
    realm: str = "tether",
    query_param: str | None = None,
) -> AuthHook:
    """Bearer-token authentication (RFC 6750) against ``tokens`` or a ``check`` function.

    ``tokens`` is a set of accepted tokens, or a mapping token -> name (the name goes
    to ``connection.username``).  ``check(token)`` (sync or async) returns a name, True,
    or a false value.  Browsers can't set headers on a WebSocket: ``query_param`` also
    accepts the token from the query string (``?access_token=...``), which ends up in
    access logs, so prefer short-lived tokens there.
    """
    if (tokens is None) == (check is None):
        raise TypeError("bearer_auth() takes tokens or check=, one of them")
    challenge = f'Bearer realm="{realm}"'
    table: list[tuple[bytes, str]] = []
    if tokens is not None:
        if isinstance(tokens, Mapping):
            table = [(_digest(t), name) for t, name in tokens.items()]
        else:
            table = [(_digest(t), "") for t in tokens]

    def token_of(request: Request) -> str | None:
        token = _authorization(request, "Bearer")
        if token is None and query_param is not None:
            from urllib.parse import parse_qs, urlsplit

            values = parse_qs(urlsplit(request.target).query).get(query_param, [])
            if len(values) == 1 and len(values[0]) <= _MAX_CREDENTIALS:
                token = values[0]
        return token

    def hook(connection: Any, request: Request) -> Any:
        token = token_of(request)
        if check is not None:
            if token is None:
                return _unauthorized(challenge)
            return _answer(connection, check(token), challenge)
        given = _digest(token if token is not None else "")
        found: str | bool = False
        for digest, name in table:  # every entry is compared: no early exit
            if hmac.compare_digest(given, digest):
                found = name or True
        return _finish(connection, found if token is not None else False, challenge)

    return hook


def callable_auth(
    check: Callable[[Any, Request], object],
    *,
    challenge: str = 'Bearer realm="tether"',
) -> AuthHook:
    """Authentication by a function of your own: ``check(connection, request)``.

    It returns (or, async, resolves to) a name or True to let the handshake go on, a
    false value for ``401``, or a :class:`~tether.Response` to send that answer
    instead.  Compare secrets in it with :func:`compare_secret`.
    """

    def finish(connection: Any, result: object) -> Response | None:
        if isinstance(result, Response):
            return result
        return _finish(connection, result, challenge)

    def hook(connection: Any, request: Request) -> Any:
        result = check(connection, request)
        if inspect.isawaitable(result):
            async def later() -> Response | None:
                return finish(connection, await result)
            return later()
        return finish(connection, result)

    return hook
