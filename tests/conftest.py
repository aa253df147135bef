"""Shared pytest configuration."""

from __future__ import annotations

import logging

# tether logs protocol failures at INFO; keep them visible in failing tests' output.
logging.getLogger("tether").setLevel(logging.DEBUG)
