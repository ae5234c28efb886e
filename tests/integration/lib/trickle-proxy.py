#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""trickle-proxy.py LISTEN_PORT TARGET_PORT FREE_BYTES RATE

A TCP proxy on 127.0.0.1 that passes the first FREE_BYTES of each server-to-client stream at
full speed (enough for the HTTP/2 handshake and a small answer), then at most RATE bytes per
second: an etcd endpoint that keeps a snapshot stream alive with a trickle. Client-to-server
bytes pass untouched. What it does not imitate: anything about HTTP/2 or gRPC; it only shapes
bytes.
"""
import asyncio
import sys

LISTEN, TARGET, FREE, RATE = (int(a) for a in sys.argv[1:5])


async def pump(reader, writer, shaped):
    sent = 0
    try:
        while True:
            data = await reader.read(4096 if shaped and sent >= FREE else 65536)
            if not data:
                break
            if shaped and sent >= FREE:
                await asyncio.sleep(len(data) / RATE)
            writer.write(data)
            await writer.drain()
            sent += len(data)
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


async def handle(client_reader, client_writer):
    server_reader, server_writer = await asyncio.open_connection("127.0.0.1", TARGET)
    await asyncio.gather(pump(client_reader, server_writer, False), pump(server_reader, client_writer, True))


async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", LISTEN)
    async with server:
        await server.serve_forever()


asyncio.run(main())
