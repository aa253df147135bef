"""Help texts: every command has examples; exit codes are documented."""

from __future__ import annotations

import re

import pytest

from tests.cli.cli_support import tether


def test_main_help_lists_commands_and_exit_codes() -> None:
    result = tether("--help")
    assert result.returncode == 0
    for command in ("serve", "connect", "bench", "bridge", "demo"):
        assert re.search(rf"^  {command} ", result.stdout, re.M), command
    assert "exit status:" in result.stdout
    for code in ("0", "1", "2", "130", "141"):
        assert re.search(rf"^  {code} +\S", result.stdout, re.M), code


def test_no_command_prints_help_and_exits_2() -> None:
    result = tether()
    assert result.returncode == 2
    assert "exit status:" in result.stdout


@pytest.mark.parametrize("command", ["serve", "connect", "bench", "bridge"])
def test_each_command_help_has_examples(command: str) -> None:
    result = tether(command, "--help")
    assert result.returncode == 0
    assert "examples:" in result.stdout
    assert re.search(rf"^  tether {command}\b", result.stdout, re.M)


@pytest.mark.parametrize("command", ["connect", "bench"])
def test_client_commands_document_their_exit_status(command: str) -> None:
    assert "exit status:" in tether(command, "--help").stdout


def test_unknown_option_is_a_usage_error() -> None:
    result = tether("serve", "--no-such-option")
    assert result.returncode == 2
    assert "unrecognized arguments" in result.stderr


def test_bad_choices_are_usage_errors() -> None:
    assert tether("serve", "--mode", "mirror").returncode == 2
    assert tether("serve", "--slow-policy", "ignore").returncode == 2
