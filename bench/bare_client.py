"""The floor of llm_throughput.py: N requests of its http suite sent, C at a time, by a bare client in a process of
its own, with nothing of evalgate (no config, no datasets, no scoring, no results file).

    python3 bench/bare_client.py h11|aiohttp URL N C      (URL: the endpoint itself, path included)

`h11`: h11 over asyncio's streams, C keep-alive connections, as evalgate's client sends
(evalgate/providers/llm/http_client.py); `aiohttp`: one aiohttp session with a pool of C, the client evalgate sent
with before. The benchmark times the whole process: interpreter start, the client's import, the calls and exit.
"""

from __future__ import annotations

import asyncio
import json
import sys
from urllib.parse import urlsplit


def body(i: int) -> bytes:
    """llm_throughput.question(i) as the http suite sends it (not imported: this process imports nothing of the
    repository, whose modules would be part of what it times)."""
    return json.dumps({"question": f"question number {i} about the refund policy"}).encode()


async def with_h11(url: str, n: int, concurrency: int) -> int:
    import h11

    parts = urlsplit(url)
    todo = iter(range(n))

    async def connection() -> int:
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        protocol, done = h11.Connection(h11.CLIENT), 0
        for i in todo:
            content = body(i)
            head = [(b"host", parts.netloc.encode()), (b"content-type", b"application/json"),
                    (b"content-length", str(len(content)).encode())]  # fmt: skip
            writer.write(
                protocol.send(h11.Request(method="POST", target=parts.path, headers=head))
                + protocol.send(h11.Data(data=content))
                + protocol.send(h11.EndOfMessage())
            )
            answer = b""
            while type(event := protocol.next_event()) is not h11.EndOfMessage:
                if event is h11.NEED_DATA:
                    protocol.receive_data(await reader.read(65536))
                elif type(event) is h11.Data:
                    answer += event.data
            json.loads(answer)
            protocol.start_next_cycle()
            done += 1
        writer.close()
        return done

    return sum(await asyncio.gather(*(connection() for _ in range(concurrency))))


async def with_aiohttp(url: str, n: int, concurrency: int) -> int:
    import aiohttp

    slots = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:

        async def one(i: int) -> int:
            async with slots, session.post(url, data=body(i)) as answer:
                json.loads(await answer.read())
            return 1

        return sum(await asyncio.gather(*(one(i) for i in range(n))))


def main() -> None:
    client, url, n, concurrency = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    send = {"h11": with_h11, "aiohttp": with_aiohttp}[client]
    sent = asyncio.run(send(url, n, concurrency))
    if sent != n:
        raise SystemExit(f"{client}: {sent} of {n} answered")


if __name__ == "__main__":
    main()
