"""Hostile frames after the handshake: framing, fragmentation & UTF-8, control frames,
compression.  Each asserts the RFC close code, bounded server memory, and a good client
served alongside."""

from __future__ import annotations

import asyncio
import struct
import zlib

import pytest

from ..asyncio.conftest import (
    MASK,
    client_frame,
    raw_client,
    read_frame,
    read_to_eof,
    read_until_close,
    run,
)
from .conftest import ServerProcess, server_process, watched

DEFLATE = "Sec-WebSocket-Extensions: permessage-deflate\r\n"


def masked_header(b0: int, length: int) -> bytes:
    """A masked frame header declaring ``length`` (payload not included)."""
    if length < 126:
        return bytes([b0, 0x80 | length]) + MASK
    if length < 65536:
        return bytes([b0, 0x80 | 126]) + struct.pack("!H", length) + MASK
    return bytes([b0, 0x80 | 127]) + struct.pack("!Q", length) + MASK


def deflate(data: bytes) -> bytes:
    enc = zlib.compressobj(wbits=-15)
    return (enc.compress(data) + enc.flush(zlib.Z_SYNC_FLUSH))[:-4]


async def close_code_after(port: int, data: bytes, extra: str = "") -> int | None:
    """Send ``data`` after a handshake; the code of the server's close frame (then EOF)."""
    reader, writer = await raw_client(port, extra=extra)
    try:
        writer.write(data)
        try:
            _, code = await read_until_close(reader)
        finally:
            await read_to_eof(reader)
        return code
    finally:
        writer.close()


# name -> (bytes after the handshake, expected close code, extension header)
CASES: dict[str, tuple[bytes, int, str]] = {
    # framing (RFC 6455 5.1, 5.2)
    "unmasked_client_frame": (bytes([0x81, 0x05]) + b"hello", 1002, ""),
    "length_64bit_top_bit": (bytes([0x82, 0xFF]) + struct.pack("!Q", 1 << 63) + MASK, 1002, ""),
    "length_2_pow_40": (masked_header(0x82, 1 << 40), 1009, ""),
    "rsv2_without_extension": (client_frame(0x1, b"x", rsv=0x20), 1002, ""),
    "rsv1_without_deflate": (client_frame(0x1, b"x", rsv=0x40), 1002, ""),
    "reserved_data_opcode": (client_frame(0x3, b"x"), 1002, ""),
    "reserved_control_opcode": (client_frame(0xB, b"x"), 1002, ""),
    "over_max_size_header_only": (masked_header(0x82, (1 << 20) + 1), 1009, ""),
    # fragmentation and UTF-8 (5.4, 8.1)
    "continuation_without_start": (client_frame(0x0, b"x"), 1002, ""),
    "new_message_inside_fragmented": (
        client_frame(0x1, b"a", fin=False) + client_frame(0x1, b"b"), 1002, ""),
    "invalid_utf8_single_frame": (client_frame(0x1, b"\xff\xfe"), 1007, ""),
    "invalid_utf8_across_fragments": (
        client_frame(0x1, b"\xe2\x82", fin=False) + client_frame(0x0, b"\x28"), 1007, ""),
    "truncated_utf8_at_end": (client_frame(0x1, b"ok\xe2\x82"), 1007, ""),
    "surrogate_in_utf8": (client_frame(0x1, b"\xed\xa0\x80"), 1007, ""),
    # control frames (5.5, 7.4)
    "ping_over_125": (client_frame(0x9, b"p" * 126), 1002, ""),
    "fragmented_ping": (client_frame(0x9, b"p", fin=False), 1002, ""),
    "close_one_byte_payload": (client_frame(0x8, b"\x03"), 1002, ""),
    "close_code_999": (client_frame(0x8, struct.pack("!H", 999)), 1002, ""),
    "close_code_1005_on_wire": (client_frame(0x8, struct.pack("!H", 1005)), 1002, ""),
    "close_code_5000": (client_frame(0x8, struct.pack("!H", 5000)), 1002, ""),
    "close_reason_invalid_utf8": (client_frame(0x8, struct.pack("!H", 1000) + b"\xff"), 1007,
                                  ""),
    # compression (RFC 7692)
    "deflate_bomb_one_frame": (b"", 1009, DEFLATE),  # payload built below (large)
    "deflate_bomb_fragments": (b"", 1009, DEFLATE),
    "rsv1_on_ping": (client_frame(0x9, b"p", rsv=0x40), 1002, DEFLATE),
    "rsv1_on_continuation": (client_frame(0x2, deflate(b"a"), fin=False, rsv=0x40)
                             + client_frame(0x0, deflate(b"b"), rsv=0x40), 1002, DEFLATE),
    "corrupt_deflate_data": (client_frame(0x2, b"\xff\xff\xff\xff", rsv=0x40), 1002, DEFLATE),
}


def _bombs() -> None:
    # 200 MiB of zeros deflate to ~200 KiB: the server must stop at max_size (1 MiB)
    # of output, not inflate it all.
    bomb = deflate(bytes(200 << 20))
    CASES["deflate_bomb_one_frame"] = (client_frame(0x2, bomb, rsv=0x40), 1009, DEFLATE)
    part = deflate(bytes(600 << 10))  # 600 KiB each: the second one passes 1 MiB
    enc = zlib.compressobj(wbits=-15)
    chunks = [enc.compress(bytes(600 << 10)) + enc.flush(zlib.Z_SYNC_FLUSH) for _ in range(4)]
    frames = client_frame(0x2, chunks[0], fin=False, rsv=0x40)
    frames += b"".join(client_frame(0x0, c, fin=False) for c in chunks[1:])
    assert part
    CASES["deflate_bomb_fragments"] = (frames, 1009, DEFLATE)


_bombs()


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_frame_gets_its_close_code(echo_server: ServerProcess, case: str) -> None:
    data, expected, extra = CASES[case]

    async def main() -> None:
        async with watched(echo_server, f"frames:{case}"):
            assert await close_code_after(echo_server.port, data, extra) == expected

    run(main)


def test_tiny_fragments_stay_within_the_memory_budget() -> None:
    """1-byte fragments up to max_size: what the server holds stays close to max_size.

    Before the fix a list entry per fragment made 1 MiB of 1-byte fragments cost ~42 MiB.
    """
    with server_process(compression=None) as server:  # max_size 1 MiB
        async def main() -> None:
            async with watched(server, "frames:tiny_fragments", budget=16 << 20):
                reader, writer = await raw_client(server.port)
                writer.write(client_frame(0x2, b"x", fin=False))
                frame = client_frame(0x0, b"x", fin=False)
                block = frame * 65536
                try:
                    for _ in range(16):  # 1 Mi fragments of 1 byte: 1 MiB, then one more
                        writer.write(block)
                        await writer.drain()
                    writer.write(frame)
                    _, code = await read_until_close(reader)
                except ConnectionError:
                    code = None
                assert code == 1009
                writer.close()

        run(main)


def test_empty_continuation_flood_holds_nothing(echo_server: ServerProcess) -> None:
    """A million empty continuation frames cost CPU only; the message then completes."""
    async def main() -> None:
        async with watched(echo_server, "frames:empty_fragments"):
            reader, writer = await raw_client(echo_server.port)
            writer.write(client_frame(0x1, b"start-", fin=False))
            block = client_frame(0x0, b"", fin=False) * 50_000
            for _ in range(20):
                writer.write(block)
                await writer.drain()
            writer.write(client_frame(0x0, b"end"))
            b0, payload = await read_frame(reader)
            assert (b0, payload) == (0x81, b"start-end")
            writer.close()

    run(main)


def test_ping_flood_from_a_peer_that_never_reads(echo_server: ServerProcess) -> None:
    """Pongs coalesce under backpressure: 64 MiB of pings don't become 64 MiB of pongs."""
    async def main() -> None:
        async with watched(echo_server, "control:ping_flood"):
            _, writer = await raw_client(echo_server.port, rcvbuf=4096)
            block = client_frame(0x9, b"p" * 125) * 1000
            for _ in range(500):
                writer.write(block)
                await writer.drain()
            writer.close()

    run(main)


def test_unsolicited_pongs_are_ignored(echo_server: ServerProcess) -> None:
    async def main() -> None:
        async with watched(echo_server, "control:unsolicited_pongs"):
            reader, writer = await raw_client(echo_server.port)
            writer.write(client_frame(0xA, b"x") * 10_000 + client_frame(0x1, b"still here"))
            assert await read_frame(reader) == (0x81, b"still here")
            writer.write(client_frame(0x8, struct.pack("!H", 1000)))
            _, code = await read_until_close(reader)
            assert code == 1000
            writer.close()

    run(main)


def test_close_flood_gets_one_close_reply(echo_server: ServerProcess) -> None:
    async def main() -> None:
        async with watched(echo_server, "control:close_flood"):
            reader, writer = await raw_client(echo_server.port)
            writer.write(client_frame(0x8, struct.pack("!H", 1000)) * 1000)
            rest = await read_to_eof(reader)
            assert rest == b"\x88\x02" + struct.pack("!H", 1000)  # exactly one close
            writer.close()

    run(main)


def test_compressed_message_within_limit_is_echoed(echo_server: ServerProcess) -> None:
    """The control case for the bombs: a legitimate compressed message goes through."""
    async def main() -> None:
        async with watched(echo_server, "compression:legit"):
            reader, writer = await raw_client(echo_server.port, extra=DEFLATE)
            writer.write(client_frame(0x2, deflate(bytes(500_000)), rsv=0x40))
            b0, payload = await read_frame(reader)
            assert b0 == 0xC2
            out = zlib.decompressobj(wbits=-15).decompress(payload + b"\x00\x00\xff\xff")
            assert out == bytes(500_000)
            writer.close()

    run(main)


def test_reading_is_paused_for_a_peer_flooding_a_handler_that_does_not_read() -> None:
    """The incoming queue is bounded (max_queue): the server stops reading, memory flat."""
    with server_process(handler="hold", max_queue=16) as server:
        async def main() -> None:
            async with watched(server, "limits:incoming_queue"):
                _, writer = await raw_client(server.port, "/hold")
                frame = client_frame(0x2, bytes(65536))
                sent = 0
                try:
                    async with asyncio.timeout(1.5):
                        while True:
                            writer.write(frame)
                            await writer.drain()
                            sent += 1
                except TimeoutError:
                    pass
                print(f"server stopped reading after {sent} messages of 64 KiB")
                assert sent < 2000  # 128 MiB: it would have been unbounded
                writer.transport.abort()

        run(main)
