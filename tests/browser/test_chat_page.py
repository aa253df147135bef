"""The chat page of the Qt-style examples (examples/chat.html + simple_chat.py) in Chromium."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.conftest import ENV, ROOT
from tests.support.redis_server import free_port


@pytest.fixture
def chat_server() -> Iterator[int]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "examples" / "simple_chat.py"), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "listening" in line, line
        yield port
    finally:
        proc.terminate()
        proc.wait(15)
        if proc.stdout:
            proc.stdout.close()


def join(page: Any, port: int, name: str) -> None:
    page.goto((ROOT / "examples" / "chat.html").as_uri())
    page.fill("#serverURL", f"ws://127.0.0.1:{port}")
    page.fill("#userName", name)
    page.click("#connectButton")
    page.wait_for_function(
        "n => document.getElementById('chatLog').value.includes('Connected as ' + n)", arg=name)


def test_two_browser_tabs_chat(browser: Any, chat_server: int) -> None:
    alice, bob = browser.new_page(), browser.new_page()
    try:
        for pg in (alice, bob):
            pg.set_default_timeout(30_000)
        join(alice, chat_server, "alice")
        join(bob, chat_server, "bob")
        alice.fill("#message", "hello bob")
        alice.click("#sendButton")
        bob.wait_for_function(
            "document.getElementById('chatLog').value.includes('alice: hello bob')")
        bob.fill("#message", "hi alice")
        bob.click("#sendButton")
        alice.wait_for_function(
            "document.getElementById('chatLog').value.includes('bob: hi alice')")
        # The server relays to the others only: nobody hears themselves twice.
        assert alice.input_value("#chatLog").count("alice: hello bob") == 1
    finally:
        alice.close()
        bob.close()
