"""permessage-deflate (RFC 7692): compress each data message with DEFLATE.

Three pieces, all sans-I/O:

* :class:`PerMessageDeflate` transforms frames once the extension is negotiated;
* :class:`ClientPerMessageDeflateFactory` makes the client's offer and checks the
  server's response;
* :class:`ServerPerMessageDeflateFactory` accepts or declines a client's offer.

Decompression is bounded: ``decode(frame, max_size=n)`` never inflates more than
``n + 1`` bytes, however small the compressed frame, so a "zip bomb" costs at
most the limit (see ``docs/compression.md``).
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from typing import Any

from ...exceptions import NegotiationError, PayloadTooBig, ProtocolError, UsageError
from ..frames import Frame, Opcode
from .base import ClientExtensionFactory, Extension, ExtensionParameter, ServerExtensionFactory

__all__ = [
    "DEFAULT_CLIENT_COMPRESS_SETTINGS",
    "DEFAULT_MIN_SIZE",
    "DEFAULT_SERVER_COMPRESS_SETTINGS",
    "DEFAULT_SERVER_MAX_WINDOW_BITS",
    "ClientPerMessageDeflateFactory",
    "PerMessageDeflate",
    "ServerPerMessageDeflateFactory",
    "enable_client_permessage_deflate",
    "enable_server_permessage_deflate",
]

NAME = "permessage-deflate"

#: Messages whose first frame carries fewer bytes than this are sent uncompressed.
DEFAULT_MIN_SIZE = 64
#: Window bits the default server asks for in both directions (4 KiB windows).
DEFAULT_SERVER_MAX_WINDOW_BITS = 12
#: zlib settings of the default factories (memLevel 5: an 8 KiB hash table instead of 128 KiB).
DEFAULT_SERVER_COMPRESS_SETTINGS: Mapping[str, int] = {"memLevel": 5}
DEFAULT_CLIENT_COMPRESS_SETTINGS: Mapping[str, int] = {"memLevel": 5}

# RFC 7692 7.2.1: "Remove 4 octets (that are 0x00 0x00 0xff 0xff) from the tail end."
# 7.2.2: "Append 4 octets of 0x00 0x00 0xff 0xff to the tail end of the payload".
_TAIL = b"\x00\x00\xff\xff"
# Below this, appending the tail (a copy) is cheaper than a second decompress() call.
_SMALL_FRAME = 4096

_SERVER_NO_CONTEXT_TAKEOVER = "server_no_context_takeover"
_CLIENT_NO_CONTEXT_TAKEOVER = "client_no_context_takeover"
_SERVER_MAX_WINDOW_BITS = "server_max_window_bits"
_CLIENT_MAX_WINDOW_BITS = "client_max_window_bits"
_PARAM_NAMES = frozenset(
    {
        _SERVER_NO_CONTEXT_TAKEOVER,
        _CLIENT_NO_CONTEXT_TAKEOVER,
        _SERVER_MAX_WINDOW_BITS,
        _CLIENT_MAX_WINDOW_BITS,
    }
)
# RFC 7692 7.1.2.1: "a decimal integer value without leading zeroes between 8 to 15".
_WINDOW_BITS_VALUES = {str(bits): bits for bits in range(8, 16)}
_COMPRESS_SETTINGS_KEYS = frozenset({"level", "memLevel", "strategy"})


def _check_window_bits(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 8 <= value <= 15:
        raise ValueError(f"{name} must be an int between 8 and 15, got {value!r}")
    return value


def _check_compress_settings(settings: Mapping[str, int] | None) -> dict[str, int]:
    settings = dict(settings or {})
    if "wbits" in settings:
        raise ValueError(
            "compress_settings must not set wbits: use the *_max_window_bits parameters"
        )
    unknown = set(settings) - _COMPRESS_SETTINGS_KEYS
    if unknown:
        raise ValueError(f"unknown compress_settings: {', '.join(sorted(unknown))}")
    _compressor(settings, -15)  # raises ValueError on a bad level / memLevel / strategy
    return settings


def _compressor(settings: Mapping[str, int], wbits: int) -> Any:
    return zlib.compressobj(
        settings.get("level", zlib.Z_DEFAULT_COMPRESSION),
        zlib.DEFLATED,
        wbits,
        settings.get("memLevel", zlib.DEF_MEM_LEVEL),
        settings.get("strategy", zlib.Z_DEFAULT_STRATEGY),
    )


def _check_min_size(min_size: int) -> int:
    if isinstance(min_size, bool) or not isinstance(min_size, int) or min_size < 0:
        raise ValueError(f"min_size must be an int >= 0, got {min_size!r}")
    return min_size


class PerMessageDeflate(Extension):
    """The negotiated extension: compresses sent messages, inflates received ones.

    ``remote_*`` describe how the peer compresses (what we inflate), ``local_*``
    how we compress.  ``compress_settings`` go to :func:`zlib.compressobj`
    (``level``, ``memLevel``, ``strategy``); ``min_size`` is the smallest first
    frame payload worth compressing.
    """

    name = NAME
    rsv_bits = 0x40  # RFC 7692 6: the "Per-Message Compressed" bit is RSV1.

    def __init__(
        self,
        remote_no_context_takeover: bool = False,
        local_no_context_takeover: bool = False,
        remote_max_window_bits: int = 15,
        local_max_window_bits: int = 15,
        compress_settings: Mapping[str, int] | None = None,
        min_size: int = DEFAULT_MIN_SIZE,
    ) -> None:
        self.remote_no_context_takeover = bool(remote_no_context_takeover)
        self.local_no_context_takeover = bool(local_no_context_takeover)
        self.remote_max_window_bits = _check_window_bits(
            "remote_max_window_bits", remote_max_window_bits
        )
        self.local_max_window_bits = _check_window_bits(
            "local_max_window_bits", local_max_window_bits
        )
        self.compress_settings = _check_compress_settings(compress_settings)
        self.min_size = _check_min_size(min_size)
        # zlib refuses raw deflate with 8 window bits; 9 is safe for a peer whose
        # window is 256 bytes because zlib never emits a distance above
        # 2**wbits - 262 = 250 (the longest match is kept out of the window's end).
        self._compress_wbits = -max(self.local_max_window_bits, 9)
        # Both objects are made lazily: an idle connection holds neither.
        self._decoder: Any = None  # zlib._Decompress
        self._encoder: Any = None  # zlib._Compress
        self._decoding: bool | None = None  # None: between messages; else "compressed?"
        self._decoder_restarted = False  # a BFINAL block ended the stream in this message
        self._encoding: bool | None = None

    def __repr__(self) -> str:
        return (
            f"PerMessageDeflate(remote_no_context_takeover={self.remote_no_context_takeover}, "
            f"local_no_context_takeover={self.local_no_context_takeover}, "
            f"remote_max_window_bits={self.remote_max_window_bits}, "
            f"local_max_window_bits={self.local_max_window_bits}, "
            f"compress_settings={self.compress_settings!r}, min_size={self.min_size})"
        )

    # -- receiving -----------------------------------------------------------

    def decode(self, frame: Frame, *, max_size: int | None = None) -> Frame:
        """Inflate a received data frame; at most ``max_size`` bytes come out."""
        if frame.opcode in (Opcode.TEXT, Opcode.BINARY):
            if self._decoding is not None:
                raise ProtocolError("new data message before the previous one ended")
            self._decoding = frame.rsv1
            self._decoder_restarted = False
        elif frame.opcode == Opcode.CONT:
            if self._decoding is None:
                raise ProtocolError("continuation frame outside a message")
            if frame.rsv1:
                # RFC 7692 6: "An endpoint MUST NOT set the "Per-Message
                # Compressed" bit of control frames and non-first fragments of a
                # data message. An endpoint receiving such a frame MUST _Fail the
                # WebSocket Connection_."
                raise ProtocolError("RSV1 set on a continuation frame")
        else:
            if frame.rsv1:
                raise ProtocolError("RSV1 set on a control frame")
            return frame  # control frames are never compressed

        if frame.fin:
            compressed, self._decoding = self._decoding, None
        else:
            compressed = self._decoding

        if not compressed:
            if max_size is not None and len(frame.payload) > max_size:
                raise PayloadTooBig(
                    f"message passes its size limit (more than {max_size} bytes from this frame)"
                )
            return frame

        if self._decoder is None:
            self._decoder = zlib.decompressobj(wbits=-self.remote_max_window_bits)
        try:
            if frame.fin and len(frame.payload) < _SMALL_FRAME:
                data = self._inflate(frame.payload + _TAIL, max_size)
            elif frame.fin:
                # Two calls rather than a copy of a large payload.
                data = self._inflate(frame.payload, max_size)
                rest = None if max_size is None else max_size - len(data)
                more = self._inflate(_TAIL, rest)
                if more:
                    data += more
            else:
                data = self._inflate(frame.payload, max_size)
        except zlib.error as exc:
            # Corrupt DEFLATE data breaks the negotiated framing: 1002, as websockets
            # and Chromium answer (ws for Node.js answers 1007).
            raise ProtocolError(f"invalid compressed data: {exc}") from exc

        if frame.fin and (self.remote_no_context_takeover or self._decoder_restarted):
            # RFC 7692 7.1.1: without context takeover the peer starts each message
            # with an empty LZ77 window; after a BFINAL block the stream is over anyway.
            self._decoder = None
        return Frame(frame.opcode, data, frame.fin, False, frame.rsv2, frame.rsv3)

    def _inflate(self, data: bytes, max_size: int | None, *, restart: bool = True) -> bytes:
        """Feed ``data`` to the decoder, stopping as soon as output passes ``max_size``."""
        decoder = self._decoder
        if max_size is None:
            out: bytes = decoder.decompress(data)
        else:
            # Ask for one byte more than allowed: getting it proves the message
            # is too big, and zlib never makes more than max_size + 1 bytes.
            out = decoder.decompress(data, max(max_size, 0) + 1)  # 0 would mean "no limit"
            # With max_length > max_size, input is left over only if output hit it.
            if len(out) > max_size or decoder.unconsumed_tail:
                raise PayloadTooBig(
                    f"compressed message inflates past its size limit "
                    f"(more than {max_size} bytes from this frame)"
                )
        if decoder.eof:
            # RFC 7692 7.2.3.4: a sender may end a message with a DEFLATE block
            # with BFINAL set to 1.  Like browsers, inflate what follows with a
            # fresh stream, but only once per frame: junk made of many tiny final
            # blocks must not buy a new inflater per two bytes.
            rest = decoder.unused_data
            if rest and not restart:
                raise ProtocolError("more than one final DEFLATE block in a frame")
            self._decoder_restarted = True
            self._decoder = zlib.decompressobj(wbits=-self.remote_max_window_bits)
            if rest:
                more = self._inflate(
                    rest, None if max_size is None else max_size - len(out), restart=False
                )
                if more:
                    out += more
        return out

    # -- sending -------------------------------------------------------------

    def encode(self, frame: Frame, *, compress: bool = True) -> Frame:
        """Compress a data frame; the first frame decides for the whole message."""
        if frame.opcode in (Opcode.TEXT, Opcode.BINARY):
            if self._encoding is not None:
                raise UsageError("new data message before the previous one ended")
            first = True
            encoding = compress and len(frame.payload) >= self.min_size
        elif frame.opcode == Opcode.CONT:
            if self._encoding is None:
                raise UsageError("continuation frame outside a message")
            first = False
            encoding = self._encoding
        else:
            return frame  # control frames are never compressed
        self._encoding = None if frame.fin else encoding
        if not encoding:
            return frame

        if self._encoder is None:
            self._encoder = _compressor(self.compress_settings, self._compress_wbits)
        # A sync flush on every frame makes each frame's payload decodable as it
        # arrives (the receiver may stream).  Every flush ends with 00 00 ff ff.
        data = self._encoder.compress(frame.payload) + self._encoder.flush(zlib.Z_SYNC_FLUSH)
        if frame.fin:
            # RFC 7692 7.2.1: "Remove 4 octets (that are 0x00 0x00 0xff 0xff)
            # from the tail end."
            data = data[:-4]
            if self.local_no_context_takeover:
                self._encoder = None
        # RFC 7692 6: the "Per-Message Compressed" bit goes on the first frame only.
        return Frame(frame.opcode, data, frame.fin, first, frame.rsv2, frame.rsv3)


# -- negotiation ---------------------------------------------------------------


def _parse_params(
    params: Sequence[ExtensionParameter], *, is_server: bool
) -> tuple[bool, bool, int | None, int | bool | None]:
    """Check one offer (``is_server``) or response; return the four parameters.

    ``client_max_window_bits`` is ``True`` when offered without a value.
    """
    seen: set[str] = set()
    server_nct = client_nct = False
    server_bits: int | None = None
    client_bits: int | bool | None = None
    what = "offer" if is_server else "response"
    for name, value in params:
        # RFC 7692 7: decline / fail when it "contains an extension parameter not
        # defined for use in an offer [...] with an invalid value [...] multiple
        # extension parameters with the same name".
        if name not in _PARAM_NAMES:
            raise NegotiationError(
                "Sec-WebSocket-Extensions", f"{NAME}; {name}: unknown parameter in {what}"
            )
        if name in seen:
            raise NegotiationError(
                "Sec-WebSocket-Extensions", f"{NAME}; {name}: duplicate parameter in {what}"
            )
        seen.add(name)
        if name in (_SERVER_NO_CONTEXT_TAKEOVER, _CLIENT_NO_CONTEXT_TAKEOVER):
            # RFC 7692 7.1.1: the no_context_takeover parameters "MUST NOT have a value".
            if value is not None:
                raise NegotiationError(
                    "Sec-WebSocket-Extensions", f"{NAME}; {name}={value}: takes no value"
                )
            if name == _SERVER_NO_CONTEXT_TAKEOVER:
                server_nct = True
            else:
                client_nct = True
            continue
        if value is None and name == _CLIENT_MAX_WINDOW_BITS and is_server:
            # RFC 7692 7.1.2.2: in an offer, "client_max_window_bits" may have no value.
            client_bits = True
            continue
        bits = _WINDOW_BITS_VALUES.get(value) if value is not None else None
        if bits is None:
            raise NegotiationError(
                "Sec-WebSocket-Extensions",
                f"{NAME}; {name}={value}: needs a value from 8 to 15",
            )
        if name == _SERVER_MAX_WINDOW_BITS:
            server_bits = bits
        else:
            client_bits = bits
    return server_nct, client_nct, server_bits, client_bits


def _build_params(
    server_nct: bool,
    client_nct: bool,
    server_bits: int | None,
    client_bits: int | bool | None,
) -> list[ExtensionParameter]:
    params: list[ExtensionParameter] = []
    if server_nct:
        params.append((_SERVER_NO_CONTEXT_TAKEOVER, None))
    if client_nct:
        params.append((_CLIENT_NO_CONTEXT_TAKEOVER, None))
    if server_bits is not None:
        params.append((_SERVER_MAX_WINDOW_BITS, str(server_bits)))
    if client_bits is True:
        params.append((_CLIENT_MAX_WINDOW_BITS, None))
    elif client_bits is not None and client_bits is not False:
        params.append((_CLIENT_MAX_WINDOW_BITS, str(client_bits)))
    return params


class ClientPerMessageDeflateFactory(ClientExtensionFactory):
    """The client's offer of permessage-deflate.

    ``server_no_context_takeover`` / ``server_max_window_bits`` ask the server to
    compress with less memory; ``client_no_context_takeover`` /
    ``client_max_window_bits`` promise the same for our side.
    ``client_max_window_bits=True`` (the default) offers the parameter without a
    value, as browsers do, so the server may pick our window.
    """

    name = NAME

    def __init__(
        self,
        server_no_context_takeover: bool = False,
        client_no_context_takeover: bool = False,
        server_max_window_bits: int | None = None,
        client_max_window_bits: int | bool | None = True,
        compress_settings: Mapping[str, int] | None = None,
        min_size: int = DEFAULT_MIN_SIZE,
    ) -> None:
        if server_max_window_bits is not None:
            _check_window_bits("server_max_window_bits", server_max_window_bits)
        if client_max_window_bits is False:
            client_max_window_bits = None
        if client_max_window_bits is not None and client_max_window_bits is not True:
            _check_window_bits("client_max_window_bits", client_max_window_bits)
        self.server_no_context_takeover = bool(server_no_context_takeover)
        self.client_no_context_takeover = bool(client_no_context_takeover)
        self.server_max_window_bits = server_max_window_bits
        self.client_max_window_bits = client_max_window_bits
        self.compress_settings = _check_compress_settings(compress_settings)
        self.min_size = _check_min_size(min_size)

    def __repr__(self) -> str:
        return (
            "ClientPerMessageDeflateFactory("
            f"server_no_context_takeover={self.server_no_context_takeover}, "
            f"client_no_context_takeover={self.client_no_context_takeover}, "
            f"server_max_window_bits={self.server_max_window_bits}, "
            f"client_max_window_bits={self.client_max_window_bits}, "
            f"compress_settings={self.compress_settings!r}, min_size={self.min_size})"
        )

    def get_request_params(self) -> list[ExtensionParameter]:
        """The offer: e.g. ``[("client_max_window_bits", None)]``."""
        return _build_params(
            self.server_no_context_takeover,
            self.client_no_context_takeover,
            self.server_max_window_bits,
            self.client_max_window_bits,
        )

    def process_response_params(
        self, params: Sequence[ExtensionParameter], accepted: Sequence[Extension]
    ) -> PerMessageDeflate:
        """Check the server's response against our offer; build the extension."""
        if any(ext.name == NAME for ext in accepted):
            raise NegotiationError("Sec-WebSocket-Extensions", f"duplicate {NAME} in response")
        server_nct, client_nct, server_bits, client_bits = _parse_params(params, is_server=False)
        # RFC 7692 7.1.1.1: the server accepts our server_no_context_takeover "by
        # including [it] in the corresponding extension negotiation response"; it
        # MAY include it even if not offered.
        if self.server_no_context_takeover and not server_nct:
            raise NegotiationError(
                "Sec-WebSocket-Extensions", f"{NAME}: server_no_context_takeover not accepted"
            )
        # RFC 7692 7.1.1.2: our client_no_context_takeover is a promise we keep
        # even if the server doesn't echo it.
        client_nct = client_nct or self.client_no_context_takeover
        # RFC 7692 7.1.2.1: the server accepts our server_max_window_bits "with the
        # same or smaller value as the offer", and MAY send it unasked.
        if self.server_max_window_bits is not None:
            if server_bits is None:
                raise NegotiationError(
                    "Sec-WebSocket-Extensions", f"{NAME}: server_max_window_bits not accepted"
                )
            if server_bits > self.server_max_window_bits:
                raise NegotiationError(
                    "Sec-WebSocket-Extensions",
                    f"{NAME}: server_max_window_bits={server_bits} is larger than offered",
                )
        # RFC 7692 7.1.2.2: "If a received extension negotiation offer doesn't have
        # the "client_max_window_bits" extension parameter, the corresponding
        # extension negotiation response to the offer MUST NOT include [it]."
        assert client_bits is not True  # a response's value is checked by _parse_params
        if self.client_max_window_bits is None:
            if client_bits is not None:
                raise NegotiationError(
                    "Sec-WebSocket-Extensions",
                    f"{NAME}: client_max_window_bits in response but not offered",
                )
        elif self.client_max_window_bits is not True:
            if client_bits is None:
                client_bits = self.client_max_window_bits  # our hint still binds us
            elif client_bits > self.client_max_window_bits:
                raise NegotiationError(
                    "Sec-WebSocket-Extensions",
                    f"{NAME}: client_max_window_bits={client_bits} is larger than offered",
                )
        return PerMessageDeflate(
            remote_no_context_takeover=server_nct,
            local_no_context_takeover=client_nct,
            remote_max_window_bits=server_bits or 15,
            local_max_window_bits=client_bits or 15,
            compress_settings=self.compress_settings,
            min_size=self.min_size,
        )


class ServerPerMessageDeflateFactory(ServerExtensionFactory):
    """The server's policy for permessage-deflate offers.

    ``server_*`` parameters limit how we compress (we announce them even when
    not asked); ``client_*`` ask the client to limit its compression.
    ``client_max_window_bits`` is only sent to clients that offered it: others
    are accepted with a 15-bit inflate window unless
    ``require_client_max_window_bits`` is set, which declines them.
    """

    name = NAME

    def __init__(
        self,
        server_no_context_takeover: bool = False,
        client_no_context_takeover: bool = False,
        server_max_window_bits: int | None = None,
        client_max_window_bits: int | None = None,
        compress_settings: Mapping[str, int] | None = None,
        min_size: int = DEFAULT_MIN_SIZE,
        require_client_max_window_bits: bool = False,
    ) -> None:
        if server_max_window_bits is not None:
            _check_window_bits("server_max_window_bits", server_max_window_bits)
        if client_max_window_bits is not None:
            _check_window_bits("client_max_window_bits", client_max_window_bits)
        if require_client_max_window_bits and client_max_window_bits is None:
            raise ValueError("require_client_max_window_bits needs client_max_window_bits")
        self.server_no_context_takeover = bool(server_no_context_takeover)
        self.client_no_context_takeover = bool(client_no_context_takeover)
        self.server_max_window_bits = server_max_window_bits
        self.client_max_window_bits = client_max_window_bits
        self.compress_settings = _check_compress_settings(compress_settings)
        self.min_size = _check_min_size(min_size)
        self.require_client_max_window_bits = bool(require_client_max_window_bits)

    def __repr__(self) -> str:
        return (
            "ServerPerMessageDeflateFactory("
            f"server_no_context_takeover={self.server_no_context_takeover}, "
            f"client_no_context_takeover={self.client_no_context_takeover}, "
            f"server_max_window_bits={self.server_max_window_bits}, "
            f"client_max_window_bits={self.client_max_window_bits}, "
            f"compress_settings={self.compress_settings!r}, min_size={self.min_size}, "
            f"require_client_max_window_bits={self.require_client_max_window_bits})"
        )

    def process_request_params(
        self, params: Sequence[ExtensionParameter], accepted: Sequence[Extension]
    ) -> tuple[list[ExtensionParameter], PerMessageDeflate]:
        """Accept a client's offer (or raise ``NegotiationError`` to decline it)."""
        if any(ext.name == NAME for ext in accepted):
            raise NegotiationError("Sec-WebSocket-Extensions", f"{NAME} already accepted")
        server_nct, client_nct, server_bits, client_bits = _parse_params(params, is_server=True)
        # RFC 7692 7.1.1.1: "A server MAY include the "server_no_context_takeover"
        # extension parameter in an extension negotiation response even if the
        # extension negotiation offer being accepted by the response didn't
        # include [it]."
        server_nct = server_nct or self.server_no_context_takeover
        # RFC 7692 7.1.1.2: a server may send client_no_context_takeover in any
        # response; we also echo the client's own hint so we may drop the inflater.
        client_nct = client_nct or self.client_no_context_takeover
        # RFC 7692 7.1.2.1: answer "with the same or smaller value as the offer";
        # the server may also send it unasked.
        if self.server_max_window_bits is not None:
            server_bits = min(server_bits or 15, self.server_max_window_bits)
        # RFC 7692 7.1.2.2: answer client_max_window_bits only if offered, with a
        # value "equal to or smaller than the received value".
        if client_bits is None:
            if self.require_client_max_window_bits:
                raise NegotiationError(
                    "Sec-WebSocket-Extensions", f"{NAME}: client_max_window_bits required"
                )
        elif client_bits is True:
            client_bits = self.client_max_window_bits
        elif self.client_max_window_bits is not None:
            client_bits = min(client_bits, self.client_max_window_bits)
        response = _build_params(server_nct, client_nct, server_bits, client_bits)
        extension = PerMessageDeflate(
            remote_no_context_takeover=client_nct,
            local_no_context_takeover=server_nct,
            remote_max_window_bits=client_bits or 15,
            local_max_window_bits=server_bits or 15,
            compress_settings=self.compress_settings,
            min_size=self.min_size,
        )
        return response, extension


def enable_client_permessage_deflate(
    extensions: Sequence[ClientExtensionFactory] | None,
) -> list[ClientExtensionFactory]:
    """Return ``extensions`` plus a default permessage-deflate offer if none is there.

    The default offers ``client_max_window_bits`` without a value and asks nothing
    of the server, so every server that speaks permessage-deflate accepts it.
    """
    extensions = list(extensions or [])
    if not any(factory.name == NAME for factory in extensions):
        extensions.append(
            ClientPerMessageDeflateFactory(compress_settings=DEFAULT_CLIENT_COMPRESS_SETTINGS)
        )
    return extensions


def enable_server_permessage_deflate(
    extensions: Sequence[ServerExtensionFactory] | None,
) -> list[ServerExtensionFactory]:
    """Return ``extensions`` plus the default permessage-deflate policy if none is there.

    The default uses 12-bit windows both ways (when the client lets us choose
    its window) and ``memLevel`` 5: see ``docs/compression.md`` for the memory.
    """
    extensions = list(extensions or [])
    if not any(factory.name == NAME for factory in extensions):
        extensions.append(
            ServerPerMessageDeflateFactory(
                server_max_window_bits=DEFAULT_SERVER_MAX_WINDOW_BITS,
                client_max_window_bits=DEFAULT_SERVER_MAX_WINDOW_BITS,
                compress_settings=DEFAULT_SERVER_COMPRESS_SETTINGS,
            )
        )
    return extensions
