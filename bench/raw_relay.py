"""Floor for bench/raw_relay_bench.py: a raw asyncio TCP relay (no HTTP parsing) in front of the mock: PORT UPSTREAM_PORT."""

import asyncio
import sys


async def pipe(r, w):
    try:
        while d := await r.read(65536):
            w.write(d)
    except ConnectionError:
        pass
    finally:
        w.close()


async def main(port, up):
    async def handle(r, w):
        ur, uw = await asyncio.open_connection("127.0.0.1", up)
        await asyncio.gather(pipe(r, uw), pipe(ur, w))

    srv = await asyncio.start_server(handle, "127.0.0.1", port)
    await srv.serve_forever()


asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))
