"""The ``tether`` command line, run as a real program against real servers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.certs import CertBundle
from tests.support.proxies import ProxyServer, free_port

ROOT = Path(__file__).resolve().parents[2]
ENV = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
for var in ("http_proxy", "https_proxy", "all_proxy", "ws_proxy", "wss_proxy",
            "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "WS_PROXY", "WSS_PROXY"):
    ENV.pop(var, None)


def tether(*args: str, stdin: str = "", env: dict[str, str] | None = None,
           ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tether.cli.main", *args], input=stdin,
                          capture_output=True, text=True, timeout=60, env=env or ENV, cwd=ROOT)


def _start_server(*args: str) -> tuple[subprocess.Popen[str], int, list[str]]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tether.cli.main", "serve", "--port", str(port), *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV, cwd=ROOT)
    assert proc.stdout is not None
    seen = []
    for _ in range(20):  # log lines may come first; the banner is printed once listening
        seen.append(proc.stdout.readline())
        if "server on" in seen[-1]:
            return proc, port, seen
    raise AssertionError(f"no banner from tether serve: {seen}")


@pytest.fixture
def echo_server() -> Iterator[int]:
    proc, port, _ = _start_server()
    yield port
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0


@pytest.fixture
def wss_server(tls_certs: CertBundle) -> Iterator[int]:
    proc, port, _ = _start_server("--certfile", str(tls_certs.server.cert),
                               "--keyfile", str(tls_certs.server.key))
    yield port
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0


def test_help_lists_every_command() -> None:
    result = tether("--help")
    assert result.returncode == 0
    for command in ("serve", "connect", "demo"):
        assert command in result.stdout


def test_connect_with_piped_input_prints_replies(echo_server: int) -> None:
    result = tether("connect", f"ws://127.0.0.1:{echo_server}/", stdin="hello\nworld\n")
    assert result.returncode == 0, result.stderr
    assert "< hello" in result.stdout and "< world" in result.stdout
    assert "connection closed: 1000" in result.stderr


def test_connect_refused_exits_1() -> None:
    result = tether("connect", f"ws://127.0.0.1:{free_port()}/")
    assert result.returncode == 1
    assert "could not connect" in result.stderr


def test_wss_untrusted_fails_then_insecure_and_cafile_work(
        wss_server: int, tls_certs: CertBundle) -> None:
    url = f"wss://localhost:{wss_server}/"
    refused = tether("connect", url, stdin="hi\n")
    assert refused.returncode == 1
    assert "certificate" in refused.stderr.lower()
    insecure = tether("connect", "--insecure", url, stdin="hi\n")
    assert insecure.returncode == 0, insecure.stderr
    assert "< hi" in insecure.stdout
    trusted = tether("connect", "--cafile", str(tls_certs.ca_file), url, stdin="hi\n")
    assert trusted.returncode == 0, trusted.stderr
    assert "< hi" in trusted.stdout


def test_connect_through_proxy_flag(echo_server: int, http_proxy: ProxyServer) -> None:
    url = f"ws://127.0.0.1:{echo_server}/"
    result = tether("connect", "--proxy", http_proxy.url, url, stdin="via proxy\n")
    assert result.returncode == 0, result.stderr
    assert "< via proxy" in result.stdout
    assert f"CONNECT 127.0.0.1:{echo_server}" in http_proxy.log_text()


def test_proxy_none_ignores_environment(echo_server: int) -> None:
    env = dict(ENV, ws_proxy=f"http://127.0.0.1:{free_port()}")  # nothing listens there
    url = f"ws://127.0.0.1:{echo_server}/"
    broken = tether("connect", url, stdin="x\n", env=env)
    assert broken.returncode == 1
    assert "proxy" in broken.stderr.lower()
    direct = tether("connect", "--proxy", "none", url, stdin="x\n", env=env)
    assert direct.returncode == 0, direct.stderr
    assert "< x" in direct.stdout


def test_serve_on_uvloop() -> None:
    proc, port, startup = _start_server("--uvloop")
    try:
        result = tether("connect", f"ws://127.0.0.1:{port}/", stdin="on uvloop\n")
        assert result.returncode == 0, result.stderr
        assert "< on uvloop" in result.stdout
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    assert any("event loop: uvloop" in line for line in startup), startup


def test_closed_output_pipe_ends_quietly(echo_server: int) -> None:
    """``tether connect URL | head -1``: no traceback when the reader goes away."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tether.cli.main", "connect", f"ws://127.0.0.1:{echo_server}/"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=ENV, cwd=ROOT)
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    proc.stdin.write("one\n")
    proc.stdin.flush()
    assert proc.stdout.readline() == "< one\n"
    proc.stdout.close()  # the reader is gone
    proc.stdin.write("two\nthree\n")
    proc.stdin.close()
    assert proc.wait(timeout=30) in (0, 141)
    assert "Traceback" not in proc.stderr.read()
