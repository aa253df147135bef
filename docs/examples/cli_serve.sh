# Samples for docs/cli.md: `tether serve`.  Each section is a command that runs until
# stopped; tests/docs/test_cli_samples.py starts it with PORT set, waits for the banner,
# talks to it and stops it with SIGTERM.  (Not a script to run from top to bottom.)

# --8<-- [start:echo]
tether serve                          # echo server on ws://127.0.0.1:$PORT/ (default 8765)
# --8<-- [end:echo]

# --8<-- [start:broadcast]
tether serve --mode broadcast         # every message goes to every client
# --8<-- [end:broadcast]

# --8<-- [start:static]
mkdir -p site && echo '<h1>hello</h1>' > site/index.html
tether serve --static site            # http://127.0.0.1:$PORT/ and ws:// on one port
# --8<-- [end:static]
