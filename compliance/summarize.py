#!/usr/bin/env python3
"""Summarise an Autobahn|Testsuite report (the index.json that wstest writes).

    python3 compliance/summarize.py REPORT [--agent AGENT] [--expect N] [--json FILE]

REPORT is an index.json or the folder holding it.  Prints, for one agent (or each agent in
the report), the number of cases per behaviour (OK, NON-STRICT, FAILED, UNIMPLEMENTED,
INFORMATIONAL, and any other value wstest used) for ``behavior`` and for ``behaviorClose``,
the same per case group (1, 2, ..., 13), the summed case durations per group, and every
non-OK case with wstest's reason, taken from the per-case JSON report.

A case is non-OK when its ``behavior`` is not OK/INFORMATIONAL or its ``behaviorClose`` is
not OK/INFORMATIONAL (wstest also uses WRONG CODE, UNCLEAN and FAILED BY CLIENT there).

Exit status: 0 when every case is OK or INFORMATIONAL (both fields) and at least --expect
cases were reported; 1 otherwise; 2 when the report is missing, unreadable or empty.

Stdlib only; run.py imports it (``summarize()``, ``format_summary()``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from typing import Any

# The behaviours always shown, in this order; other values seen are appended.
BEHAVIORS = ["OK", "NON-STRICT", "FAILED", "UNIMPLEMENTED", "INFORMATIONAL"]
# What does not count against an implementation.
PASSING = {"OK", "INFORMATIONAL"}
SHORT = {
    "OK": "OK",
    "NON-STRICT": "NS",
    "FAILED": "FAIL",
    "UNIMPLEMENTED": "UNIMP",
    "INFORMATIONAL": "INFO",
    "WRONG CODE": "WCODE",
    "UNCLEAN": "UNCLN",
    "FAILED BY CLIENT": "FBC",
}


def case_key(case_id: str) -> tuple[int, ...]:
    """'9.1.10' -> (9, 1, 10), for numeric sorting of case ids."""
    return tuple(int(p) for p in case_id.split(".") if p.isdigit())


def case_group(case_id: str) -> str:
    """'9.1.10' -> '9'."""
    return case_id.split(".", 1)[0]


def load_index(path: str) -> tuple[dict[str, Any], str]:
    """Read index.json (or DIR/index.json); returns (index, folder of the report)."""
    if os.path.isdir(path):
        path = os.path.join(path, "index.json")
    with open(path, encoding="utf-8") as f:
        index = json.load(f)
    if not isinstance(index, dict):
        raise ValueError(f"{path}: not a wstest index (expected an object of agents)")
    return index, os.path.dirname(os.path.abspath(path))


def _case_reasons(report_dir: str, entry: dict[str, Any]) -> dict[str, Any]:
    """wstest's own words for one case, from its per-case JSON report (if present)."""
    name = entry.get("reportfile")
    if not name:
        return {}
    try:
        with open(os.path.join(report_dir, name), encoding="utf-8") as f:
            rep = json.load(f)
    except (OSError, ValueError):
        return {}
    return {
        "description": rep.get("description"),
        "expectation": rep.get("expectation"),
        "result": rep.get("result"),
        "resultClose": rep.get("resultClose"),
        "wasClean": rep.get("wasClean"),
        "wasNotCleanReason": rep.get("wasNotCleanReason"),
    }


def summarize(
    cases: dict[str, dict[str, Any]],
    report_dir: str | None = None,
    expect: int | None = None,
    expect_ids: list[str] | None = None,
) -> dict[str, Any]:
    """Summarise one agent's cases ({case id: index entry}) as a JSON-able dict.

    ``expect`` is the number of cases that should be there, ``expect_ids`` (optional) their
    ids, to name the missing ones.
    """
    ids = sorted(cases, key=case_key)
    counts: Counter[str] = Counter()
    counts_close: Counter[str] = Counter()
    groups: dict[str, dict[str, Any]] = {}
    non_ok = []
    for cid in ids:
        entry = cases[cid]
        b = entry.get("behavior", "?")
        bc = entry.get("behaviorClose", "?")
        counts[b] += 1
        counts_close[bc] += 1
        g = groups.setdefault(
            case_group(cid),
            {"total": 0, "behavior": Counter(), "behaviorClose": Counter(), "duration_ms": 0},
        )
        g["total"] += 1
        g["behavior"][b] += 1
        g["behaviorClose"][bc] += 1
        g["duration_ms"] += entry.get("duration") or 0
        if b not in PASSING or bc not in PASSING:
            item = {
                "case": cid,
                "behavior": b,
                "behaviorClose": bc,
                "remoteCloseCode": entry.get("remoteCloseCode"),
                "duration_ms": entry.get("duration"),
            }
            if report_dir:
                item.update(_case_reasons(report_dir, entry))
            non_ok.append(item)

    def ordered(c: Counter[str]) -> dict[str, int]:
        # The five standard behaviours first (even when 0), then any other value seen.
        return {b: c.get(b, 0) for b in BEHAVIORS} | {
            b: n for b, n in sorted(c.items()) if b not in BEHAVIORS
        }

    for g in groups.values():
        g["behavior"] = ordered(g["behavior"])
        g["behaviorClose"] = ordered(g["behaviorClose"])
    if expect is None and expect_ids is not None:
        expect = len(expect_ids)
    missing = max(0, expect - len(ids)) if expect else 0
    missing_cases = [c for c in expect_ids or [] if c not in cases]
    return {
        "total": len(ids),
        "expected": expect,
        "missing": missing,
        "missing_cases": missing_cases,
        "behavior": ordered(counts),
        "behaviorClose": ordered(counts_close),
        "counts": ordered(counts),  # = behavior (the name other tools read)
        "groups": dict(sorted(groups.items(), key=lambda kv: case_key(kv[0]))),
        "non_ok": non_ok,
        # Per-case durations (ms from open to connection lost) for the slow 9.* cases.
        "durations_9_ms": {cid: cases[cid].get("duration") for cid in ids if cid.startswith("9.")},
        "passed": not non_ok and not missing and bool(ids),
    }


def _cols(s: dict[str, Any]) -> list[str]:
    """Behaviour columns to print: the standard five plus any extra value seen anywhere."""
    cols = list(BEHAVIORS)
    for key in ("behavior", "behaviorClose"):
        cols += [b for b in s[key] if b not in cols]
    return cols


def _abbrev(ids: list[str], n: int = 12) -> str:
    """'1.1.1, 1.1.2, ... (40 more)'."""
    more = f", ... ({len(ids) - n} more)" if len(ids) > n else ""
    return ", ".join(ids[:n]) + more


def format_summary(
    agent: str, s: dict[str, Any], *, reasons: bool = True, max_listed: int = 60
) -> str:
    """Human-readable text for one agent's summary (lists at most `max_listed` non-OK
    cases; the JSON summary has them all)."""
    cols = _cols(s)
    out = []
    expected = f" of {s['expected']} expected" if s.get("expected") else ""
    out.append(f"agent {agent}: {s['total']} cases{expected}")
    width = max(len(b) for b in cols)
    out.append(f"  {'':{width}}  behavior  behaviorClose")
    for b in cols:
        out.append(
            f"  {b:{width}}  {s['behavior'].get(b, 0):8d}  {s['behaviorClose'].get(b, 0):13d}"
        )
    # Per group: behavior counts | behaviorClose counts, short column names.
    head = " ".join(f"{SHORT.get(b, b[:5]):>5}" for b in cols)
    out.append(f"  group  total | behavior: {head} | close: {head} | case time")
    for g, c in s["groups"].items():
        beh = " ".join(f"{c['behavior'].get(b, 0):5d}" for b in cols)
        clo = " ".join(f"{c['behaviorClose'].get(b, 0):5d}" for b in cols)
        out.append(
            f"  {g:>5}  {c['total']:5d} |           {beh} |        {clo} |"
            f" {c['duration_ms'] / 1000:8.1f}s"
        )
    slow = sorted(s.get("durations_9_ms", {}).items(), key=lambda kv: -(kv[1] or 0))[:5]
    if slow:
        out.append(
            "  slowest 9.* cases: " + ", ".join(f"{c} {(ms or 0) / 1000:.1f}s" for c, ms in slow)
        )
    if s["non_ok"]:
        out.append(
            f"  non-OK cases ({len(s['non_ok'])}): case  behavior / behaviorClose  close code"
        )
        for c in s["non_ok"][:max_listed]:
            out.append(
                f"    {c['case']:9} {c['behavior']:13} / {c['behaviorClose']:16}"
                f" {c['remoteCloseCode']}"
            )
            if reasons:
                for key in ("result", "resultClose"):
                    if c.get(key):
                        out.append(f"              {key}: {c[key]}")
        if len(s["non_ok"]) > max_listed:
            out.append(
                f"    ... and {len(s['non_ok']) - max_listed} more (all in the JSON summary)"
            )
    if s["missing"]:
        out.append(f"  MISSING: {s['missing']} of {s['expected']} cases were never reported")
        if s.get("missing_cases"):
            out.append(f"    {_abbrev(s['missing_cases'])}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("report", help="index.json written by wstest, or the folder holding it")
    ap.add_argument("--agent", help="agent to summarise (default: every agent in the report)")
    ap.add_argument("--expect", type=int, help="number of cases that must be reported")
    ap.add_argument("--json", help="also write the summary as JSON to this file")
    ap.add_argument("--no-reasons", action="store_true", help="do not print wstest's reasons")
    a = ap.parse_args(argv)

    try:
        index, report_dir = load_index(a.report)
    except (OSError, ValueError) as e:
        print(f"no usable report: {e}", file=sys.stderr)
        return 2
    agents = [a.agent] if a.agent else sorted(index)
    if not agents or any(not index.get(ag) for ag in agents):
        print(f"no results for agent(s) {agents} in {a.report}", file=sys.stderr)
        return 2

    out = {}
    for ag in agents:
        s = summarize(index[ag], report_dir, a.expect)
        out[ag] = s
        print(format_summary(ag, s, reasons=not a.no_reasons))
        print(f"  RESULT: {'PASS' if s['passed'] else 'FAIL'}")
    if a.json:
        with open(a.json, "w", encoding="utf-8") as f:
            json.dump(out, f, indent=2)
    return 0 if all(s["passed"] for s in out.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
