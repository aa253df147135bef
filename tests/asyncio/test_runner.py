"""tether.run: the default loop, or uvloop when the caller asks for it."""

from __future__ import annotations

import asyncio

import uvloop

import tether
from tether.asyncio import ServerConnection, loop_factory

from .conftest import HOST


async def _echo(ws: ServerConnection) -> None:
    async for message in ws:
        await ws.send(message)


async def _round_trip() -> tuple[str, type[asyncio.AbstractEventLoop]]:
    async with (
        tether.serve(_echo, HOST, 0) as server,
        tether.connect(f"ws://{HOST}:{server.port}/") as ws,
    ):
        await ws.send("hello")
        reply = await ws.recv()
    assert isinstance(reply, str)
    return reply, type(asyncio.get_running_loop())


def test_run_on_the_default_loop() -> None:
    reply, loop_type = tether.run(_round_trip())
    assert reply == "hello"
    assert not issubclass(loop_type, uvloop.Loop)


def test_run_on_uvloop_when_asked() -> None:
    reply, loop_type = tether.run(_round_trip(), uvloop=True)
    assert reply == "hello"
    assert issubclass(loop_type, uvloop.Loop)


def test_loop_factory() -> None:
    assert loop_factory(False) is None
    factory = loop_factory(True)
    assert factory is not None
    loop = factory()
    try:
        assert isinstance(loop, uvloop.Loop)
    finally:
        loop.close()
