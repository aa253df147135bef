"""Qt-style: a WebSocket whose reconnect property reopens it after a loss.

    python3 clients_signals_reconnect.py ws://127.0.0.1:8765/
"""

import sys

from tether.signals import EventLoop, WebSocket

app = EventLoop()
ws = WebSocket(reconnect=True, backoff_initial=0.5, backoff_max=30)
ws.connected.connect(lambda: ws.send_text_message("subscribe prices"))
ws.text_message_received.connect(lambda message: print("<", message))
ws.reconnecting.connect(lambda attempt, delay: print(f"reconnecting (attempt {attempt})"))


@ws.disconnected.connect
def closed():
    print("closed with", int(ws.close_code))
    if ws.close_code not in ws.retry_on_close:   # 1000, 1008, ...: no reconnection
        app.quit()


ws.open(sys.argv[1] if len(sys.argv) > 1 else "ws://127.0.0.1:8765/")
app.exec()
