"""The same with the blocking API: connect(..., reconnect=True) is an iterator.

    python3 clients_sync_reconnect.py ws://127.0.0.1:8765/
"""

import sys

import tether
from tether.sync import connect

url = sys.argv[1] if len(sys.argv) > 1 else "ws://127.0.0.1:8765/"

for ws in connect(url, reconnect=True, backoff_initial=0.5, backoff_max=30):
    ws.send("subscribe prices")
    try:
        for message in ws:
            print("<", message)
    except tether.ConnectionClosed:
        pass
    print("closed with", ws.close_code)
