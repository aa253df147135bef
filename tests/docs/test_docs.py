"""The documentation site builds without warnings, and every code sample in it runs.

- ``mkdocs build --strict`` (mkdocs.yml at the root) succeeds and prints no warning;
- every ``python`` block in ``docs/**/*.md`` is an include of a sample file
  (``--8<-- "docs/examples/NAME.py"`` or ``"...py:SECTION"``), never inline code;
- every sample in ``docs/examples/`` runs here as a program, against real servers on
  127.0.0.1, and prints what the pages say.  ``clients_*`` and ``cli_*`` samples are
  run by ``test_client_samples.py`` and ``test_cli_samples.py``.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser import conftest as browser_support
from tests.support.certs import CertBundle
from tests.support.proxies import ProxyServer
from tests.support.redis_server import RedisServer, redis_server

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
EXAMPLES = DOCS / "examples"
#: Samples that other test modules run (docs/clients.md, docs/cli.md).
OTHERS = ("clients_", "cli_")
TIMEOUT = 60
ENV = dict(os.environ, PYTHONPATH=os.pathsep.join(
    p for p in (str(ROOT / "src"), os.environ.get("PYTHONPATH")) if p))
for _name in ("http_proxy", "https_proxy", "all_proxy", "ws_proxy", "wss_proxy",
              "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "WS_PROXY", "WSS_PROXY"):
    ENV.pop(_name, None)

FENCE = re.compile(r"^(`{3,}|~{3,})[ \t]*([^\s`{]*)[^\n]*\n(.*?)^\1[ \t]*$", re.M | re.S)
INCLUDE = re.compile(r'^--8<-- "((?:docs/)?examples/[\w./-]+\.(?:py|html))(?::([\w-]+))?"$')
PYTHON_LANGS = {"python", "py", "python3", "py3", "pycon"}

redis = redis_server  # the fixtures
browser = browser_support.browser
page = browser_support.page


def run(script: str, *args: str, env: dict[str, str] | None = None,
        timeout: float = TIMEOUT) -> list[str]:
    """Run a sample to its end; it must exit 0.  Returns its stdout lines."""
    done = subprocess.run([sys.executable, str(EXAMPLES / script), *args], cwd=ROOT,
                          env=env or ENV, capture_output=True, text=True, timeout=timeout,
                          check=False)
    assert done.returncode == 0, f"{script} exited {done.returncode}:\n{done.stderr}"
    return done.stdout.splitlines()


class Background:
    """A sample that serves until it is interrupted; stdout read line by line."""

    def __init__(self, script: str, *args: str) -> None:
        self.script = script
        self.proc = subprocess.Popen([sys.executable, str(EXAMPLES / script), *args],
                                     cwd=ROOT, env=ENV, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def expect(self, pattern: str) -> re.Match[str]:
        while True:
            try:
                line = self.lines.get(timeout=TIMEOUT)
            except queue.Empty:
                pytest.fail(f"{self.script}: no line matching {pattern!r}")
            if line is None:
                stderr = self.proc.stderr.read() if self.proc.stderr else ""
                pytest.fail(f"{self.script} ended before {pattern!r}:\n{stderr}")
            match = re.search(pattern, line)
            if match:
                return match

    def interrupt(self) -> int:
        """Ctrl-C; returns the exit status."""
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(TIMEOUT)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(TIMEOUT)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def background() -> Iterator[list[Background]]:
    started: list[Background] = []
    yield started
    for proc in started:
        proc.kill()


def cert_args(certs: CertBundle) -> list[str]:
    return [str(certs.server.cert), str(certs.server.key), str(certs.ca_file)]


# ------------------------------------------------------------------ the site

#: A few of the names each reference page must document.
REFERENCE = {
    "tether": ["tether.serve", "tether.connect", "tether.Server", "tether.Connection.recv"],
    "sync": ["tether.sync.connect", "tether.sync.serve", "tether.sync.Connection.recv"],
    "signals": ["tether.signals.WebSocket", "tether.signals.WebSocketServer",
                "tether.signals.Signal", "tether.signals.EventLoop"],
    "pubsub": ["tether.pubsub.Hub", "tether.pubsub.Hub.publish",
               "tether.pubsub.serve_subscriptions", "tether.pubsub.redis.RedisBackplane"],
    "bridge": ["tether.bridge.Router", "tether.bridge.bridge_tcp", "tether.bridge.HttpPoller"],
    "serving": ["tether.serving.ServingOptions", "tether.serving.serve_until_signalled"],
    "auth": ["tether.auth.basic_auth", "tether.auth.bearer_auth", "tether.auth.hash_password"],
    "tls": ["tether.tls.client_ssl_context", "tether.tls.server_ssl_context"],
    "core": ["tether.core.Protocol", "tether.core.Protocol.receive_data",
             "tether.core.http11.Headers"],
    "exceptions": ["tether.exceptions.ConnectionClosedOK", "tether.exceptions.InvalidStatus"],
}



def test_site_builds_strict_without_warnings(tmp_path: Path) -> None:
    mkdocs = [sys.executable, "-m", "mkdocs"]
    site = tmp_path / "site"
    done = subprocess.run([*mkdocs, "build", "--strict", "--site-dir", str(site)], cwd=ROOT,
                          env=ENV, capture_output=True, text=True, timeout=300, check=False)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    warnings = [line for line in output.splitlines() if re.search(r"warn", line, re.I)]
    assert warnings == [], output
    # The reference is generated from the docstrings; the samples are included.
    for page, identifiers in REFERENCE.items():
        html = (site / "reference" / page / "index.html").read_text()
        for identifier in identifiers:
            assert f'id="{identifier}"' in html, (page, identifier)
    for page in site.rglob("*.html"):
        for block in re.findall(r"<pre.*?</pre>", page.read_text(), re.S):
            assert "--8&lt;--" not in block, f"{page}: an include was not expanded"
    tutorial = (site / "tutorial" / "first-server" / "index.html").read_text()
    assert "serve_forever" in tutorial
    assert (site / "performance.png").exists()


def markdown_pages() -> list[Path]:
    return sorted(DOCS.rglob("*.md"))


def test_every_page_is_in_the_nav() -> None:
    nav = (ROOT / "mkdocs.yml").read_text()
    missing = [str(p.relative_to(DOCS)) for p in markdown_pages()
               if f": {p.relative_to(DOCS).as_posix()}\n" not in nav]
    assert missing == []


@pytest.mark.parametrize("page", markdown_pages(), ids=lambda p: str(p.relative_to(DOCS)))
def test_python_blocks_are_included_sample_files(page: Path) -> None:
    """Code in a ``python`` block is a file that a test runs, never inline text."""
    for match in FENCE.finditer(page.read_text()):
        lang, body = match.group(2).lower(), match.group(3)
        if lang not in PYTHON_LANGS:
            continue
        lines = [line for line in body.splitlines() if line.strip()]
        assert lines, f"{page}: an empty python block"
        for line in lines:
            include = INCLUDE.match(line.strip())
            assert include, f"{page}: inline python, not a sample file: {line!r}"
            target = ROOT / include.group(1)
            assert target.is_file(), f"{page}: {include.group(1)} does not exist"
            section = include.group(2)
            if section:
                text = target.read_text()
                assert f"--8<-- [start:{section}]" in text, f"{page}: no section {line}"
                assert f"--8<-- [end:{section}]" in text, f"{page}: no section end {line}"


def included_samples() -> set[str]:
    found = set()
    for page in markdown_pages():
        found.update(re.findall(r'--8<-- "docs/examples/([\w.-]+\.py)', page.read_text()))
    return found


#: The samples this module runs, each by the test named beside it.
RUN_HERE = {
    "first_echo.py": "test_self_contained_samples",
    "compression_options.py": "test_self_contained_samples",
    "pubsub_hub.py": "test_self_contained_samples",
    "sync_echo.py": "test_self_contained_samples",
    "sync_process_request.py": "test_self_contained_samples",
    "security_origins.py": "test_self_contained_samples",
    "security_auth.py": "test_self_contained_samples",
    "signals_basics.py": "test_self_contained_samples",
    "qt_echo_client.py": "test_self_contained_samples",
    "qml_style.py": "test_self_contained_samples",
    "deploy_serving.py": "test_self_contained_samples",
    "bridge_library.py": "test_self_contained_samples",
    "memory_budget.py": "test_self_contained_samples",
    "first_server.py": "test_first_server_and_client",
    "first_client.py": "test_first_server_and_client",
    "ticker_server.py": "test_ticker",
    "ticker_client.py": "test_ticker",
    "redis_two_hubs.py": "test_redis_two_hubs",
    "tls_echo.py": "test_tls_samples",
    "sync_tls.py": "test_tls_samples",
    "proxy_client.py": "test_proxy_client",
    "testing_app.py": "test_testing_app",
}


def test_every_sample_is_run_and_shown() -> None:
    samples = {p.name for p in EXAMPLES.glob("*.py") if not p.name.startswith(OTHERS)}
    assert samples == set(RUN_HERE), "a sample that no test runs, or a test without a sample"
    shown = {name for name in included_samples() if not name.startswith(OTHERS)}
    assert samples - shown == set(), "samples that no page includes"


# ------------------------------------------------------------------ the samples

SELF_CONTAINED = {
    "first_echo.py": ["hello"],
    "compression_options.py": [
        "default: permessage-deflate; server_max_window_bits=12; client_max_window_bits=12",
        "compression=None: no compression",
        "own settings: permessage-deflate; server_no_context_takeover; "
        "client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=10",
        "echoed 2007 characters",
    ],
    "pubsub_hub.py": [
        '{"op":"subscribed","topics":["AAPL"],"id":1}',
        '{"op":"message","topic":"AAPL","data":{"price":189.52}}',
        '{"op":"message","topic":"AAPL","data":{"price":189.6}}',
        "subscribers of AAPL: 1",
    ],
    "sync_echo.py": ["hello", "b'\\x00\\x01'", "bye", "closed with 1000"],
    "sync_process_request.py": ["healthz: 200 OK", "no token: 401", "token: with a token"],
    "security_origins.py": [
        "https://app.example: accepted: hello, page from https://app.example",
        "https://app.example.evil.com: refused with 403",
        "http://app.example: refused with 403",
        "null: refused with 403",
        "None: refused with 403",
    ],
    "security_auth.py": [
        "basic, right password: hello, alice",
        'basic, wrong password: 401 (Basic realm="tether", charset="UTF-8")',
        "bearer: hello, service-a",
        'no token: 401 (Bearer realm="tether")',
        "api key: hello, robot",
    ],
    "signals_basics.py": [
        "slot got 21.5 C from Sensor", "fewer got 21.5", "receivers: 2",
        "disconnected: True", "fewer got 22.0",
    ],
    "qt_echo_client.py": ["Message received: Hello, world!"],
    "qml_style.py": [
        "status: CONNECTING", "status: OPEN", "received: HELLO FROM A DECLARED SOCKET",
        "status: CLOSING", "status: CLOSED",
    ],
    "deploy_serving.py": [
        "healthz: HTTP/1.1 200 OK ok", "readyz: HTTP/1.1 200 OK ready",
        "hello, 203.0.113.5", "closed: 1001 server shutting down", "exit status: 0",
    ],
    "bridge_library.py": [
        "/echo: b'ping over TCP'", "/upper: HELLO PROGRAM",
        '/prices: {"op":"subscribed","topics":["prices"]}',
        '/prices: {"op":"message","topic":"prices","data":{"AAPL":189.5}}',
        "/nothing: 404",
    ],
    "memory_budget.py": [
        "worst case per connection: 620 KiB", "1000 characters: 1000",
        re.compile(r"a larger message: closed with 1009 .+"),
    ],
}


@pytest.mark.parametrize("script", sorted(SELF_CONTAINED))
def test_self_contained_samples(script: str) -> None:
    lines = run(script)
    expected = SELF_CONTAINED[script]
    assert len(lines) == len(expected), lines
    for line, want in zip(lines, expected, strict=True):
        if isinstance(want, re.Pattern):
            assert want.fullmatch(line), (line, want.pattern)
        else:
            assert line == want


def test_first_server_and_client(background: list[Background]) -> None:
    server = Background("first_server.py", "0")
    background.append(server)
    port = server.expect(r"^serving on ws://127\.0\.0\.1:(\d+)/$").group(1)
    lines = run("first_client.py", f"ws://127.0.0.1:{port}/")
    assert lines[:3] == ["< hello", "< how are you?", "< b'\\x00\\x01\\x02'"]
    assert re.fullmatch(r"round trip: \d+\.\d ms", lines[3])
    assert lines[4:] == ["closed with 1000"]
    server.expect(r"^open \('127\.0\.0\.1', \d+\) /$")
    server.expect(r"^closed 1000$")
    assert server.interrupt() == 0            # Ctrl-C stops it cleanly
    server.expect(r"^stopped$")


def check_ticker_lines(lines: list[str], symbols: list[str], count: int) -> None:
    assert lines[0] == "subscribed to " + ", ".join(symbols)
    assert len(lines) == count + 1
    for line in lines[1:]:
        symbol, price = line.split()
        assert symbol in symbols
        assert float(price) > 0


def test_ticker(background: list[Background]) -> None:
    server = Background("ticker_server.py", "--port", "0")
    background.append(server)
    port = server.expect(r"^serving on http://127\.0\.0\.1:(\d+)/$").group(1)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as page:
        assert page.status == 200
        assert page.headers["Content-Type"].startswith("text/html")
        assert page.read() == (EXAMPLES / "ticker.html").read_bytes()
    lines = run("ticker_client.py", f"ws://127.0.0.1:{port}/ws", "AAPL", "MSFT",
                "--count", "4")
    check_ticker_lines(lines, ["AAPL", "MSFT"], 4)
    assert server.interrupt() == 0


def test_ticker_page_in_a_browser(background: list[Background], page: Any) -> None:
    """The tutorial's page in headless Chromium: it connects, subscribes, prices move."""
    server = Background("ticker_server.py", "--port", "0")
    background.append(server)
    port = server.expect(r"^serving on http://127\.0\.0\.1:(\d+)/$").group(1)
    page.goto(f"http://127.0.0.1:{port}/")
    page.wait_for_function("document.getElementById('status').textContent === 'connected'")
    page.wait_for_function("document.getElementById('price-AAPL').textContent !== ''")
    first = page.inner_text("#price-AAPL")
    assert float(first) > 0
    page.wait_for_function(
        "t => document.getElementById('price-AAPL').textContent !== t", arg=first)
    page.wait_for_selector("#price-AAPL.up, #price-AAPL.down")
    assert server.interrupt() == 0


def test_ticker_with_redis(background: list[Background], redis: RedisServer) -> None:
    """Two processes: the one with the feed publishes, the other's client gets it."""
    feeder = Background("ticker_server.py", "--port", "0", "--redis", redis.url)
    relay = Background("ticker_server.py", "--port", "0", "--redis", redis.url, "--no-feed")
    background.extend([feeder, relay])
    feeder.expect(r"^serving on ")
    port = relay.expect(r"^serving on http://127\.0\.0\.1:(\d+)/$").group(1)
    lines = run("ticker_client.py", f"ws://127.0.0.1:{port}/ws", "NVDA", "--count", "3")
    check_ticker_lines(lines, ["NVDA"], 3)


def test_redis_two_hubs(redis: RedisServer) -> None:
    assert run("redis_two_hubs.py", redis.url) == [
        'B: {"op":"subscribed","topics":["news"]}',
        'B: {"op":"message","topic":"news","data":"published on A"}',
        "gaps: 0",
    ]


def test_tls_samples(tls_certs: CertBundle) -> None:
    assert run("tls_echo.py", *cert_args(tls_certs)) == [
        "private CA: over TLS",
        "server_hostname: by address",
        "system CAs: TLS certificate of the server 'localhost' is not trusted",
        "insecure warns: UserWarning",
        "insecure: nobody checked who I talk to",
    ]
    assert run("sync_tls.py", *cert_args(tls_certs))[0] in (
        "over TLS TLSv1.2", "over TLS TLSv1.3")


def test_proxy_client(http_proxy: ProxyServer) -> None:
    before = http_proxy.log_text().count("CONNECT")
    expected = ["proxy: through the proxy", "direct: no proxy"]
    assert run("proxy_client.py", http_proxy.url) == expected
    # proxy=True: the proxy that the environment names.
    env = dict(ENV, ws_proxy=http_proxy.url, no_proxy="")
    assert run("proxy_client.py", "env", env=env) == expected
    assert http_proxy.log_text().count("CONNECT") >= before + 2


def test_testing_app() -> None:
    """The page's pytest file passes, and the tests in it can fail."""
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(EXAMPLES / "testing_app.py")], cwd=ROOT, env=ENV,
                          capture_output=True, text=True, timeout=TIMEOUT, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"\b3 passed\b", done.stdout), done.stdout


def test_testing_app_can_fail(tmp_path: Path) -> None:
    broken = tmp_path / "testing_app_broken.py"
    source = (EXAMPLES / "testing_app.py").read_text()
    assert "message.upper()" in source
    broken.write_text(source.replace("message.upper()", "message"))
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(broken)], cwd=tmp_path, env=ENV, capture_output=True,
                          text=True, timeout=TIMEOUT, check=False)
    assert done.returncode == 1, done.stdout + done.stderr
    assert re.search(r"\b2 failed\b", done.stdout), done.stdout

