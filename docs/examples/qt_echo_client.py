"""Qt's echo client in tether, against an echo server of the same kind."""

import sys

# --8<-- [start:server]
from tether.signals import EventLoop, Signal, SslMode, WebSocket, WebSocketServer, sender


def on_new_connection():
    client = server.next_pending_connection()
    client.text_message_received.connect(lambda message: sender().send_text_message(message))


app = EventLoop()                       # QCoreApplication
server = WebSocketServer("Echo Server", SslMode.NON_SECURE_MODE)
if server.listen("127.0.0.1", 0):       # 0: a free port
    server.new_connection.connect(on_new_connection)
# --8<-- [end:server]

# --8<-- [start:client]
class EchoClient:
    closed = Signal()

    def __init__(self, url):
        self._web_socket = WebSocket()
        self._web_socket.connected.connect(self.on_connected)
        self._web_socket.disconnected.connect(self.closed)
        self._web_socket.open(url)

    def on_connected(self):
        self._web_socket.text_message_received.connect(self.on_text_message_received)
        self._web_socket.send_text_message("Hello, world!")

    def on_text_message_received(self, message):
        print("Message received:", message)
        self._web_socket.close()


client = EchoClient(f"ws://127.0.0.1:{server.server_port}")
client.closed.connect(app.quit)
sys.exit(app.exec())
# --8<-- [end:client]
