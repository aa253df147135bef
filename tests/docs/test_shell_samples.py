"""The shell samples of the docs pages hold: every command they show exists and takes the
options they give it.

The Python samples are run by ``test_docs.py`` and the CLI page's shell samples by
``test_cli_samples.py``; the other pages show commands that install things, start
long jobs (the benchmarks, a fuzzing hour) or outside servers (``redis-server``). Those
are checked here without being run: a ``tether`` command line must parse with tether's
own argument parser, a ``python3 SCRIPT`` must name a file that exists and whose
``--help`` lists every option the line uses, an extra in ``pip install '.[extra]'`` must
be declared in pyproject.toml, and a ``./script`` must be an executable file.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tether.cli.main import build_parser

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
SHELL_FENCE = re.compile(r"^```(?:sh|bash|shell|console)\s*$")


def _shell_lines() -> list[tuple[str, str]]:
    """(page, command line) for every line of every shell block but the CLI page's."""
    found = []
    for page in sorted(DOCS.rglob("*.md")):
        if page.name == "cli.md":
            continue  # run for real by test_cli_samples.py
        inside = False
        for line in page.read_text().splitlines():
            if inside and line.startswith("```"):
                inside = False
            elif inside:
                command = line.split("  #", 1)[0].strip().removesuffix("&").strip()
                if command and not command.startswith("#"):
                    found.append((str(page.relative_to(ROOT)), command))
            elif SHELL_FENCE.match(line):
                inside = True
    return found


LINES = _shell_lines()


def _words(command: str) -> list[str]:
    words = shlex.split(command)
    while words and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", words[0]):
        words.pop(0)  # VAR=value prefixes
    return words


def _options(words: list[str]) -> list[str]:
    return [w.split("=", 1)[0] for w in words if w.startswith("--") and len(w) > 2]


_HELP: dict[tuple[str, ...], str] = {}


def _help(argv: tuple[str, ...]) -> str:
    if argv not in _HELP:
        done = subprocess.run([sys.executable, *argv, "--help"], cwd=ROOT, capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0, f"{' '.join(argv)} --help failed: {done.stderr[-500:]}"
        _HELP[argv] = done.stdout
    return _HELP[argv]


def test_there_are_shell_samples_to_check() -> None:
    assert len(LINES) >= 15
    assert any(c.startswith("tether ") for _, c in LINES)


@pytest.mark.parametrize(("page", "command"), LINES, ids=[f"{p}: {c}" for p, c in LINES])
def test_a_shell_sample_names_what_exists(page: str, command: str) -> None:
    words = _words(command)
    if not words:
        pytest.fail(f"{page}: empty command {command!r}")
    if command.startswith("export "):
        assert re.fullmatch(r"export [A-Za-z_]+=\S+", command), f"{page}: {command}"
        return
    for part in (p.strip() for p in command.split("&&")):
        words = _words(part)
        head = words[0]
        if head == "tether":
            try:
                build_parser().parse_args(words[1:])
            except SystemExit as exc:
                pytest.fail(f"{page}: `{part}` doesn't parse (exit {exc.code})")
        elif head in ("python3", "python"):
            if words[1] == "-m":
                assert words[2] in ("pytest",), f"{page}: unexpected module in {part!r}"
                for target in words[3:]:
                    assert (ROOT / target).exists(), f"{page}: {target} doesn't exist"
                continue
            script = words[1]
            assert (ROOT / script).is_file(), f"{page}: {script} doesn't exist"
            if script.startswith("docs/examples/"):
                continue  # run for real by test_docs.py
            text = _help((script,))
            sub = words[2] if len(words) > 2 and not words[2].startswith("-") else None
            if sub is not None and f"{sub}" not in text:
                pytest.fail(f"{page}: {script} --help doesn't mention {sub!r}")
            for option in _options(words[2:]):
                assert option in text, f"{page}: {script} has no option {option}"
        elif head == "pip":
            extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
                "optional-dependencies"]
            for word in words[2:]:
                m = re.fullmatch(r"(?:-e\s*)?\.\[([a-z,]+)\]", word)
                if m:
                    for extra in m.group(1).split(","):
                        assert extra in extras, f"{page}: no extra {extra!r} in pyproject.toml"
        elif head.startswith("./"):
            path = ROOT / head
            assert path.is_file() and path.stat().st_mode & 0o111, f"{page}: {head}"
        elif head in ("mkdocs", "redis-server"):
            pass  # the site build is test_docs.py's; redis-server is Debian's
        else:
            pytest.fail(f"{page}: no rule to check `{part}`: add one here")
