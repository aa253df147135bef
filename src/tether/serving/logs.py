"""Log lines for connection events, as text or JSON (one object per line).

Connection events go to the ``tether.access`` logger with ``extra`` fields
(``event``, ``conn``, ``client``, ``path``, ``code``, ...); the JSON formatter writes
every such field, so a log pipeline can index them.
"""

from __future__ import annotations

import datetime
import json
import logging
from typing import Any

__all__ = ["JsonFormatter", "access_log", "configure"]

access_log = logging.getLogger("tether.access")

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """``{"ts": ..., "level": ..., "logger": ..., "msg": ..., <extra fields>}``."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.datetime.fromtimestamp(record.created, datetime.UTC)
            .isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "pid": record.process,
        }
        for key, value in vars(record).items():
            if key in _STANDARD or key.startswith("_") or key == "connection":
                continue
            out[key] = value if isinstance(value, (str, int, float, bool, type(None))) \
                else str(value)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, separators=(",", ":"))


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure(fmt: str = "text", level: int = logging.INFO) -> None:
    """Log to stderr in ``fmt`` ("text" or "json"), replacing the root handlers' format."""
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=level)
    formatter = JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT)
    for handler in root.handlers:
        handler.setFormatter(formatter)
