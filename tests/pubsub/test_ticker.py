"""``tether demo`` (the stock ticker) and the three example clients, as subprocesses."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.pubsub.test_redis import ENV
from tests.support.redis_server import free_port

ROOT = Path(__file__).resolve().parents[2]
GUARD = 60.0


@pytest.fixture
def demo() -> Iterator[int]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tether.cli.main", "demo", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert f"open http://127.0.0.1:{port}/ in a browser" in line, line
        yield port
    finally:
        proc.terminate()
        proc.wait(15)
        if proc.stdout:
            proc.stdout.close()


def test_demo_serves_the_pages(demo: int) -> None:
    with urllib.request.urlopen(f"http://127.0.0.1:{demo}/", timeout=GUARD) as r:
        assert b"tether stock ticker" in r.read()
    with urllib.request.urlopen(f"http://127.0.0.1:{demo}/echo", timeout=GUARD) as r:
        assert b"WebSocket" in r.read()
    with urllib.request.urlopen(f"http://127.0.0.1:{demo}/healthz", timeout=GUARD) as r:
        assert r.read() == b"ok\n"


@pytest.mark.parametrize("flavour", ["asyncio", "blocking", "qt_style"])
def test_example_clients_print_price_changes(demo: int, flavour: str) -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / f"ticker_client_{flavour}.py"),
         "--url", f"ws://127.0.0.1:{demo}/", "--count", "4", "AAPL", "TSLA"],
        capture_output=True, text=True, env=ENV, timeout=GUARD)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "subscribed to AAPL, TSLA"
    pattern = r"(AAPL|TSLA)\s+\d+\.\d\d\s+[+-]\d+\.\d\d"
    prices = [ln for ln in lines[1:] if re.fullmatch(pattern, ln)]
    assert len(prices) == 4, lines


def test_demo_reads_a_jsonlines_feed(tmp_path: Path) -> None:
    feed = tmp_path / "ticks.jsonl"
    feed.write_text('{"symbol": "ACME", "price": 10.5}\nACME,10.75\n'
                    '{"symbol": "ACME", "price": 10.75}\n')
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tether.cli.main", "demo", "--port", str(port),
         "--feed", str(feed)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV)
    try:
        assert proc.stdout is not None
        assert "open http" in proc.stdout.readline()
        out = subprocess.run(
            [sys.executable, str(ROOT / "examples" / "ticker_client_asyncio.py"),
             "--url", f"ws://127.0.0.1:{port}/", "--count", "1", "ACME"],
            capture_output=True, text=True, env=ENV, timeout=GUARD)
        # The feed ended; the retained (latest) price is what a new subscriber gets.
        assert out.returncode == 0, out.stderr
        assert re.search(r"ACME\s+10\.75\s+\+0\.25", out.stdout), out.stdout
    finally:
        proc.terminate()
        proc.wait(15)
        if proc.stdout:
            proc.stdout.close()


def test_workers_need_redis() -> None:
    out = subprocess.run([sys.executable, "-m", "tether.cli.main", "demo", "--workers", "2"],
                         capture_output=True, text=True, env=ENV, timeout=GUARD)
    assert out.returncode == 2 and "--redis" in out.stderr


@pytest.mark.slow
def test_demo_bridges_an_http_price_endpoint() -> None:
    import http.server
    import threading

    prices = iter([10.0, 10.5, 11.0] + [11.0] * 10_000)

    class Prices(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"WIDGET": next(prices)}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Prices)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tether.cli.main", "demo", "--port", str(port),
         "--feed-url", f"http://127.0.0.1:{httpd.server_address[1]}/"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV)
    try:
        assert proc.stdout is not None
        assert "open http" in proc.stdout.readline()
        out = ""
        # The symbol is known once the first poll answered: retry until subscribed.
        while "WIDGET" not in out:
            out = subprocess.run(
                [sys.executable, str(ROOT / "examples" / "ticker_client_asyncio.py"),
                 "--url", f"ws://127.0.0.1:{port}/", "--count", "1", "WIDGET"],
                capture_output=True, text=True, env=ENV, timeout=GUARD).stdout
        assert re.search(r"WIDGET\s+1[01]\.\d\d", out), out
    finally:
        proc.terminate()
        proc.wait(15)
        if proc.stdout:
            proc.stdout.close()
        httpd.shutdown()
