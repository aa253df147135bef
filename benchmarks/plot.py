"""Draw the server-CPU chart from a run's results.

    python3 benchmarks/plot.py [results.json] [out.png]

Defaults: ``benchmarks/results/results.json`` -> ``docs/performance.png``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

HERE = Path(__file__).resolve().parent
ORDER = ["raw", "picows", "tether", "tether-cb", "tether-pure", "websockets", "websockets-pure",
         "aiohttp"]
LABELS = {"raw": "raw TCP (uvloop)", "picows": "picows", "tether": "tether (recv/send)",
          "tether-cb": "tether (listener)", "tether-pure": "tether pure Python",
          "websockets": "websockets", "websockets-pure": "websockets, no C speedups",
          "aiohttp": "aiohttp"}
COLS = [("echo 64", "64 B"), ("echo 1024", "1 KiB"), ("echo 16384", "16 KiB"),
        ("echo 262144", "256 KiB"), ("echo 1048576", "1 MiB"),
        ("pipelined 64", "64 B, 100\nin flight"), ("broadcast", "broadcast\ndelivery"),
        ("handshake", "handshake")]


def main() -> None:
    if sys.argv[1:2] in (["-h"], ["--help"]):
        print(__doc__)
        return
    src = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "results" / "results.json"
    dst = Path(sys.argv[2]) if len(sys.argv) > 2 else HERE.parent / "docs" / "performance.png"
    data = json.loads(src.read_text())
    medians = data["medians"]
    servers = [s for s in ORDER if s in medians]
    fig, ax = plt.subplots(figsize=(12, 5.5))
    width = 0.8 / len(servers)
    for i, s in enumerate(servers):
        xs, ys = [], []
        for j, (key, _) in enumerate(COLS):
            if key in medians[s]:
                xs.append(j + (i - (len(servers) - 1) / 2) * width)
                ys.append(medians[s][key])
        ax.bar(xs, ys, width, label=LABELS[s])
    ax.set_yscale("log")
    ax.set_xticks(range(len(COLS)), [c[1] for c in COLS])
    ax.set_ylabel("server CPU time per operation, µs (log scale; lower is better)")
    meta = data["meta"]
    ax.set_title(f"Server CPU per operation, median of {meta['rounds']} rounds "
                 f"(2 cores, server and client pinned apart, uvloop)")
    ax.grid(axis="y", which="both", alpha=0.3)
    ax.legend(ncol=4, fontsize=8)
    fig.tight_layout()
    dst.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(dst, dpi=110)
    print(f"wrote {dst}")


if __name__ == "__main__":
    main()
