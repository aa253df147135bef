"""Stock-ticker client in the Qt style: signals and slots on a ``WebSocket``.

Like a Qt application: connect slots to ``connected`` and ``text_message_received``,
then run the event loop::

    tether demo --port 8000 &
    python3 examples/ticker_client_qt_style.py --url ws://127.0.0.1:8000/ AAPL MSFT
"""

from __future__ import annotations

import argparse
import sys

from tether.pubsub import protocol
from tether.signals import EventLoop, Signal, SocketError, WebSocket


class TickerClient:
    """Subscribes to a few symbols and prints each price change."""

    finished = Signal()

    def __init__(self, url: str, symbols: list[str], count: int | None) -> None:
        self.symbols = symbols
        self.count = count
        self.seen = 0
        self.failed = False
        self._socket = WebSocket()
        self._socket.connected.connect(self.on_connected)
        self._socket.text_message_received.connect(self.on_message)
        self._socket.error_occurred.connect(self.on_error)
        self._socket.disconnected.connect(self.finished)
        self._socket.open(url)

    def on_connected(self) -> None:
        self._socket.send_text_message(protocol.subscribe_request(self.symbols, id=1))

    def on_message(self, text: str) -> None:
        msg = protocol.parse_server_message(text)
        if msg.op == "subscribed":
            print("subscribed to", ", ".join(msg.topics), flush=True)
        elif msg.op == "error":
            print("error:", msg.error, file=sys.stderr, flush=True)
            self.failed = True
            self._socket.close()
        elif msg.op == "message":
            d = msg.data
            print(f"{d['symbol']:<5} {d['price']:>10.2f} {d['change']:+8.2f}", flush=True)
            self.seen += 1
            if self.count is not None and self.seen >= self.count:
                self._socket.close()

    def on_error(self, error: SocketError) -> None:
        print("error:", self._socket.error_string, file=sys.stderr, flush=True)
        self.failed = True
        self.finished.emit()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="print price changes of a few stocks")
    parser.add_argument("symbols", nargs="*", default=["AAPL", "MSFT", "GOOG"])
    parser.add_argument("--url", default="ws://127.0.0.1:8000/")
    parser.add_argument("--count", type=int, help="stop after this many price changes")
    args = parser.parse_args(argv)
    app = EventLoop()
    client = TickerClient(args.url, args.symbols, args.count)
    client.finished.connect(app.quit)
    app.exec()
    return 1 if client.failed else 0


if __name__ == "__main__":
    sys.exit(main())
