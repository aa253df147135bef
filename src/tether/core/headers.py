"""Parsing and building the WebSocket-specific header values (RFC 6455 sections 4 and 9).

Every parser here walks its input once, character by character (no regular
expressions, so nothing can backtrack).
"""

from __future__ import annotations

from collections.abc import Sequence

from ..exceptions import InvalidHeader
from .extensions.base import ExtensionParameter

__all__ = [
    "build_extensions",
    "parse_extensions",
    "parse_token_list",
]

_TCHARS = frozenset("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


def _is_token(s: str) -> bool:
    return bool(s) and all(c in _TCHARS for c in s)


def parse_token_list(value: str, header: str) -> list[str]:
    """Split ``1#token`` (comma-separated, optional whitespace, empty items allowed)."""
    out: list[str] = []
    for item in value.split(","):
        item = item.strip(" \t")
        if not item:
            continue
        if not _is_token(item):
            raise InvalidHeader(header, value)
        out.append(item)
    return out


class _Cursor:
    __slots__ = ("pos", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def skip_ws(self) -> None:
        t, p = self.text, self.pos
        while p < len(t) and t[p] in " \t":
            p += 1
        self.pos = p

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def token(self) -> str:
        t, p = self.text, self.pos
        start = p
        while p < len(t) and t[p] in _TCHARS:
            p += 1
        self.pos = p
        return t[start:p]

    def quoted(self) -> str | None:
        """A quoted-string with backslash escapes; ``None`` if unterminated."""
        t, p = self.text, self.pos + 1
        out: list[str] = []
        while p < len(t):
            c = t[p]
            if c == '"':
                self.pos = p + 1
                return "".join(out)
            if c == "\\":
                p += 1
                if p >= len(t):
                    return None
                c = t[p]
            out.append(c)
            p += 1
        return None


def parse_extensions(
    values: Sequence[str], header: str = "Sec-WebSocket-Extensions"
) -> list[tuple[str, list[ExtensionParameter]]]:
    """Parse ``Sec-WebSocket-Extensions`` values into ``[(name, [(param, value)])]``.

    Grammar (section 9.1)::

        extension-list = 1#extension
        extension = extension-token *( ";" extension-param )
        extension-param = token [ "=" (token | quoted-string) ]

    "When using the quoted-string syntax variant, the value after quoted-string
    unescaping MUST conform to the 'token' ABNF."
    """
    result: list[tuple[str, list[ExtensionParameter]]] = []
    for value in values:
        cur = _Cursor(value)
        while True:
            cur.skip_ws()
            if cur.peek() == ",":
                cur.pos += 1
                continue
            if cur.peek() == "":
                break
            name = cur.token()
            if not name:
                raise InvalidHeader(header, value)
            params: list[ExtensionParameter] = []
            cur.skip_ws()
            while cur.peek() == ";":
                cur.pos += 1
                cur.skip_ws()
                pname = cur.token()
                if not pname:
                    raise InvalidHeader(header, value)
                cur.skip_ws()
                pvalue: str | None = None
                if cur.peek() == "=":
                    cur.pos += 1
                    cur.skip_ws()
                    if cur.peek() == '"':
                        pvalue = cur.quoted()
                        if pvalue is None or not _is_token(pvalue):
                            raise InvalidHeader(header, value)
                    else:
                        pvalue = cur.token()
                        if not pvalue:
                            raise InvalidHeader(header, value)
                    cur.skip_ws()
                params.append((pname, pvalue))
            result.append((name, params))
            if cur.peek() not in (",", ""):
                raise InvalidHeader(header, value)
    return result


def build_extensions(extensions: Sequence[tuple[str, Sequence[ExtensionParameter]]]) -> str:
    """Serialize ``[(name, [(param, value)])]`` for ``Sec-WebSocket-Extensions``."""
    return ", ".join(
        "; ".join([name] + [p if v is None else f"{p}={v}" for p, v in params])
        for name, params in extensions
    )
