"""A bounded load test on loopback: zero errors at concurrency 32 (figures printed, not judged)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson

from charter.ledger import open_ledger
from charter.serving import LogReader
from tests.server.conftest import TOKEN, ServerProcess, stop_process
from tests.server.test_requests import RECORD

BODY = orjson.dumps(RECORD)
HEADERS = {"content-type": "application/json", "authorization": f"Bearer {TOKEN}"}


@dataclass(frozen=True)
class Figures:
    requests: int
    errors: int
    seconds: float
    latencies: list[float]

    def line(self, what: str) -> str:
        ordered = sorted(self.latencies)
        p50 = ordered[len(ordered) // 2] * 1000
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
        return (
            f"{what}: {self.requests} requests, {self.requests / self.seconds:.0f} req/s, "
            f"p50 {p50:.2f} ms, p99 {p99:.2f} ms, {self.errors} errors"
        )


async def with_httpx(url: str, requests: int, concurrency: int) -> Figures:
    """`concurrency` clients of one keep-alive connection each (one pool of 32 connections
    costs httpx more CPU per request than the server spends answering it)."""
    latencies: list[float] = []
    errors = 0
    todo = iter(range(requests))

    async def worker() -> None:
        nonlocal errors
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            for _ in todo:
                started = time.perf_counter()
                response = await client.post("/predict", content=BODY, headers=HEADERS)
                latencies.append(time.perf_counter() - started)
                if response.status_code != 200 or response.json()["model_version"] != 1:
                    errors += 1

    started = time.perf_counter()
    await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(concurrency))), 120)
    return Figures(requests, errors, time.perf_counter() - started, latencies)


async def with_sockets(port: int, requests: int, concurrency: int) -> Figures:
    """A minimal keep-alive HTTP/1.1 client: it costs the shared CPUs far less than httpx."""
    request = (
        b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        + f"Authorization: Bearer {TOKEN}\r\nContent-Length: {len(BODY)}\r\n\r\n".encode()
        + BODY
    )
    latencies: list[float] = []
    errors = 0
    todo = iter(range(requests))

    async def worker() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in todo:
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if not head.startswith(b"HTTP/1.1 200"):
                errors += 1
        writer.close()
        await writer.wait_closed()

    started = time.perf_counter()
    await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(concurrency))), 120)
    return Figures(requests, errors, time.perf_counter() - started, latencies)


def test_zero_errors_at_concurrency_32(server_process: Callable[..., ServerProcess]) -> None:
    running = server_process("--log-mode", "fast")
    port = int(running.url.rsplit(":", 1)[1])
    loaded = asyncio.run(with_httpx(running.url, 2000, 32))
    assert loaded.errors == 0
    assert len(loaded.latencies) == 2000
    figures = [
        loaded.line("httpx, concurrency 32"),
        asyncio.run(with_sockets(port, 1000, 1)).line("sockets, concurrency 1"),
        asyncio.run(with_sockets(port, 3000, 32)).line("sockets, concurrency 32"),
    ]
    print("\nfast log mode, one worker, client and server on the same CPUs:")
    print("\n".join(figures))
    with httpx.Client(base_url=running.url) as client:
        metrics = client.get("/metrics").text
    assert 'charter_requests_total{endpoint="/predict",status="200"} 6000.0' in metrics


def test_several_workers_share_the_port_and_the_log(
    server_process: Callable[..., ServerProcess], project: Path
) -> None:
    running = server_process("--workers", "2", "--log-mode", "fast")
    port = int(running.url.rsplit(":", 1)[1])
    figures = asyncio.run(with_sockets(port, 1000, 8))
    assert figures.errors == 0
    print("\n" + figures.line("sockets, 2 workers, concurrency 8"))
    stop_process(running.process, running.output)
    with open_ledger(project) as ledger:
        deployments = ledger.deployments("telco-churn")
    assert len({d.details["pid"] for d in deployments}) == 2
    assert all(d.stopped_at is not None for d in deployments)
    logged, skipped, _ = LogReader(project / ".charter" / "serving").read_all()
    assert (len(logged), skipped) == (1000, [])
