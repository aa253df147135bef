"""A bridge source whose ``run()`` coroutine goes on in a task of its own."""

from __future__ import annotations

import asyncio
import contextlib

__all__ = ["Background"]


class Background:
    """``start()`` runs :meth:`run` in a task (once at a time), ``stop()`` cancels it and
    waits for it to end.  The HTTP poller, the SSE bridge and the remote feed share it."""

    _task: asyncio.Task[None] | None = None

    async def run(self) -> None:  # pragma: no cover - each source has its own
        raise NotImplementedError

    def start(self) -> asyncio.Task[None]:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self.run())
        return self._task

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
