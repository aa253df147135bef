# Samples for docs/cli.md: commands that talk to a running `tether serve`.
# tests/docs/test_cli_samples.py runs each section with PORT and URL set
# (URL=ws://127.0.0.1:$PORT/) and checks what it prints.

# --8<-- [start:pipe]
echo hello | tether connect "$URL"
# --8<-- [end:pipe]

# --8<-- [start:execute]
tether connect -x hello -x world "$URL"
# --8<-- [end:execute]

# --8<-- [start:commands]
printf '/binary 00ff\n/b64 aGk=\n/ping\n' | tether connect "$URL"
# --8<-- [end:commands]

# --8<-- [start:json]
printf 'hi\n/binary 00ff\n/close 4000 done\n' | tether connect --json "$URL"
# --8<-- [end:json]

# --8<-- [start:json-jq]
tether connect --json -x '{"op": "sum", "args": [1, 2]}' "$URL" |
  python3 -c 'import json, sys
for line in sys.stdin:
    event = json.loads(line)
    if event["event"] == "message":
        print(json.loads(event["data"])["op"])'
# --8<-- [end:json-jq]

# --8<-- [start:script]
if reply=$(tether connect -x ping-me "$URL"); then
  echo "server answered: ${reply#< }"
else
  echo "no answer (exit status $?)" >&2
fi
# --8<-- [end:script]

# --8<-- [start:static]
curl -s "http://127.0.0.1:$PORT/"
curl -s -o /dev/null -w '%{http_code}\n' --path-as-is "http://127.0.0.1:$PORT/../etc/passwd"
# --8<-- [end:static]

# --8<-- [start:bench]
tether bench --connections 4 --count 2000 "$URL"
# --8<-- [end:bench]

# --8<-- [start:bench-json]
tether bench --json --rate 500 --count 500 --binary --size 256 "$URL" |
  python3 -c 'import json, sys; s = json.load(sys.stdin); print(s["received"], s["latency_ms"]["p99"] is not None)'
# --8<-- [end:bench-json]
