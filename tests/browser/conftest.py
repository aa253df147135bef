"""Headless Chromium (Debian's ``chromium``) driven by Playwright for Python.

The system browser is used (``executable_path``); ``playwright install`` is never run.
A missing browser or Playwright fails the tests (scripts/install-browser.sh installs
them); nothing is skipped.  wss:// works through ``--ignore-certificate-errors-spki-list``
with the SPKI hash of the test certificate (made by tests/support/certs.py).
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import certs
from tests.support.certs import CertBundle
from tests.support.redis_server import free_port

tls_certs = certs.tls_certs  # the fixture

ROOT = Path(__file__).resolve().parents[2]
ENV = dict(os.environ, PYTHONPATH=os.pathsep.join(
    p for p in (str(ROOT / "src"), os.environ.get("PYTHONPATH")) if p))
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def spki_hash(cert_pem: Path) -> str:
    """base64(sha256(SubjectPublicKeyInfo)) of the first certificate in the file."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    cert = x509.load_pem_x509_certificate(cert_pem.read_bytes())
    spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


@pytest.fixture(scope="module")
def browser(tls_certs: CertBundle) -> Iterator[Any]:
    """A persistent Chromium context with a fresh profile, trusting the test cert.

    Module-scoped on purpose: Playwright's sync API keeps an asyncio loop marked as
    running in the main thread while it is started, and every later test that calls
    ``asyncio.run()`` would fail; it stops at the end of each browser test module.
    """
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is missing: run scripts/install-browser.sh", pytrace=False)
    if not os.path.exists(CHROMIUM):
        pytest.fail("chromium is missing: run scripts/install-browser.sh", pytrace=False)
    profile = tempfile.mkdtemp(prefix="tether-chromium-")
    flags = [*FLAGS, f"--ignore-certificate-errors-spki-list={spki_hash(tls_certs.server.cert)}"]
    with sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=flags)
        try:
            yield ctx
        finally:
            ctx.close()
            shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    pg = browser.new_page()
    pg.set_default_timeout(30_000)  # a guard against hanging, not a threshold
    try:
        yield pg
    finally:
        pg.close()


class DemoProcess:
    """``tether demo`` in a subprocess, restartable on the same port."""

    def __init__(self, tls: CertBundle | None) -> None:
        self.port = free_port()
        self.tls = tls
        self.proc: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://localhost:{self.port}/"

    def start(self) -> None:
        args = [sys.executable, "-m", "tether.cli.main", "demo", "--port", str(self.port),
                "--ticks", "8"]
        if self.tls:
            args += ["--certfile", str(self.tls.server.cert),
                     "--keyfile", str(self.tls.server.key)]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, env=ENV)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert "tether demo: open" in line, line

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(15)
        if self.proc is not None and self.proc.stdout:
            self.proc.stdout.close()
        self.proc = None


@pytest.fixture(params=["ws", "wss"])
def demo(request: pytest.FixtureRequest, tls_certs: CertBundle) -> Iterator[DemoProcess]:
    d = DemoProcess(tls_certs if request.param == "wss" else None)
    d.start()
    try:
        yield d
    finally:
        d.stop()
