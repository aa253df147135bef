"""Load at test size: 1,000 concurrent connections, 10% slow consumers, none dropped.

The full size is a documented command: ``python3 tests/security/load.py --connections 10000``.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from .load import run_load


@pytest.mark.slow
def test_thousand_connections_with_slow_consumers() -> None:
    result = asyncio.run(run_load(1000, slow_fraction=0.1, rounds=5))
    print("\n[load:1000] " + json.dumps(result))
    assert result["fast_dropped"] == 0, result["fast_errors"]
    assert result["slow_dropped"] == 0
    assert result["still_open"] == 1000
    assert result["fast_round_trips"] == 900 * 5
    # Memory is asserted (not time): an idle connection must stay small.
    assert result["memory_per_idle_connection_kib"] < 100
