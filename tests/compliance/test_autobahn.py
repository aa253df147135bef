"""The Autobahn|Testsuite, both sides, inside the test command.

Every case of 1.*-10.* and 12.*-13.* (permessage-deflate) must come out OK or
INFORMATIONAL, for the behaviour and for the close behaviour: no NON-STRICT,
FAILED or UNIMPLEMENTED, and no case missing.  The server side (wstest's fuzzing
client against tether's echo server) and the client side (tether's client testee
against wstest's fuzzing server) run at the same time, one per core, because the
compression cases take minutes.  Marked ``slow``: ``scripts/test.sh --quick``
leaves them out.  Reports land in ``reports/autobahn/<side>/index.html``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUN = ROOT / "compliance" / "run.py"
OUTDIR = ROOT / "reports" / "autobahn"

#: Every case wstest has but the 11.* it doesn't (and 8.*, which doesn't exist).
CASES = "1.*,2.*,3.*,4.*,5.*,6.*,7.*,9.*,10.*,12.*,13.*"
EXPECTED_CASES = 517


@pytest.mark.slow
@pytest.mark.timeout(2700)
def test_autobahn_server_and_client_sides() -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    procs = {
        side: subprocess.Popen(
            [sys.executable, str(RUN), "--side", side, "--cases", CASES,
             "--outdir", str(OUTDIR)],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for side in ("server", "client")
    }
    outputs = {side: proc.communicate(timeout=2500)[0] for side, proc in procs.items()}
    failures = []
    for side, proc in procs.items():
        sys.stdout.write(outputs[side][-5000:])
        summary_file = OUTDIR / side / "summary.json"
        assert summary_file.exists(), f"no Autobahn summary for the {side} side"
        summary = json.loads(summary_file.read_text())
        counts = summary["counts"]
        print(f"Autobahn {side} side: {summary['total']} cases, {counts}")
        if proc.returncode != 0:
            failures.append(f"{side}: run.py exited {proc.returncode}: {summary['non_ok'][:20]}")
        for bad in ("NON-STRICT", "FAILED", "UNIMPLEMENTED"):
            if counts.get(bad, 0) or summary["behaviorClose"].get(bad, 0):
                failures.append(f"{side}: {bad}: {summary['non_ok'][:20]}")
        if summary["total"] != EXPECTED_CASES or summary["missing"]:
            failures.append(f"{side}: {summary['total']} cases, missing {summary['missing']}")
    assert not failures, "\n".join(failures)
