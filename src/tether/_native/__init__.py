"""The hot path behind one seam: frame parsing and building, masking, UTF-8 decoding.

The core imports these names from here and from nowhere else, so a compiled
implementation drops in without touching the core.  Two implementations give the
same answers (``tests/_native/test_parity.py``): the compiled one
(:mod:`tether._native._speedups`, plain C, built by ``setup.py`` when a compiler is
there) and the pure-Python one (:mod:`tether._native._python`), the fallback and the
reference.  Setting ``TETHER_NO_EXTENSIONS=1`` forces the pure-Python one even when the
compiled one is present.  ``IMPLEMENTATION`` says which one loaded.
"""

from __future__ import annotations

import os

from ._python import (
    Utf8Decoder,
    apply_mask,
    build_frame,
    mask_inplace,
    parse_frames,
    payload_buffer,
)

IMPLEMENTATION = "python"

if not os.environ.get("TETHER_NO_EXTENSIONS"):  # pragma: no branch
    try:
        from ._speedups import (  # type: ignore[import-not-found,no-redef,unused-ignore]
            Utf8Decoder,
            apply_mask,
            build_frame,
            mask_inplace,
            parse_frames,
            payload_buffer,
        )

        IMPLEMENTATION = "compiled"
    except ImportError:
        pass

__all__ = ["IMPLEMENTATION", "Utf8Decoder", "apply_mask", "build_frame", "mask_inplace",
           "parse_frames", "payload_buffer"]
