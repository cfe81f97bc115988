"""The load client of benchmarks/serving.py: the same one for every server in a run.

`run_load` POSTs single-row JSON bodies (one per line of a file, cycled) to a URL for a
fixed time at a fixed concurrency (closed loop: each connection sends its next request
when the previous answer arrived) and returns a `Load`. By default it runs this file as a
separate process: a stdlib asyncio client over raw keep-alive HTTP/1.1 connections that
times every request. `client="wrk"` uses wrk (Debian's `wrk` 4.1.0) with
benchmarks/_load.lua instead: its throughput agrees with this client's, but its latency
statistics do not hold for fast servers. At one connection it reported a mean latency of
4 ms beside 4,360 requests/s (a mean above 0.23 ms is impossible there), and a p99 of
119 ms where this client and charter's own server-side histogram saw 0.4 ms (the
symptom of wg/wrk issues 114 and 438), so it is kept as an option only.

    python benchmarks/_load_client.py --url http://127.0.0.1:8000/predict \
        --bodies bodies.txt --concurrency 8 --seconds 20 [--token T]

prints one line, "LOAD_JSON {...}", the same fields as the wrk script's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from _common import measure

LUA = Path(__file__).with_name("_load.lua")
#: A request slower than this counts as a timeout error (wrk's --timeout too).
TIMEOUT_S = 10
CLIENTS = ("python", "wrk")


@dataclass(frozen=True)
class Load:
    """What one load run measured: throughput, latency and errors, and who used the CPU."""

    concurrency: int
    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: dict[str, int]
    client_cpu_seconds: float
    busy_cores: float  # cores kept busy by everything but the client (the server and others)
    # Filled in by the caller, who knows the server:
    server_cpu_seconds: float = 0.0
    server_rss_mib: float | None = None  # its resident memory when the run ended
    server_peak_rss_mib: float | None = None  # its peak resident memory (VmHWM) so far
    log_pending: tuple[float, float] | None = None  # charter: (pending, back-pressure) after
    log_backlog: tuple[float, float] | None = None  # charter: (records, seconds) not yet logged

    @property
    def server_cores(self) -> float:
        return self.server_cpu_seconds / self.seconds if self.seconds > 0 else 0.0

    @property
    def others_cores(self) -> float:
        """Cores kept busy by processes other than the client and the server."""
        return max(0.0, self.busy_cores - self.server_cores)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


def wrk_version() -> str | None:
    """wrk's version line when wrk is on PATH, else None."""
    wrk = shutil.which("wrk")
    if wrk is None:
        return None
    done = subprocess.run([wrk, "--version"], capture_output=True, text=True, check=False)
    line = (done.stdout or done.stderr).strip().splitlines()
    return line[0].split(" Copyright")[0].strip() if line else "wrk"


def choose(client: str) -> str:
    """'python' or 'wrk' for the --client option; SystemExit when wrk is asked but missing."""
    if client == "wrk" and wrk_version() is None:
        raise SystemExit("--client wrk: wrk is not on PATH (Debian: apt-get install wrk).")
    return client


def describe(client: str) -> str:
    if client == "wrk":
        return f"{wrk_version()} with benchmarks/_load.lua (1 thread)"
    return (
        "benchmarks/_load_client.py (Python asyncio, raw HTTP/1.1 keep-alive, in its own "
        "process; every request timed)"
    )


def run_load(
    client: str, url: str, bodies: Path, concurrency: int, seconds: float, token: str | None
) -> Load:
    """Load `url` for `seconds` at `concurrency` with the chosen client; see Load."""
    if client == "wrk":
        path = urlsplit(url).path
        command = [
            "wrk",
            "-t1",
            f"-c{concurrency}",
            f"-d{seconds:g}s",
            f"--timeout={TIMEOUT_S}s",
            "-s",
            str(LUA),
            url,
            "--",
            str(bodies),
            path,
            token or "",
        ]
    else:
        command = [
            sys.executable,
            str(Path(__file__).resolve()),
            f"--url={url}",
            f"--bodies={bodies}",
            f"--concurrency={concurrency}",
            f"--seconds={seconds:g}",
        ]
        if token:
            command.append(f"--token={token}")
    done, measured = measure(command, timeout=seconds + TIMEOUT_S + 60)
    line = next((x for x in done.stdout.splitlines() if x.startswith("LOAD_JSON ")), None)
    if done.returncode != 0 or line is None:
        raise SystemExit(
            f"The load client failed (exit {done.returncode}): {' '.join(command)}\n"
            f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    found = json.loads(line.removeprefix("LOAD_JSON "))
    return Load(
        concurrency=concurrency,
        requests=int(found["requests"]),
        seconds=found["duration_us"] / 1e6,
        p50_ms=found["p50_us"] / 1000,
        p90_ms=found["p90_us"] / 1000,
        p99_ms=found["p99_us"] / 1000,
        max_ms=found["max_us"] / 1000,
        errors={k: int(found[k]) for k in ("connect", "read", "write", "status", "timeout")},
        client_cpu_seconds=measured.cpu_seconds,
        busy_cores=measured.others_cores,
    )


# --- the Python client (used without wrk) -----------------------------------------------


class _Tally:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.errors = dict.fromkeys(("connect", "read", "write", "status", "timeout"), 0)


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """(status, keep-alive) of one HTTP/1.1 response, its body read and dropped."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip().lower()
    if "content-length" in headers:
        await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding") == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    return status, headers.get("connection") != "close"


async def _connection(
    host: str, port: int, requests: list[bytes], start: int, deadline: float, tally: _Tally
) -> None:
    index = start
    writer: asyncio.StreamWriter | None = None
    reader: asyncio.StreamReader | None = None
    while time.perf_counter() < deadline:
        if writer is None:
            try:
                reader, writer = await asyncio.open_connection(host, port)
            except OSError:
                tally.errors["connect"] += 1
                await asyncio.sleep(0.01)
                continue
            sock = writer.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        assert reader is not None
        request = requests[index % len(requests)]
        index += 1
        began = time.perf_counter()
        try:
            writer.write(request)
            await writer.drain()
        except OSError:
            tally.errors["write"] += 1
            writer = None
            continue
        try:
            status, keep_alive = await _read_response(reader)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            tally.errors["read"] += 1
            writer = None
            continue
        tally.latencies.append(time.perf_counter() - began)
        if status > 399:
            tally.errors["status"] += 1
        if not keep_alive:
            writer.close()
            writer = None
    if writer is not None:
        writer.close()


async def _load(url: str, bodies: list[bytes], concurrency: int, seconds: float, token: str | None):
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    requests = [
        (
            f"POST {parts.path or '/'} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n{auth}\r\n"
        ).encode("latin-1")
        + body
        for body in bodies
    ]
    tally = _Tally()
    began = time.perf_counter()
    deadline = began + seconds
    step = max(1, len(requests) // concurrency)
    tasks = [
        asyncio.ensure_future(_connection(host, port, requests, i * step, deadline, tally))
        for i in range(concurrency)
    ]
    _, pending = await asyncio.wait(tasks, timeout=seconds + TIMEOUT_S)
    for task in pending:  # a request still unanswered TIMEOUT_S after the end: a timeout
        task.cancel()
        tally.errors["timeout"] += 1
    await asyncio.gather(*pending, return_exceptions=True)
    return tally, time.perf_counter() - began


def _percentile(ordered: list[float], q: float) -> float:
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--bodies", required=True, help="a file of JSON bodies, one per line")
    parser.add_argument("--concurrency", type=int, required=True)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--token", default=None)
    args = parser.parse_args()
    text = Path(args.bodies).read_text(encoding="utf-8")
    bodies = [line.encode("utf-8") for line in text.splitlines() if line]
    tally, wall = asyncio.run(_load(args.url, bodies, args.concurrency, args.seconds, args.token))
    ordered = sorted(tally.latencies)
    us = 1e6
    found = {
        "requests": len(ordered),
        "duration_us": int(wall * us),
        **tally.errors,
        "p50_us": _percentile(ordered, 50) * us,
        "p90_us": _percentile(ordered, 90) * us,
        "p99_us": _percentile(ordered, 99) * us,
        "max_us": (ordered[-1] if ordered else 0.0) * us,
        "mean_us": (sum(ordered) / len(ordered) if ordered else 0.0) * us,
    }
    print("LOAD_JSON " + json.dumps(found), flush=True)


if __name__ == "__main__":
    main()
