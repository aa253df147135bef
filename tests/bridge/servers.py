"""Small real HTTP servers for the poll and SSE bridge tests (stdlib, in a thread)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class JsonState:
    """What the JSON endpoint serves, and what it saw."""

    def __init__(self, value: Any) -> None:
        self.value = value
        self.etags = True
        self.status = 200
        self.delay = 0.0
        self.retry_after: str | None = None
        self.requests: list[dict[str, str]] = []
        self.not_modified = 0
        self.raw: bytes | None = None
        self.lock = threading.Lock()

    def body(self) -> bytes:
        return self.raw if self.raw is not None else json.dumps(self.value).encode()

    def etag(self) -> str:
        return '"' + hashlib.sha1(self.body()).hexdigest()[:16] + '"'


class SseState:
    """Events the SSE endpoint sends per connection, and the requests it saw."""

    def __init__(self) -> None:
        self.batches: list[list[bytes]] = []  # one list of raw chunks per connection
        self.requests: list[dict[str, str]] = []
        self.hold = threading.Event()  # set: close the stream after the batch


@contextlib.contextmanager
def json_server(state: JsonState) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            with state.lock:
                state.requests.append({k.lower(): v for k, v in self.headers.items()})
                status, delay, body = state.status, state.delay, state.body()
                etag = state.etag() if state.etags else None
            if delay:
                time.sleep(delay)
            if status != 200:
                self.send_response(status)
                if state.retry_after:
                    self.send_header("Retry-After", state.retry_after)
                self.send_header("Content-Length", "5")
                self.end_headers()
                self.wfile.write(b"oops\n")
                return
            if etag is not None and self.headers.get("If-None-Match") == etag:
                with state.lock:
                    state.not_modified += 1
                self.send_response(304)
                self.send_header("ETag", etag)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            if etag is not None:
                self.send_header("ETag", etag)
            # Alternate the framings a client must read: length, and chunked.
            if len(state.requests) % 2:
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            else:
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                half = len(body) // 2
                for part in (body[:half], body[half:]):
                    if part:
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                self.wfile.write(b"0\r\n\r\n")

    yield from _serve(Handler, "/data.json")


@contextlib.contextmanager
def sse_server(state: SseState) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            n = len(state.requests)
            state.requests.append({k.lower(): v for k, v in self.headers.items()})
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream; charset=utf-8")
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            batch = state.batches[n] if n < len(state.batches) else []
            for chunk in batch:
                self.wfile.write(chunk)
                self.wfile.flush()
                time.sleep(0.01)
            if n + 1 >= len(state.batches):
                state.hold.wait(30)  # the last stream stays open until the test is done

    yield from _serve(Handler, "/events")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that time out and hang up are what some tests are about


def _serve(handler: type[BaseHTTPRequestHandler], path: str) -> Iterator[str]:
    server = _Server(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}{path}"
    finally:
        server.shutdown()
        server.server_close()
