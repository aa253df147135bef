"""Plain HTTP file serving for ``tether serve --static DIR``, beside the WebSocket.

Only what a development server needs: ``GET`` and ``HEAD``, a content type from the
file name, ``index.html`` for a directory, a redirect from ``/dir`` to ``/dir/``, and
nothing outside DIR: a ``..`` segment (also as ``%2e%2e``), a NUL byte or a backslash
is refused with 403, and so is a symbolic link leading out of DIR.  Files are read
whole into memory (it is a development tool, not a CDN).
"""

from __future__ import annotations

import email.utils
import mimetypes
import os
import urllib.parse
from pathlib import Path

from ..core.handshake import http_response, reject
from ..core.http11 import Request, Response

__all__ = ["StaticFiles"]

#: Larger files get 413 rather than being read into memory.
MAX_FILE_SIZE = 256 * 2**20

_TEXT_TYPES = ("application/javascript", "application/json", "image/svg+xml",
               "application/xml")


def content_type(path: Path) -> str:
    ctype, encoding = mimetypes.guess_type(path.name)
    if ctype is None or encoding is not None:  # .gz etc.: serve the bytes as they are
        return "application/octet-stream"
    if ctype.startswith("text/") or ctype in _TEXT_TYPES:
        return f"{ctype}; charset=utf-8"
    return ctype


class StaticFiles:
    """Answers plain HTTP requests from the files under ``root``."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise NotADirectoryError(f"--static: {root} is not a directory")

    def __call__(self, request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return reject(405, "Only GET and HEAD are served here.",
                          headers=[("Allow", "GET, HEAD")])
        head = request.method == "HEAD"
        raw_path = request.target.split("?", 1)[0].split("#", 1)[0]
        if not raw_path.startswith("/"):
            return self._answer(reject(400, "Bad request target."), head)
        try:
            path = urllib.parse.unquote(raw_path, errors="strict")
        except UnicodeDecodeError:
            return self._answer(reject(400, "Bad request target."), head)
        segments = path.split("/")
        if any(s in ("..", ".") for s in segments) or "\x00" in path or "\\" in path:
            return self._answer(reject(403, "Forbidden."), head)
        target = self.root.joinpath(*[s for s in segments if s])
        try:
            resolved = target.resolve()
        except (OSError, RuntimeError):
            return self._answer(reject(404, "Not found."), head)
        if resolved != self.root and self.root not in resolved.parents:
            return self._answer(reject(403, "Forbidden."), head)  # a link out of the root
        if resolved.is_dir():
            if not raw_path.endswith("/"):
                location = raw_path + "/"
                return self._answer(http_response(301, f"Moved to {location}\n",
                                                  headers=[("Location", location)]), head)
            resolved = resolved / "index.html"
        try:
            if not resolved.is_file():
                return self._answer(reject(404, "Not found."), head)
            stat = resolved.stat()
            if stat.st_size > MAX_FILE_SIZE:
                return self._answer(reject(413, "File too large for this server."), head)
            body = resolved.read_bytes()
        except PermissionError:
            return self._answer(reject(403, "Forbidden."), head)
        except OSError:
            return self._answer(reject(404, "Not found."), head)
        response = http_response(200, body, content_type(resolved), headers=[
            ("Last-Modified", email.utils.formatdate(stat.st_mtime, usegmt=True)),
            ("Cache-Control", "no-cache"),
            ("X-Content-Type-Options", "nosniff"),
        ])
        return self._answer(response, head)

    @staticmethod
    def _answer(response: Response, head: bool) -> Response:
        if head:
            response.headers.set("Content-Length", str(len(response.body)))
            response.body = b""
        return response
