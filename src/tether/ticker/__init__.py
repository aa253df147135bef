"""The stock-ticker application behind ``tether demo``: a feed, a hub, a page."""

from .app import TickerServer, make_hub
from .feed import DEFAULT_SYMBOLS, HttpPollFeed, JsonLinesFeed, RandomWalkFeed, Tick

__all__ = [
    "DEFAULT_SYMBOLS",
    "HttpPollFeed",
    "JsonLinesFeed",
    "RandomWalkFeed",
    "Tick",
    "TickerServer",
    "make_hub",
]
