"""``tether bench`` against ``tether serve``: counts, percentiles, JSON, exit codes."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.cli.cli_support import ThreadServer, tether, tether_serve
from tests.support.proxies import free_port
from tether.asyncio import ServerConnection


@pytest.fixture(scope="module")
def echo_url() -> Iterator[str]:
    with tether_serve() as (port, _):
        yield f"ws://127.0.0.1:{port}/"


def bench_json(*args: str) -> tuple[int, dict[str, Any]]:
    result = tether("bench", "--json", *args)
    assert result.stderr == "" or result.returncode != 0, result.stderr
    return result.returncode, json.loads(result.stdout)


def check_latencies(summary: dict[str, Any]) -> None:
    ms = summary["latency_ms"]
    assert set(ms) == {"p50", "p90", "p99", "max", "mean"}
    assert 0 <= ms["p50"] <= ms["p90"] <= ms["p99"] <= ms["max"]


def test_count_as_fast_as_possible(echo_url: str) -> None:
    code, summary = bench_json("--count", "300", "-c", "3", "--size", "64", echo_url)
    assert code == 0, summary
    assert summary["sent"] == summary["received"] == 300
    assert summary["errors"] == 0
    assert summary["connected"] == summary["connections"] == 3
    assert summary["size"] == 64 and summary["binary"] is False
    assert summary["throughput_msgs"] > 0 and summary["throughput_mb"] > 0
    check_latencies(summary)


def test_fixed_rate_binary(echo_url: str) -> None:
    code, summary = bench_json("--count", "100", "-c", "4", "--rate", "400", "--binary",
                               "--size", "1000", echo_url)
    assert code == 0, summary
    assert summary["sent"] == summary["received"] == 100
    assert summary["binary"] is True and summary["rate"] == 400
    check_latencies(summary)


def test_duration_and_the_human_summary(echo_url: str) -> None:
    result = tether("bench", "--duration", "0.5", "-c", "2", echo_url)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    sent = int(re.search(r"sent\s+(\d+) messages", out).group(1))  # type: ignore[union-attr]
    received = int(re.search(r"received\s+(\d+) messages", out).group(1))  # type: ignore[union-attr]
    assert sent == received > 0
    assert re.search(r"errors\s+0\b", out)
    assert re.search(r"latency\s+p50 [\d.]+ ms\s+p90 [\d.]+ ms\s+p99 [\d.]+ ms\s+max [\d.]+ ms",
                     out), out
    assert re.search(r"throughput\s+[\d.]+ msg/s\s+[\d.]+ MB/s", out), out
    assert "\r" not in result.stderr  # no progress line when stderr is not a terminal


async def wrong_echo(ws: ServerConnection, server: ThreadServer) -> None:
    async for _ in ws:
        await ws.send("not what you sent")


def test_replies_that_differ_are_errors() -> None:
    with ThreadServer(wrong_echo) as s:
        code, summary = bench_json("--count", "10", s.url)
        assert code == 1
        assert summary["errors"] == 10
        assert "differed" in summary["error_samples"][0]


async def silent(ws: ServerConnection, server: ThreadServer) -> None:
    async for _ in ws:
        pass


def test_lost_replies_are_errors() -> None:
    with ThreadServer(silent) as s:
        code, summary = bench_json("--count", "5", "--rate", "100", "--timeout", "0.5", s.url)
        assert code == 1
        assert summary["sent"] == 5 and summary["received"] == 0
        assert summary["errors"] == 1 and "without a reply" in summary["error_samples"][0]
        assert summary["latency_ms"]["p50"] is None


def test_connection_refused_exits_1() -> None:
    code, summary = bench_json("--count", "5", "-c", "2", f"ws://127.0.0.1:{free_port()}/")
    assert code == 1
    assert summary["connected"] == 0 and summary["errors"] == 2


@pytest.mark.parametrize("args", [
    ["-c", "0"], ["--size", "-1"], ["--rate", "-5"], ["--count", "0"],
    ["--duration", "0"], ["--count", "5", "--duration", "1"],
])
def test_usage_errors_exit_2(args: list[str]) -> None:
    result = tether("bench", *args, "ws://127.0.0.1:1/")
    assert result.returncode == 2, result
    assert tether("bench", "--count", "1", "http://example.com/").returncode == 2


def test_progress_line_on_a_terminal(echo_url: str) -> None:
    import os
    import pty  # noqa: F401 - a POSIX terminal is needed
    import select
    import subprocess

    from tests.cli.cli_support import ENV, ROOT, TETHER

    master, slave = os.openpty()
    proc = subprocess.Popen([*TETHER, "bench", "--duration", "1.5", echo_url],
                            stdout=subprocess.PIPE, stderr=slave, env=ENV, cwd=ROOT)
    os.close(slave)
    progress = b""
    while True:
        ready, _, _ = select.select([master], [], [], 30)
        assert ready, "bench wrote nothing to the terminal"
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: closed
            break
        if not chunk:
            break
        progress += chunk
    assert proc.stdout is not None
    summary = proc.stdout.read().decode()
    assert proc.wait(timeout=30) == 0
    os.close(master)
    assert re.search(rb"\r +[\d.]+ s +\d+ msg/s +sent \d+ +received \d+ +errors 0", progress), (
        progress)
    assert progress.endswith(b"\r\x1b[K")  # the line is cleared before the summary
    assert "p99" in summary
