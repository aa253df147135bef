"""Price sources for the stock ticker.

A feed is an async iterator of :class:`Tick`; the server publishes each one whose price
differs from the symbol's last (so only changes go out).

- :class:`RandomWalkFeed`: a simulated market (the default): each symbol moves by a
  small random step (geometric random walk) several times a second.
- :class:`JsonLinesFeed`: ``{"symbol": "AAPL", "price": 189.5}`` per line, from a file
  or a pipe (``-`` is stdin); CSV lines ``AAPL,189.5`` work too.
- :class:`HttpPollFeed`: polls a URL answering ``{"AAPL": 189.5, ...}`` (or a list of
  ticks) every ``interval`` seconds: a bridge from an HTTP price endpoint.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
import random
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

__all__ = ["DEFAULT_SYMBOLS", "HttpPollFeed", "JsonLinesFeed", "RandomWalkFeed", "Tick"]

#: Symbols and opening prices of the simulated market.
DEFAULT_SYMBOLS: dict[str, float] = {
    "AAPL": 189.50, "MSFT": 415.20, "GOOG": 172.30, "AMZN": 183.10, "NVDA": 121.40,
    "META": 505.70, "TSLA": 248.90, "NFLX": 675.00, "AMD": 158.20, "INTC": 31.40,
    "IBM": 186.60, "ORCL": 138.80,
}


@dataclasses.dataclass(frozen=True)
class Tick:
    symbol: str
    price: float
    time: float


class RandomWalkFeed:
    """A simulated feed: ``ticks_per_second`` moves per symbol, each a random step of
    about ``volatility`` (relative), rounded to cents."""

    def __init__(self, symbols: Mapping[str, float] | None = None, *,
                 ticks_per_second: float = 4.0, volatility: float = 0.002,
                 seed: int | None = None) -> None:
        self.prices = dict(symbols or DEFAULT_SYMBOLS)
        self.ticks_per_second = ticks_per_second
        self.volatility = volatility
        self._rng = random.Random(seed)

    @property
    def symbols(self) -> list[str]:
        return list(self.prices)

    def step(self) -> Tick:
        symbol = self._rng.choice(list(self.prices))
        old = self.prices[symbol]
        new = round(old * math.exp(self._rng.gauss(0.0, self.volatility)), 2)
        if new == old:
            new = round(old + (0.01 if self._rng.random() < 0.5 else -0.01), 2)
        self.prices[symbol] = max(new, 0.01)
        return Tick(symbol, self.prices[symbol], time.time())

    async def __aiter__(self) -> AsyncIterator[Tick]:
        for symbol, price in self.prices.items():
            yield Tick(symbol, price, time.time())
        interval = 1.0 / (self.ticks_per_second * max(len(self.prices), 1))
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            next_at += interval
            delay = next_at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                next_at = loop.time()  # fell behind: don't burst
            yield self.step()


def _parse_line(line: str) -> Tick | None:
    line = line.strip()
    if not line or line.startswith("#"):
        return None
    if line.startswith("{"):
        obj = json.loads(line)
        return Tick(str(obj["symbol"]), float(obj["price"]), float(obj.get("time", time.time())))
    parts = [p.strip() for p in line.split(",")]
    if len(parts) < 2 or parts[0].lower() == "symbol":
        return None
    return Tick(parts[0], float(parts[1]), time.time())


class JsonLinesFeed:
    """Ticks read from JSON lines or CSV lines (``symbol,price``) in a file or stdin."""

    def __init__(self, path: str, symbols: Iterable[str] = ()) -> None:
        self.path = path
        self._symbols = list(symbols)

    @property
    def symbols(self) -> list[str]:
        return self._symbols

    async def __aiter__(self) -> AsyncIterator[Tick]:
        loop = asyncio.get_running_loop()
        f = sys.stdin if self.path == "-" else open(self.path, encoding="utf-8")  # noqa: SIM115
        try:
            while True:
                line = await loop.run_in_executor(None, f.readline)
                if not line:
                    return
                tick = _parse_line(line)
                if tick is not None:
                    if tick.symbol not in self._symbols:
                        self._symbols.append(tick.symbol)
                    yield tick
        finally:
            if f is not sys.stdin:
                f.close()


class HttpPollFeed:
    """Ticks polled from an HTTP endpoint answering ``{"SYM": price, ...}``."""

    def __init__(self, url: str, *, interval: float = 1.0, symbols: Iterable[str] = ()) -> None:
        self.url = url
        self.interval = interval
        self._symbols = list(symbols)

    @property
    def symbols(self) -> list[str]:
        return self._symbols

    def _fetch(self) -> Any:
        with urllib.request.urlopen(self.url, timeout=10) as resp:
            return json.load(resp)

    async def __aiter__(self) -> AsyncIterator[Tick]:
        while True:
            try:
                data = await asyncio.to_thread(self._fetch)
            except (OSError, ValueError):
                data = {}
            now = time.time()
            items = data.items() if isinstance(data, dict) else (
                (d.get("symbol"), d.get("price")) for d in data if isinstance(d, dict))
            for symbol, price in items:
                if symbol is None or price is None:
                    continue
                if symbol not in self._symbols:
                    self._symbols.append(str(symbol))
                yield Tick(str(symbol), float(price), now)
            await asyncio.sleep(self.interval)
