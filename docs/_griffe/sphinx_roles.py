"""A griffe extension for the reference pages: reST in tether's docstrings, as Markdown.

tether's docstrings are written in reST, as the code's readers see them in an editor
(``:class:`Hub```, ``:mod:`tether.core```, a paragraph ending in ``::`` before a literal
block).  mkdocstrings renders docstrings as Markdown, so this turns the roles into code
spans (``~a.b.C`` shows as ``C``, ``:rfc:`6455``` as RFC 6455) and ``text::`` into
``text:``.  It changes the page, never the source.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(mod|class|func|meth|attr|exc|data|obj|const|ref|rfc|pep):`([^`]+)`")
LITERAL = re.compile(r"(\S)::[ \t]*$", re.M)
BARE_LITERAL = re.compile(r"^[ \t]*::[ \t]*$", re.M)


def _role(match: re.Match[str]) -> str:
    kind, text = match.groups()
    if kind == "rfc":
        return f"RFC {text}"
    if kind == "pep":
        return f"PEP {text}"
    label = re.fullmatch(r"(.*?)\s*<(.+)>", text)
    if label:
        text = label.group(1)
    elif text.startswith("~"):
        text = text[1:].rsplit(".", 1)[-1]
    return f"`{text}`"


def convert(text: str) -> str:
    text = ROLE.sub(_role, text)
    text = BARE_LITERAL.sub("", text)
    return LITERAL.sub(r"\1:", text)


class SphinxRoles(griffe.Extension):
    """Rewrite each docstring once, when its object is loaded."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = convert(obj.docstring.value)
