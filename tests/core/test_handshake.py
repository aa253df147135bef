"""The opening handshake, both roles, without I/O."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from tether.core.extensions.base import (
    ClientExtensionFactory,
    Extension,
    ExtensionParameter,
    ServerExtensionFactory,
)
from tether.core.frames import Frame
from tether.core.handshake import (
    ClientHandshake,
    ServerHandshake,
    accept_key,
    generate_key,
    reject,
)
from tether.core.http11 import Headers, Request, Response, build_response, parse_response
from tether.core.uri import parse_uri
from tether.exceptions import (
    InvalidHandshake,
    InvalidHeader,
    InvalidMessage,
    InvalidOrigin,
    InvalidStatus,
    InvalidUpgrade,
    NegotiationError,
)

KEY = "dGhlIHNhbXBsZSBub25jZQ=="


def test_accept_key_rfc_example() -> None:
    # RFC 6455 section 1.3: SHA-1 of the key and the GUID, base64-encoded.
    assert accept_key(KEY) == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_generate_key_is_16_random_bytes() -> None:
    import base64

    keys = {generate_key() for _ in range(50)}
    assert len(keys) == 50
    assert all(len(base64.b64decode(k)) == 16 for k in keys)


# ------------------------------------------------------------------ server side


def upgrade_request(*, drop: Sequence[str] = (), **overrides: str | list[str]) -> Request:
    """A valid upgrade request; ``overrides`` replace fields (a list repeats one)."""
    fields: dict[str, str | list[str]] = {
        "Host": "server.example.com",
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": KEY,
        "Sec-WebSocket-Version": "13",
    }
    for name, value in overrides.items():
        fields[name.replace("_", "-")] = value
    h = Headers()
    for name, value in fields.items():
        if name in drop:
            continue
        for v in value if isinstance(value, list) else [value]:
            h.add(name, v)
    return Request("GET", "/chat", h)


def server_error(server: ServerHandshake, request: Request) -> tuple[InvalidHandshake, Response]:
    with pytest.raises(InvalidHandshake) as info:
        server.accept(request)
    return info.value, ServerHandshake.error_response(info.value)


def test_server_accepts_valid_request() -> None:
    response, negotiated = ServerHandshake().accept(upgrade_request())
    assert response.status == 101
    assert response.headers["Sec-WebSocket-Accept"] == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    assert response.headers["Upgrade"] == "websocket"
    assert response.headers["Connection"] == "Upgrade"
    assert "Sec-WebSocket-Protocol" not in response.headers
    assert "Sec-WebSocket-Extensions" not in response.headers
    assert negotiated.subprotocol is None
    assert negotiated.extensions == []


def test_server_header_can_be_removed() -> None:
    response, _ = ServerHandshake(server_header=None).accept(upgrade_request())
    assert "Server" not in response.headers
    response, _ = ServerHandshake(server_header="me/1").accept(upgrade_request())
    assert response.headers["Server"] == "me/1"


@pytest.mark.parametrize(
    "overrides",
    [
        {"Connection": "keep-alive, Upgrade"},
        {"Connection": "keep-alive", "Connection_": "upgrade"},
        {"Upgrade": "WebSocket"},
        {"Upgrade": "h2c, websocket"},
        {"Connection": "UPGRADE"},
    ],
)
def test_server_accepts_token_lists(overrides: dict[str, str]) -> None:
    fixed: dict[str, str | list[str]] = {}
    for name, value in overrides.items():
        name = name.rstrip("_")
        if name in fixed:
            prev = fixed[name]
            fixed[name] = [*(prev if isinstance(prev, list) else [prev]), value]
        else:
            fixed[name] = value
    response, _ = ServerHandshake().accept(upgrade_request(**fixed))
    assert response.status == 101


@pytest.mark.parametrize("version", ["8", "14", "13, 8", ""])
def test_wrong_version_is_426_with_supported_version(version: str) -> None:
    exc, response = server_error(ServerHandshake(), upgrade_request(Sec_WebSocket_Version=version))
    assert isinstance(exc, InvalidHeader)
    assert response.status == 426
    assert response.headers["Sec-WebSocket-Version"] == "13"


def test_missing_version_is_426() -> None:
    _, response = server_error(ServerHandshake(), upgrade_request(drop=["Sec-WebSocket-Version"]))
    assert response.status == 426
    assert response.headers["Sec-WebSocket-Version"] == "13"


def test_duplicate_version_is_426() -> None:
    _, response = server_error(
        ServerHandshake(), upgrade_request(Sec_WebSocket_Version=["13", "13"])
    )
    assert response.status == 426


def test_missing_host_is_400() -> None:
    exc, response = server_error(ServerHandshake(), upgrade_request(drop=["Host"]))
    assert isinstance(exc, InvalidHeader) and exc.name == "Host"
    assert response.status == 400


def test_duplicate_host_is_400() -> None:
    exc, response = server_error(ServerHandshake(), upgrade_request(Host=["a", "b"]))
    assert isinstance(exc, InvalidHeader) and exc.name == "Host"
    assert response.status == 400


def test_duplicate_key_is_400() -> None:
    exc, response = server_error(
        ServerHandshake(), upgrade_request(Sec_WebSocket_Key=[KEY, generate_key()])
    )
    assert isinstance(exc, InvalidHeader) and exc.name == "Sec-WebSocket-Key"
    assert response.status == 400


def test_missing_key_is_400() -> None:
    exc, response = server_error(ServerHandshake(), upgrade_request(drop=["Sec-WebSocket-Key"]))
    assert isinstance(exc, InvalidHeader) and exc.name == "Sec-WebSocket-Key"
    assert response.status == 400


@pytest.mark.parametrize(
    "key",
    [
        "dGhlIHNhbXBsZSBub25j",  # 15 bytes
        "dGhlIHNhbXBsZSBub25jZQA=",  # 17 bytes
        "not base64!",
        "",
        "dGhlIHNhbXBsZSBub25jZQ",  # padding missing
        "d\xe9hlIHNhbXBsZSBub25jZQ==",
    ],
)
def test_bad_key_is_400(key: str) -> None:
    exc, response = server_error(ServerHandshake(), upgrade_request(Sec_WebSocket_Key=key))
    assert isinstance(exc, InvalidHeader) and exc.name == "Sec-WebSocket-Key"
    assert response.status == 400


@pytest.mark.parametrize("name", ["Upgrade", "Connection"])
def test_missing_upgrade_tokens_are_refused(name: str) -> None:
    exc, response = server_error(ServerHandshake(), upgrade_request(drop=[name]))
    assert isinstance(exc, InvalidUpgrade)
    assert response.status == 426
    assert response.headers["Upgrade"] == "websocket"


@pytest.mark.parametrize(
    "overrides",
    [
        {"Connection": "keep-alive"},
        {"Upgrade": "h2c"},
        {"Upgrade": "websocket2"},
        {"Connection": "close"},
        {"Connection": "upgrade-insecure"},
    ],
)
def test_wrong_upgrade_tokens_are_refused(overrides: dict[str, str]) -> None:
    exc, response = server_error(ServerHandshake(), upgrade_request(**overrides))
    assert isinstance(exc, InvalidUpgrade)
    assert response.status == 426


def test_method_must_be_get() -> None:
    request = upgrade_request()
    request.method = "POST"
    exc, response = server_error(ServerHandshake(), request)
    assert isinstance(exc, InvalidMessage)
    assert response.status == 405
    assert response.headers["Allow"] == "GET"


def test_http_10_upgrade_is_refused() -> None:
    request = upgrade_request()
    request.version = "HTTP/1.0"
    _, response = server_error(ServerHandshake(), request)
    assert response.status == 400


@pytest.mark.parametrize("overrides", [{"Content_Length": "5"}, {"Transfer_Encoding": "chunked"}])
def test_request_with_body_is_refused(overrides: dict[str, str]) -> None:
    _, response = server_error(ServerHandshake(), upgrade_request(**overrides))
    assert response.status == 400


def test_error_response_is_a_closing_plain_text_page() -> None:
    _, response = server_error(ServerHandshake(), upgrade_request(drop=["Host"]))
    assert response.headers["Connection"] == "close"
    assert response.headers["Content-Type"].startswith("text/plain")
    assert b"Host" in response.body
    data = build_response(response)
    parsed = parse_response(data)
    assert parsed is not None
    assert parsed[0].status == 400
    assert data[parsed[1] :] == response.body


def test_reject_helper() -> None:
    response = reject(503, "busy", {"Retry-After": "5"})
    assert response.status == 503
    assert response.reason == "Service Unavailable"
    assert response.headers["Retry-After"] == "5"
    assert response.body == b"busy\n"
    assert reject(599, "unknown").reason not in ("", "OK")


# ------------------------------------------------------------------ origins

ALLOWED = ["https://example.com", "http://localhost:8000"]


@pytest.mark.parametrize("origin", ["https://example.com", "http://localhost:8000"])
def test_allowed_origin(origin: str) -> None:
    response, _ = ServerHandshake(origins=ALLOWED).accept(upgrade_request(Origin=origin))
    assert response.status == 101


@pytest.mark.parametrize(
    "origin",
    [
        "https://example.com.evil.com",
        "https://evil.com/https://example.com",
        "https://evilexample.com",
        "http://example.com",  # scheme matters
        "https://example.com:8443",  # port matters
        "http://localhost:8000.evil.com",
        "http://localhost",
        "https://example.co",
        "null",
        "",
    ],
)
def test_origin_not_in_allow_list_is_403(origin: str) -> None:
    exc, response = server_error(ServerHandshake(origins=ALLOWED), upgrade_request(Origin=origin))
    assert isinstance(exc, InvalidOrigin)
    assert response.status == 403


def test_missing_origin_is_403_unless_none_is_allowed() -> None:
    _, response = server_error(ServerHandshake(origins=ALLOWED), upgrade_request())
    assert response.status == 403
    response, _ = ServerHandshake(origins=[*ALLOWED, None]).accept(upgrade_request())
    assert response.status == 101


def test_two_origins_are_403() -> None:
    _, response = server_error(
        ServerHandshake(origins=ALLOWED), upgrade_request(Origin=["https://example.com"] * 2)
    )
    assert response.status == 403


def test_no_allow_list_accepts_any_origin() -> None:
    response, _ = ServerHandshake().accept(upgrade_request(Origin="https://anything.example"))
    assert response.status == 101


# ------------------------------------------------------------------ subprotocols


@pytest.mark.parametrize(
    "server_protocols,offer,chosen",
    [
        (["chat"], "chat", "chat"),
        (["chat", "superchat"], "superchat, chat", "chat"),  # server preference
        (["superchat"], "chat, superchat", "superchat"),
        (["v2"], "chat", None),
        ([], "chat", None),
        (["chat"], None, None),
    ],
)
def test_server_subprotocol_negotiation(
    server_protocols: list[str], offer: str | None, chosen: str | None
) -> None:
    request = upgrade_request(**({"Sec_WebSocket_Protocol": offer} if offer else {}))
    response, negotiated = ServerHandshake(subprotocols=server_protocols).accept(request)
    assert negotiated.subprotocol == chosen
    assert response.headers.get("Sec-WebSocket-Protocol") == chosen


def test_server_subprotocol_offer_over_several_fields() -> None:
    request = upgrade_request(Sec_WebSocket_Protocol=["a", "b, c"])
    _, negotiated = ServerHandshake(subprotocols=["c"]).accept(request)
    assert negotiated.subprotocol == "c"


def test_select_subprotocol_callback() -> None:
    seen: list[Sequence[str]] = []

    def select(offered: Sequence[str]) -> str | None:
        seen.append(offered)
        return offered[-1] if offered else None

    server = ServerHandshake(select_subprotocol=select)
    _, negotiated = server.accept(upgrade_request(Sec_WebSocket_Protocol="a, b"))
    assert negotiated.subprotocol == "b"
    assert seen == [["a", "b"]]


def test_select_subprotocol_must_pick_an_offered_one() -> None:
    server = ServerHandshake(select_subprotocol=lambda offered: "not-offered")
    exc, response = server_error(server, upgrade_request(Sec_WebSocket_Protocol="a"))
    assert isinstance(exc, NegotiationError)
    assert response.status == 500


def test_invalid_subprotocol_offer_is_400() -> None:
    _, response = server_error(
        ServerHandshake(subprotocols=["a"]), upgrade_request(Sec_WebSocket_Protocol="a b")
    )
    assert response.status == 400


# ------------------------------------------------------------------ client side


def client(**kwargs: object) -> ClientHandshake:
    return ClientHandshake(parse_uri("ws://example.com:8000/chat?x=1"), **kwargs)  # type: ignore[arg-type]


def answer(handshake: ClientHandshake, **overrides: str | list[str] | None) -> Response:
    fields: dict[str, str | list[str] | None] = {
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Accept": accept_key(handshake.key),
    }
    for name, value in overrides.items():
        fields[name.replace("_", "-")] = value
    h = Headers()
    for name, value in fields.items():
        if value is None:
            continue
        for v in value if isinstance(value, list) else [value]:
            h.add(name, v)
    return Response(101, "Switching Protocols", h)


def test_client_request() -> None:
    hs = client(origin="https://example.com", subprotocols=["chat", "superchat"])
    req = hs.request
    assert req.method == "GET"
    assert req.target == "/chat?x=1"
    h = req.headers
    assert h["Host"] == "example.com:8000"
    assert h["Upgrade"] == "websocket"
    assert h["Connection"] == "Upgrade"
    assert h["Sec-WebSocket-Key"] == hs.key
    assert h["Sec-WebSocket-Version"] == "13"
    assert h["Origin"] == "https://example.com"
    assert h["Sec-WebSocket-Protocol"] == "chat, superchat"
    assert h["User-Agent"].startswith("tether/")
    # What the client builds, the server accepts.
    response, negotiated = ServerHandshake(subprotocols=["superchat"]).accept(req)
    assert hs.process_response(response).subprotocol == "superchat" == negotiated.subprotocol


def test_client_request_options() -> None:
    hs = ClientHandshake(
        parse_uri("ws://u:p@h/"),
        user_agent_header=None,
        additional_headers={"X-Token": "t", "Host": "other"},
    )
    assert "User-Agent" not in hs.request.headers
    assert hs.request.headers["Authorization"] == "Basic dTpw"
    assert hs.request.headers.get_all("Host") == ["other"]
    assert hs.request.headers["X-Token"] == "t"


@pytest.mark.parametrize("bad", ["", "a b", "a,b", 'a"'])
def test_client_refuses_invalid_subprotocol_names(bad: str) -> None:
    with pytest.raises(ValueError):
        client(subprotocols=[bad])


def test_client_accepts_valid_answer() -> None:
    hs = client()
    negotiated = hs.process_response(answer(hs))
    assert negotiated.subprotocol is None
    assert negotiated.extensions == []


def test_client_accepts_token_lists_in_answer() -> None:
    hs = client()
    hs.process_response(answer(hs, Connection="keep-alive, upgrade", Upgrade="WebSocket"))


@pytest.mark.parametrize(
    "accept",
    [None, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", "", "garbage"],
)
def test_client_rejects_bad_accept(accept: str | None) -> None:
    hs = client()
    with pytest.raises(InvalidHeader) as info:
        hs.process_response(answer(hs, Sec_WebSocket_Accept=accept))
    assert info.value.name == "Sec-WebSocket-Accept"


def test_client_rejects_two_accepts() -> None:
    hs = client()
    good = accept_key(hs.key)
    with pytest.raises(InvalidHeader):
        hs.process_response(answer(hs, Sec_WebSocket_Accept=[good, good]))


@pytest.mark.parametrize(
    "overrides",
    [{"Upgrade": None}, {"Upgrade": "h2c"}, {"Connection": None}, {"Connection": "keep-alive"}],
)
def test_client_rejects_bad_upgrade(overrides: dict[str, str | None]) -> None:
    hs = client()
    with pytest.raises(InvalidUpgrade):
        hs.process_response(answer(hs, **overrides))


def test_client_rejects_non_101() -> None:
    hs = client()
    response = Response(403, "Forbidden", Headers([("X", "y")]), b"go away")
    with pytest.raises(InvalidStatus) as info:
        hs.process_response(response)
    assert info.value.status == 403
    assert info.value.body == b"go away"
    assert info.value.headers == [("X", "y")]


def test_client_rejects_unexpected_subprotocol() -> None:
    hs = client()
    with pytest.raises(NegotiationError):
        hs.process_response(answer(hs, Sec_WebSocket_Protocol="chat"))


def test_client_rejects_subprotocol_it_did_not_offer() -> None:
    hs = client(subprotocols=["chat"])
    with pytest.raises(NegotiationError):
        hs.process_response(answer(hs, Sec_WebSocket_Protocol="superchat"))


def test_client_rejects_several_subprotocols() -> None:
    hs = client(subprotocols=["a", "b"])
    with pytest.raises(NegotiationError):
        hs.process_response(answer(hs, Sec_WebSocket_Protocol="a, b"))
    with pytest.raises(NegotiationError):
        hs.process_response(answer(hs, Sec_WebSocket_Protocol=["a", "b"]))


def test_client_accepts_offered_subprotocol() -> None:
    hs = client(subprotocols=["a", "b"])
    assert hs.process_response(answer(hs, Sec_WebSocket_Protocol="b")).subprotocol == "b"


def test_client_rejects_unexpected_extension() -> None:
    hs = client()
    with pytest.raises(NegotiationError):
        hs.process_response(answer(hs, Sec_WebSocket_Extensions="permessage-deflate"))


def test_client_rejects_malformed_extension_header() -> None:
    hs = client()
    with pytest.raises(InvalidHeader):
        hs.process_response(answer(hs, Sec_WebSocket_Extensions="a;;"))


# ------------------------------------------------------------------ extension negotiation


class NoOp(Extension):
    name = "x-noop"

    def __init__(self, params: Sequence[ExtensionParameter]) -> None:
        self.params = list(params)

    def decode(self, frame: Frame, *, max_size: int | None = None) -> Frame:
        return frame

    def encode(self, frame: Frame, *, compress: bool = True) -> Frame:
        return frame


class NoOpClientFactory(ClientExtensionFactory):
    name = "x-noop"

    def get_request_params(self) -> list[ExtensionParameter]:
        return [("level", "1")]

    def process_response_params(
        self, params: Sequence[ExtensionParameter], accepted: Sequence[Extension]
    ) -> Extension:
        if any(p != "level" for p, _ in params):
            raise NegotiationError("Sec-WebSocket-Extensions", "x-noop")
        return NoOp(params)


class NoOpServerFactory(ServerExtensionFactory):
    name = "x-noop"

    def process_request_params(
        self, params: Sequence[ExtensionParameter], accepted: Sequence[Extension]
    ) -> tuple[list[ExtensionParameter], Extension]:
        if ("level", "1") not in params:
            raise NegotiationError("Sec-WebSocket-Extensions", "x-noop")
        return list(params), NoOp(params)


def test_extension_negotiation_both_roles() -> None:
    hs = client(extensions=[NoOpClientFactory()])
    assert hs.request.headers["Sec-WebSocket-Extensions"] == "x-noop; level=1"
    response, negotiated = ServerHandshake(extensions=[NoOpServerFactory()]).accept(hs.request)
    assert response.headers["Sec-WebSocket-Extensions"] == "x-noop; level=1"
    assert [e.name for e in negotiated.extensions] == ["x-noop"]
    client_side = hs.process_response(response)
    assert [e.name for e in client_side.extensions] == ["x-noop"]


def test_server_declines_unacceptable_offer_and_tries_next() -> None:
    request = upgrade_request(Sec_WebSocket_Extensions="x-noop; level=2, x-noop; level=1")
    response, negotiated = ServerHandshake(extensions=[NoOpServerFactory()]).accept(request)
    assert response.headers["Sec-WebSocket-Extensions"] == "x-noop; level=1"
    assert len(negotiated.extensions) == 1


def test_server_ignores_unknown_extensions() -> None:
    request = upgrade_request(Sec_WebSocket_Extensions="x-unknown, x-noop; level=2")
    response, negotiated = ServerHandshake(extensions=[NoOpServerFactory()]).accept(request)
    assert "Sec-WebSocket-Extensions" not in response.headers
    assert negotiated.extensions == []


def test_client_rejects_extension_response_its_factory_refuses() -> None:
    hs = client(extensions=[NoOpClientFactory()])
    with pytest.raises(NegotiationError):
        hs.process_response(answer(hs, Sec_WebSocket_Extensions="x-noop; other=1"))
