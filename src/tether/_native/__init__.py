"""The hot path behind one seam: frame parsing, masking, UTF-8 decoding.

The core imports these names from here and from nowhere else, so a compiled
implementation drops in without touching the core.  Today only the pure-Python
implementation exists (:mod:`tether._native._python`); setting
``TETHER_NO_EXTENSIONS=1`` forces it even when a compiled one is present.
"""

from __future__ import annotations

import os

from ._python import Utf8Decoder, apply_mask, parse_frames

IMPLEMENTATION = "python"

if not os.environ.get("TETHER_NO_EXTENSIONS"):  # pragma: no cover - no compiled module yet
    try:
        from ._speedups import (  # type: ignore[import-not-found,no-redef]
            Utf8Decoder,
            apply_mask,
            parse_frames,
        )

        IMPLEMENTATION = "compiled"
    except ImportError:
        pass

__all__ = ["IMPLEMENTATION", "Utf8Decoder", "apply_mask", "parse_frames"]
