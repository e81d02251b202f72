"""A loopback upstream that answers every POST with a 1 GiB gzip bomb (~1 MB on the wire), for bomb_healthz.py.

`/json/...` answers `application/json`, `/sse/...` answers `text/event-stream`; both with Content-Length.
Run as its own process so its CPU does not count against the proxy: `python bench/bomb_upstream.py PORT`.
"""

from __future__ import annotations

import asyncio
import struct
import sys
import zlib


def gzip_bomb(unit: bytes, size: int = 1 << 30) -> bytes:
    """A gzip member inflating to `size` bytes of `unit`: one 1 MiB block compressed after a full flush compresses
    to the same bytes every time, so it is compressed once and repeated."""
    block_len = (1 << 20) // len(unit) * len(unit)
    block = unit * (block_len // len(unit))
    n = size // block_len
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    packed = comp.compress(block) + comp.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(n):
        crc = zlib.crc32(block, crc)
    tail = zlib.compressobj(9, zlib.DEFLATED, -15).flush(zlib.Z_FINISH)
    head = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    return head + packed * n + tail + struct.pack("<II", crc, (n * block_len) & 0xFFFFFFFF)


async def main(port: int) -> None:
    answers = {}
    for kind, ctype, unit in (("json", "application/json", b" "), ("sse", "text/event-stream", b"data: {}\n\n")):
        bomb = gzip_bomb(unit)
        head = (
            f"HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nContent-Encoding: gzip\r\nContent-Length: {len(bomb)}\r\n\r\n"
        )
        answers[kind] = head.encode() + bomb

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                await reader.readexactly(length)
                writer.write(answers["sse" if b" /sse/" in head.split(b"\r\n", 1)[0] else "json"])
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
