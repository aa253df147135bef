"""The stock-ticker page in headless Chromium, over ws:// and wss://."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import DemoProcess


def open_ticker(page: Any, demo: DemoProcess) -> None:
    page.goto(demo.url)
    page.wait_for_selector('#status[data-state="connected"]')
    # The page subscribes to the first three symbols by itself.
    page.wait_for_function("window.ticker.selected.size === 3")


def test_prices_arrive_and_change(page: Any, demo: DemoProcess) -> None:
    open_ticker(page, demo)
    page.wait_for_function("(window.ticker.bySymbol.AAPL || 0) >= 2")
    first = page.inner_text("#row-AAPL .price")
    assert first.replace(".", "").isdigit()
    page.wait_for_function(
        "t => document.querySelector('#row-AAPL .price').textContent !== t", arg=first)
    # Up/down colouring and the chart are there.
    page.wait_for_selector("#row-AAPL .price.up, #row-AAPL .price.down")
    assert page.evaluate(
        "document.querySelector('#row-AAPL canvas').toDataURL().length") > 500
    # Only subscribed symbols arrive.
    assert set(page.evaluate("Object.keys(window.ticker.bySymbol)")) <= {"AAPL", "MSFT", "GOOG"}


def test_unsubscribe_stops_prices(page: Any, demo: DemoProcess) -> None:
    open_ticker(page, demo)
    page.wait_for_function("(window.ticker.bySymbol.AAPL || 0) >= 1")
    page.uncheck("#pick-AAPL")
    page.wait_for_function(
        "window.ticker.acks.some(a => a.op === 'unsubscribed' && a.topics.includes('AAPL'))")
    stopped_at = page.evaluate("window.ticker.bySymbol.AAPL")
    msft = page.evaluate("window.ticker.bySymbol.MSFT || 0")
    # While MSFT ticks ten more times, AAPL does not move.
    page.wait_for_function(f"(window.ticker.bySymbol.MSFT || 0) >= {msft + 10}")
    assert page.evaluate("window.ticker.bySymbol.AAPL") == stopped_at
    assert page.query_selector("#row-AAPL") is None
    # Subscribing again brings it back (with the current price at once).
    page.check("#pick-AAPL")
    page.wait_for_function(f"window.ticker.bySymbol.AAPL > {stopped_at}")
    page.wait_for_selector("#row-AAPL .price[data-price]")


def test_page_reconnects_after_server_restart(page: Any, demo: DemoProcess) -> None:
    open_ticker(page, demo)
    page.wait_for_function("(window.ticker.bySymbol.GOOG || 0) >= 1")
    demo.stop()
    page.wait_for_selector('#status[data-state="disconnected"]')
    demo.start()
    page.wait_for_function("window.ticker.connects >= 2 && window.ticker.status === 'connected'")
    before = page.evaluate("window.ticker.messages")
    page.wait_for_function(f"window.ticker.messages >= {before + 3}")
    # The page subscribed again to what was selected.
    assert page.evaluate("[...window.ticker.selected].sort()") == ["AAPL", "GOOG", "MSFT"]


def test_echo_page_still_served(page: Any, demo: DemoProcess) -> None:
    page.goto(demo.url + "echo")
    page.wait_for_function(
        "document.getElementById('status').textContent.startsWith('connected')")
