"""``QMaskGenerator``: where a client's 32-bit frame masking keys come from."""

from __future__ import annotations

import os
from collections.abc import Callable

__all__ = ["MaskGenerator", "mask_function"]


class MaskGenerator:
    """A source of masking keys for the frames a client sends.

    Subclass it and override :meth:`next_mask` (and :meth:`seed`), as with Qt's
    ``QMaskGenerator``, then set it as :attr:`WebSocket.mask_generator`; or give that
    property any callable returning 4 bytes.  RFC 6455 wants keys "derived from a strong
    source of entropy" (section 10.3): this default reads the OS's CSPRNG.  A fixed key
    is for tests only.
    """

    def seed(self) -> bool:
        """Prepare the generator; called when a socket starts using it.  Whether it worked."""
        return True

    def next_mask(self) -> int:
        """The next masking key, an unsigned 32-bit integer."""
        return int.from_bytes(os.urandom(4), "big")


MaskSource = MaskGenerator | Callable[[], bytes]


def mask_function(source: MaskSource | None) -> Callable[[], bytes] | None:
    """A ``() -> 4 bytes`` callable for the protocol core, from either kind of source."""
    if source is None:
        return None
    if isinstance(source, MaskGenerator):
        gen = source
        gen.seed()

        def next_key() -> bytes:
            return (gen.next_mask() & 0xFFFFFFFF).to_bytes(4, "big")

        return next_key
    if not callable(source):
        raise TypeError("mask_generator takes a MaskGenerator or a callable returning 4 bytes")
    fn = source

    def checked() -> bytes:
        key = bytes(fn())
        if len(key) != 4:
            raise ValueError(f"a masking key is 4 bytes, not {len(key)}")
        return key

    return checked
