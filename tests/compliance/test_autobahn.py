"""The Autobahn|Testsuite, both sides, inside the test command.

Every case must come out OK or INFORMATIONAL (behaviour and close behaviour):
no NON-STRICT, FAILED or UNIMPLEMENTED.  The runs are slow (minutes), so they are
marked ``slow`` and left out by ``scripts/test.sh --quick``.  Reports land in
``reports/autobahn/`` (open ``index.html`` there to read a case).
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

#: 1.*-10.*: framing, pings, reserved bits, opcodes, fragmentation, UTF-8, closing,
#: limits/performance, and 12.*/13.*: permessage-deflate.
CASES = "1.*,2.*,3.*,4.*,5.*,6.*,7.*,9.*,10.*,12.*,13.*"


def _run(side: str, outdir: Path) -> dict[str, object]:
    cmd = [sys.executable, str(RUN), "--side", side, "--cases", CASES, "--outdir", str(outdir)]
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=2400)
    sys.stdout.write(proc.stdout[-6000:])
    sys.stderr.write(proc.stderr[-3000:])
    summary_file = outdir / side / "summary.json"
    assert summary_file.exists(), f"no Autobahn summary for the {side} side: {proc.stderr[-2000:]}"
    summary: dict[str, object] = json.loads(summary_file.read_text())
    assert proc.returncode == 0, f"Autobahn {side} side: {proc.stdout[-4000:]}"
    return summary


@pytest.mark.slow
@pytest.mark.timeout(2700)
@pytest.mark.parametrize("side", ["server", "client"])
def test_autobahn(side: str) -> None:
    summary = _run(side, ROOT / "reports" / "autobahn")
    text = json.dumps(summary)
    for bad in ("NON-STRICT", "FAILED", "UNIMPLEMENTED"):
        counts = summary.get("counts")
        if isinstance(counts, dict):
            assert counts.get(bad, 0) == 0, f"{side}: {bad} cases: {text[:3000]}"
    assert summary.get("total", 0) >= 500, f"{side}: too few cases ran: {text[:500]}"
