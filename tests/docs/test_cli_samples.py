"""Every shell sample in docs/cli.md runs here, with ``tether`` on PATH.

docs/cli.md includes its samples from docs/examples/cli_*.sh (``--8<--`` sections); the
server sections are started as they are written (PORT set), the client sections run
against them (PORT and URL set) and what they print is checked.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.proxies import free_port

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "cli.md"
SAMPLE_FILES = sorted((ROOT / "docs" / "examples").glob("cli_*.sh"))
SECTION = re.compile(r"^# --8<-- \[start:([\w-]+)\]\n(.*?)^# --8<-- \[end:\1\]", re.M | re.S)
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)
INCLUDE = re.compile(r'^--8<-- "docs/examples/(cli_\w+\.sh):([\w-]+)"$')


def sections() -> dict[tuple[str, str], str]:
    found = {}
    for path in SAMPLE_FILES:
        for name, body in SECTION.findall(path.read_text()):
            found[(path.name, name)] = body
    return found


def lines(out: str) -> list[str]:
    return out.splitlines()


def json_events(out: str) -> list[str]:
    return [json.loads(line)["event"] for line in out.splitlines()]


Check = Callable[[str], bool]
#: client sample -> the checks of its output, per server sample it is run against.
CLIENTS: dict[str, dict[str, Check]] = {
    "pipe": {"echo": lambda out: out == "< hello\n",
             "static": lambda out: out == "< hello\n"},
    "execute": {"echo": lambda out: out == "< hello\n< world\n",
                "broadcast": lambda out: out == "< hello\n< world\n"},
    "commands": {"echo": lambda out: lines(out)[:2] == ["< [binary, 2 bytes] 00ff",
                                                        "< [binary, 2 bytes] 6869"]
                 and bool(re.fullmatch(r"pong: [\d.]+ ms round trip", lines(out)[2]))},
    "json": {"echo": lambda out: json_events(out) == ["open", "message", "message", "close"]
             and json.loads(lines(out)[-1])["code"] == 4000},
    "json-jq": {"echo": lambda out: out == "sum\n"},
    "script": {"echo": lambda out: out == "server answered: ping-me\n"},
    "static": {"static": lambda out: out == "<h1>hello</h1>\n403\n"},
    "bench": {"echo": lambda out: bool(re.search(r"received\s+2000 messages", out))
              and bool(re.search(r"errors\s+0\b", out)) and "p99" in out},
    "bench-json": {"echo": lambda out: out == "500 True\n"},
}
SERVERS = ("echo", "broadcast", "static")


@pytest.fixture(scope="module")
def bin_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with a ``tether`` program that runs this checkout."""
    d = tmp_path_factory.mktemp("bin")
    program = d / "tether"
    program.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m tether.cli.main "$@"\n')
    program.chmod(0o755)
    return d


def environment(bin_dir: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.update(PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
               PYTHONPATH=str(ROOT / "src"), PORT=str(port), URL=f"ws://127.0.0.1:{port}/")
    env.pop("HOST", None)
    return env


@pytest.fixture(params=SERVERS)
def server(request: pytest.FixtureRequest, bin_dir: Path,
           tmp_path: Path) -> Iterator[tuple[str, dict[str, str], Path]]:
    """A server sample running as written; yields (its name, environment, cwd)."""
    name = request.param
    body = sections()[("cli_serve.sh", name)]
    env = environment(bin_dir, free_port())
    proc = subprocess.Popen(["sh", "-c", body], cwd=tmp_path, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    assert proc.stdout is not None
    seen = []
    try:
        for _ in range(20):
            seen.append(proc.stdout.readline())
            if "server on" in seen[-1]:
                break
        else:
            raise AssertionError(f"sample {name!r} printed no banner: {seen}")
        yield name, env, tmp_path
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=20) in (0, -signal.SIGTERM)
        proc.stdout.close()


def test_client_samples_against_each_server(server: tuple[str, dict[str, str], Path]) -> None:
    name, env, cwd = server
    samples = sections()
    ran = 0
    for client, checks in CLIENTS.items():
        if name not in checks:
            continue
        body = samples[("cli_clients.sh", client)]
        result = subprocess.run(["sh", "-c", body], cwd=cwd, env=env, capture_output=True,
                                text=True, timeout=120)
        assert result.returncode == 0, (client, result.stderr)
        assert checks[name](result.stdout), (client, name, result.stdout, result.stderr)
        ran += 1
    assert ran > 0


def test_every_sample_is_tested_and_every_code_block_is_a_sample() -> None:
    samples = sections()
    included = set()
    for lang, block in FENCE.findall(DOC.read_text()):
        if lang == "text":  # output and terminal transcripts, not commands
            continue
        for line in block.strip().splitlines():
            m = INCLUDE.match(line)
            assert m, f"docs/cli.md has a {lang or 'plain'} block that is not a sample: {block}"
            assert (m.group(1), m.group(2)) in samples, line
            included.add((m.group(1), m.group(2)))
    assert included == set(samples), set(samples) ^ included  # all of them, all tested
    tested = {("cli_clients.sh", c) for c in CLIENTS} | {("cli_serve.sh", s) for s in SERVERS}
    assert tested == set(samples), set(samples) ^ tested


def test_exit_codes_in_help_and_doc() -> None:
    result = subprocess.run([sys.executable, "-m", "tether.cli.main", "--help"],
                            capture_output=True, text=True, cwd=ROOT,
                            env=dict(os.environ, PYTHONPATH=str(ROOT / "src")))
    doc = DOC.read_text()
    for code in ("0", "1", "2", "130", "141"):
        assert re.search(rf"^  {code} +\S", result.stdout, re.M), code
        assert re.search(rf"^\| `{code}` \|", doc, re.M), code
