"""Counters for ``/metrics``, in the Prometheus text exposition format (version 0.0.4).

One :class:`Metrics` per process.  The connections made by :mod:`tether.serving` count
into it (messages and bytes each way, closes by code, ping round trips); the server's
own ``handshakes`` table gives the handshake answers, and hubs registered with
:meth:`Metrics.add_hub` give the messages dropped for slow readers.
"""

from __future__ import annotations

import bisect
import os
import time
from typing import Any

__all__ = ["LATENCY_BUCKETS", "Metrics"]

#: Ping round-trip buckets, seconds (loopback to intercontinental).
LATENCY_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    """Process-wide counters; :meth:`render` writes them for a Prometheus scrape."""

    def __init__(self) -> None:
        self.started = time.time()
        self.connections_opened = 0
        self.connections_closed = 0
        self.messages_in = 0
        self.messages_out = 0
        self.bytes_in = 0
        self.bytes_out = 0
        self.closes: dict[int, int] = {}
        self.proxy_protocol_errors = 0
        self.latency_counts = [0] * (len(LATENCY_BUCKETS) + 1)
        self.latency_sum = 0.0
        self.latency_count = 0
        self.servers: list[Any] = []
        self.hubs: list[Any] = []
        self.dropped_other = 0

    def add_server(self, server: Any) -> None:
        self.servers.append(server)

    def add_hub(self, hub: Any) -> None:
        """Count the messages ``hub`` (a :class:`tether.pubsub.Hub`) drops or conflates."""
        self.hubs.append(hub)

    def observe_latency(self, seconds: float) -> None:
        self.latency_counts[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.latency_sum += seconds
        self.latency_count += 1

    def count_close(self, code: int | None) -> None:
        key = code if code is not None else 1006
        self.closes[key] = self.closes.get(key, 0) + 1
        self.connections_closed += 1

    @property
    def dropped(self) -> int:
        return self.dropped_other + sum(int(h.dropped) for h in self.hubs)

    def render(self) -> str:
        """The text exposition format (``Content-Type: text/plain; version=0.0.4``)."""
        out: list[str] = []

        def metric(name: str, kind: str, help_: str, samples: list[tuple[str, float]]) -> None:
            out.append(f"# HELP {name} {help_}")
            out.append(f"# TYPE {name} {kind}")
            for labels, value in samples:
                v = repr(float(value)) if isinstance(value, float) else str(value)
                out.append(f"{name}{labels} {v}")

        open_now = sum(len(s.connections) for s in self.servers)
        handshakes: dict[int, int] = {}
        for s in self.servers:
            for status, n in s.handshakes.items():
                handshakes[status] = handshakes.get(status, 0) + n
        metric("tether_connections", "gauge", "WebSocket connections open now.",
               [("", open_now)])
        metric("tether_connections_opened_total", "counter",
               "WebSocket connections opened (handshake answered 101).",
               [("", self.connections_opened)])
        metric("tether_handshakes_total", "counter",
               "Opening handshakes and plain HTTP requests answered, by HTTP status.",
               [(f'{{status="{k}"}}', v) for k, v in sorted(handshakes.items())])
        metric("tether_messages_received_total", "counter", "WebSocket messages received.",
               [("", self.messages_in)])
        metric("tether_messages_sent_total", "counter", "WebSocket messages sent.",
               [("", self.messages_out)])
        metric("tether_bytes_received_total", "counter",
               "Bytes read from client sockets (WebSocket connections, after the handshake "
               "request).", [("", self.bytes_in)])
        metric("tether_bytes_sent_total", "counter", "Bytes written to client sockets.",
               [("", self.bytes_out)])
        metric("tether_connections_closed_total", "counter",
               "WebSocket connections closed, by close code (1006: dropped without a close "
               "frame).", [(f'{{code="{k}"}}', v) for k, v in sorted(self.closes.items())])
        metric("tether_messages_dropped_total", "counter",
               "Messages dropped for slow readers (pub/sub DROP policy).",
               [("", self.dropped)])
        conflated = sum(int(h.conflated) for h in self.hubs)
        metric("tether_messages_conflated_total", "counter",
               "Messages replaced by a newer one while a reader was slow (LATEST policy).",
               [("", conflated)])
        metric("tether_proxy_protocol_errors_total", "counter",
               "Connections refused for a bad PROXY protocol header.",
               [("", self.proxy_protocol_errors)])
        name = "tether_ping_latency_seconds"
        out.append(f"# HELP {name} Round-trip time of pings answered by clients.")
        out.append(f"# TYPE {name} histogram")
        cumulative = 0
        for bound, n in zip(LATENCY_BUCKETS, self.latency_counts, strict=False):
            cumulative += n
            out.append(f'{name}_bucket{{le="{bound}"}} {cumulative}')
        out.append(f'{name}_bucket{{le="+Inf"}} {self.latency_count}')
        out.append(f"{name}_sum {self.latency_sum!r}")
        out.append(f"{name}_count {self.latency_count}")
        metric("tether_start_time_seconds", "gauge", "When this process started (Unix time).",
               [("", self.started)])
        worker = os.environ.get("TETHER_WORKER", "")
        metric("tether_process_info", "gauge", "This process: its pid and worker number.",
               [(f'{{pid="{os.getpid()}",worker="{worker}"}}', 1)])
        return "\n".join(out) + "\n"
