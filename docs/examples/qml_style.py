"""The QML way: objects declared with their properties and slots."""

from tether.signals import EventLoop, Status, WebSocket, WebSocketServer

app = EventLoop()


def on_client_connected(socket):
    socket.text_message_received.connect(lambda message: socket.send_text_message(message.upper()))


# --8<-- [start:declared]
server = WebSocketServer(host="127.0.0.1", port=0, listen=True,
                         on_client_connected=on_client_connected)


def on_status_changed(status):
    print("status:", status.name)
    if status is Status.OPEN:
        ws.send_text_message("hello from a declared socket")
    elif status is Status.CLOSED:
        app.quit()


def on_text_message_received(message):
    print("received:", message)
    ws.active = False                   # closes the socket


ws = WebSocket(url=f"ws://127.0.0.1:{server.port}", active=True,
               on_status_changed=on_status_changed,
               on_text_message_received=on_text_message_received)
# --8<-- [end:declared]
app.exec()
