"""``tether connect`` through pipes: what a shell script sees (stdout lines, JSON, exit codes)."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.cli.cli_support import ThreadServer, tether
from tests.support.proxies import free_port
from tether.asyncio import ServerConnection


@pytest.fixture
def server() -> Iterator[ThreadServer]:
    with ThreadServer() as s:
        yield s


def json_lines(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines()]


def test_piped_lines_are_sent_and_replies_printed(server: ThreadServer) -> None:
    result = tether("connect", server.url, stdin="hello\nworld\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["< hello", "< world"]
    assert server.received == ["hello", "world"]
    assert "\x1b[" not in result.stdout + result.stderr  # no colours without a terminal
    assert "connection closed: 1000" in result.stderr
    assert server.closes == [(1000, "")]


def test_binary_commands_and_formats(server: ThreadServer) -> None:
    stdin = "/binary 00ff10\n/b64 aGk=\n"
    result = tether("connect", server.url, stdin=stdin)
    assert result.returncode == 0, result.stderr
    assert server.received == [b"\x00\xff\x10", b"hi"]
    assert result.stdout.splitlines() == ["< [binary, 3 bytes] 00ff10",
                                          "< [binary, 2 bytes] 6869"]
    b64 = tether("connect", "--binary-format", "base64", server.url, stdin=stdin)
    assert b64.stdout.splitlines() == ["< [binary, 3 bytes] AP8Q", "< [binary, 2 bytes] aGk="]


def test_bad_binary_and_unknown_commands_are_reported_not_sent(server: ThreadServer) -> None:
    result = tether("connect", server.url, stdin="/binary zz\n/b64 !!\n/frobnicate\nok\n")
    assert result.returncode == 0, result.stderr
    assert server.received == ["ok"]
    assert "/binary needs hex" in result.stderr
    assert "/b64 needs base64" in result.stderr
    assert "unknown command /frobnicate" in result.stderr


def test_double_slash_and_no_commands_send_lines_as_they_are(server: ThreadServer) -> None:
    result = tether("connect", server.url, stdin="//ping\n")
    assert server.received == ["/ping"]
    assert result.stdout.splitlines() == ["< /ping"]
    result = tether("connect", "--no-commands", server.url, stdin="/ping\n//x\n")
    assert server.received[1:] == ["/ping", "//x"]


def test_ping_command_prints_round_trip(server: ThreadServer) -> None:
    result = tether("connect", server.url, stdin="/ping hello\n")
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(r"pong: \d+\.\d{3} ms round trip", result.stdout.strip()), result.stdout
    assert server.received == []  # a ping is not a message
    # After lines, the ping waits for their replies: the output keeps the input's order.
    for _ in range(3):
        result = tether("connect", server.url, stdin="a\nb\n/ping\nc\n")
        out = result.stdout.splitlines()
        assert out[:2] == ["< a", "< b"] and out[2].startswith("pong: ") and out[3] == "< c"


def test_json_reports_every_event(server: ThreadServer) -> None:
    stdin = "hi\n/binary 00ff\n/ping abc\n/close 4000 done here\n"
    result = tether("connect", "--json", server.url, stdin=stdin)
    assert result.returncode == 0, result.stderr  # the user asked for 4000: no failure
    events = json_lines(result.stdout)
    # In a pipe, /ping waits for the replies to the lines before it: input order.
    assert [e["event"] for e in events] == ["open", "message", "message", "pong", "close"]
    assert all(isinstance(e["time"], float) for e in events)
    opened, text, binary, close = (e for e in events if e["event"] != "pong")
    (pong,) = (e for e in events if e["event"] == "pong")
    assert opened["url"] == server.url and opened["subprotocol"] is None
    assert (text["type"], text["data"]) == ("text", "hi")
    assert binary["type"] == "binary"
    assert base64.b64decode(binary["data"]) == b"\x00\xff"
    assert base64.b64decode(pong["data"]) == b"abc"
    assert pong["latency_ms"] >= 0
    assert (close["code"], close["reason"]) == (4000, "done here")
    assert server.closes == [(4000, "done here")]


def test_close_command_validates_the_code(server: ThreadServer) -> None:
    result = tether("connect", server.url, stdin="/close 1005\nstill open\n")
    assert "not a close code" in result.stderr
    assert server.received == ["still open"]
    assert result.returncode == 0


async def close_with_4001(ws: ServerConnection, server: ThreadServer) -> None:
    await ws.recv()
    await ws.close(4001, "go away")


def test_server_close_code_and_reason_are_printed_and_fail_the_exit_status() -> None:
    with ThreadServer(close_with_4001) as s:
        result = tether("connect", s.url, stdin="x\n")
        assert result.returncode == 1
        assert "connection closed: 4001 go away" in result.stderr
        as_json = tether("connect", "--json", s.url, stdin="x\n")
        assert as_json.returncode == 1
        close = json_lines(as_json.stdout)[-1]
        assert (close["event"], close["code"], close["reason"]) == ("close", 4001, "go away")


async def ping_then_echo(ws: ServerConnection, server: ThreadServer) -> None:
    async for message in ws:
        await ws.ping(b"are you there")
        await ws.send(message)


def test_incoming_pings_are_shown_on_request() -> None:
    with ThreadServer(ping_then_echo) as s:
        quiet = tether("connect", s.url, stdin="x\n")
        assert quiet.stdout == "< x\n"
        shown = tether("connect", "--show-ping-pong", s.url, stdin="x\n")
        assert shown.stdout.splitlines() == ["< ping 'are you there'", "< x"]
        as_json = json_lines(tether("connect", "--json", s.url, stdin="x\n").stdout)
        pings = [e for e in as_json if e["event"] == "ping"]
        assert [base64.b64decode(e["data"]) for e in pings] == [b"are you there"]


def test_execute_sends_each_message_and_exits(server: ThreadServer) -> None:
    result = tether("connect", "-x", "one", "--execute", "two", server.url, stdin="not read\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["< one", "< two"]
    assert server.received == ["one", "two"]


async def silent(ws: ServerConnection, server: ThreadServer) -> None:
    async for message in ws:
        server.received.append(message)


def test_execute_without_reply_exits_1() -> None:
    with ThreadServer(silent) as s:
        result = tether("connect", "-x", "anyone?", "--wait", "0.5", s.url)
        assert result.returncode == 1
        assert "no reply" in result.stderr
        assert s.received == ["anyone?"]


def test_timestamps_only_when_asked_in_a_pipe(server: ThreadServer) -> None:
    plain = tether("connect", server.url, stdin="a\n")
    assert plain.stdout == "< a\n"
    stamped = tether("connect", "-t", server.url, stdin="a\n")
    assert re.fullmatch(r"\d\d:\d\d:\d\d\.\d{3} < a\n", stamped.stdout), stamped.stdout


def test_headers_subprotocol_and_origin_are_sent() -> None:
    with ThreadServer(subprotocols=["chat"]) as s:
        result = tether("connect", "-H", "X-Token: abc", "--header", "X-Other:  2",
                        "-s", "superchat", "-s", "chat", "--origin", "https://example.com",
                        s.url, stdin="hi\n")
        assert result.returncode == 0, result.stderr
        assert "(subprotocol chat)" in result.stderr
        headers = s.requests[0].headers
        assert headers["X-Token"] == "abc"
        assert headers["X-Other"] == "2"
        assert headers["Origin"] == "https://example.com"
        assert "superchat" in headers["Sec-WebSocket-Protocol"]


def test_compression_flags() -> None:
    with ThreadServer() as s:
        for flags, offered in (([], True), (["--compress"], True), (["--no-compress"], False),
                               (["--no-compression"], False)):
            result = tether("connect", *flags, s.url, stdin="x\n")
            assert result.returncode == 0, result.stderr
            extensions = s.requests[-1].headers.get("Sec-WebSocket-Extensions") or ""
            assert ("permessage-deflate" in extensions) is offered, flags


async def send_big(ws: ServerConnection, server: ThreadServer) -> None:
    await ws.send("x" * 5000)
    await ws.wait_closed()


def test_max_size_refuses_larger_messages() -> None:
    with ThreadServer(send_big) as s:
        small = tether("connect", "--max-size", "1000", s.url, stdin="")
        assert small.returncode == 1
        assert "1009" in small.stderr
        assert "< x" not in small.stdout
        big = tether("connect", "--max-size", "10000", "--wait", "2", s.url, stdin="")
        assert big.returncode == 0, big.stderr
        assert big.stdout == "< " + "x" * 5000 + "\n"


def test_usage_errors_exit_2(server: ThreadServer) -> None:
    assert tether("connect", "-H", "no colon", server.url).returncode == 2
    assert tether("connect", "--binary-format", "octal", server.url).returncode == 2
    assert tether("connect").returncode == 2
    assert tether("connect", "--max-size", "-1", server.url).returncode == 2
    assert server.requests == []  # none of them connected


def test_refused_connection_exits_1_with_json_error() -> None:
    result = tether("connect", "--json", f"ws://127.0.0.1:{free_port()}/")
    assert result.returncode == 1
    event = json_lines(result.stdout)[0]
    assert event["event"] == "error" and "could not connect" in event["message"]


def test_server_closing_while_stdin_stays_open_ends_the_program() -> None:
    """``cat | tether connect``: the server goes away, the program must not hang on stdin."""
    import subprocess
    import sys

    from tests.cli.cli_support import ENV, ROOT

    with ThreadServer(close_with_4001) as s:
        proc = subprocess.Popen([sys.executable, "-m", "tether.cli.main", "connect", s.url],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=ENV, cwd=ROOT)
        assert proc.stdin is not None
        proc.stdin.write("bye\n")
        proc.stdin.flush()  # and stdin stays open
        try:
            assert proc.wait(timeout=20) == 1
        finally:
            proc.kill()
            proc.communicate()


def test_thread_server_helper_sees_the_close() -> None:
    # The recording server itself: a failure here would make the tests above meaningless.
    with ThreadServer() as s:
        async def client() -> None:
            from tether.asyncio import connect

            async with connect(s.url) as ws:
                await ws.send("direct")
                assert await ws.recv() == "direct"

        asyncio.run(client())
    assert s.received == ["direct"]
    assert s.closes == [(1000, "")]


def test_piped_close_waits_for_the_replies_to_what_was_sent(server: ThreadServer) -> None:
    # Replies that come after our close frame would be lost: /close in a pipe waits for
    # them first (up to --wait).
    result = tether("connect", server.url, stdin="a\nb\nc\n/close 4000 enough\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["< a", "< b", "< c"]
    assert server.closes == [(4000, "enough")]


def test_help_command_lists_the_commands(server: ThreadServer) -> None:
    result = tether("connect", server.url, stdin="/help\n")
    assert result.returncode == 0, result.stderr
    for command in ("/ping [PAYLOAD]", "/close [CODE [REASON]]", "/binary HEX", "/b64 BASE64"):
        assert command in result.stdout
    assert server.received == []
