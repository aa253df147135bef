"""Shared pytest configuration."""

from __future__ import annotations

import logging

pytest_plugins = ["tests.support.certs", "tests.support.proxies"]

# tether logs protocol failures at INFO; keep them visible in failing tests' output.
logging.getLogger("tether").setLevel(logging.DEBUG)
