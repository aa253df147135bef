"""WebSocket header values: token lists and Sec-WebSocket-Extensions."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tether.core.headers import build_extensions, parse_extensions, parse_token_list
from tether.exceptions import InvalidHeader


@pytest.mark.parametrize(
    "value,tokens",
    [
        ("Upgrade", ["Upgrade"]),
        ("keep-alive, Upgrade", ["keep-alive", "Upgrade"]),
        (" a ,\tb,,c ,", ["a", "b", "c"]),
        ("", []),
        (",", []),
    ],
)
def test_parse_token_list(value: str, tokens: list[str]) -> None:
    assert parse_token_list(value, "Connection") == tokens


@pytest.mark.parametrize("value", ["a b", "a;b", '"quoted"', "a, b c", "caf\xe9"])
def test_parse_token_list_rejects_non_tokens(value: str) -> None:
    with pytest.raises(InvalidHeader) as info:
        parse_token_list(value, "Connection")
    assert info.value.name == "Connection"


@pytest.mark.parametrize(
    "values,parsed",
    [
        (["permessage-deflate"], [("permessage-deflate", [])]),
        (
            ["permessage-deflate; client_max_window_bits"],
            [("permessage-deflate", [("client_max_window_bits", None)])],
        ),
        (
            ["permessage-deflate ; server_max_window_bits = 10 ; client_no_context_takeover"],
            [
                (
                    "permessage-deflate",
                    [("server_max_window_bits", "10"), ("client_no_context_takeover", None)],
                )
            ],
        ),
        (
            ['foo; bar="baz", permessage-deflate', "x-ext"],
            [("foo", [("bar", "baz")]), ("permessage-deflate", []), ("x-ext", [])],
        ),
        (['a; b="\\c"'], [("a", [("b", "c")])]),
        ([", , a ,"], [("a", [])]),
        ([], []),
    ],
)
def test_parse_extensions(values: list[str], parsed: list[object]) -> None:
    assert parse_extensions(values) == parsed


@pytest.mark.parametrize(
    "value",
    [
        "a;",  # parameter without a name
        "a; =1",
        "a; b=",  # empty value
        'a; b="unterminated',
        'a; b="not a token"',  # quoted values must unescape to a token
        'a; b="\\',
        "a b",  # two tokens without a separator
        "a; b=1 c",
        ";a",
        "a; b==1",
    ],
)
def test_parse_extensions_rejects(value: str) -> None:
    with pytest.raises(InvalidHeader):
        parse_extensions([value])


def test_build_extensions() -> None:
    built = build_extensions(
        [
            (
                "permessage-deflate",
                [("client_max_window_bits", None), ("server_max_window_bits", "10")],
            ),
            ("x", []),
        ]
    )
    assert built == "permessage-deflate; client_max_window_bits; server_max_window_bits=10, x"


_tok = st.text("abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=12)


@given(
    st.lists(st.tuples(_tok, st.lists(st.tuples(_tok, st.none() | _tok), max_size=3)), max_size=4)
)
def test_extensions_round_trip(exts: list[tuple[str, list[tuple[str, str | None]]]]) -> None:
    assert parse_extensions([build_extensions(exts)]) == exts


@given(st.text(max_size=60))
def test_parse_extensions_never_crashes(value: str) -> None:
    # Any input either parses or raises InvalidHeader: nothing else escapes.
    with contextlib.suppress(InvalidHeader):
        parse_extensions([value])
