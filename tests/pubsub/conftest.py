"""Fixtures for the pub/sub tests: a real redis-server on a free port."""

from __future__ import annotations

from tests.support.redis_server import redis_server

__all__ = ["redis_server"]
