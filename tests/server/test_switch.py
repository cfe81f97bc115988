"""Zero-downtime model changes: the champion moves under load and no request fails."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import orjson

from charter.ledger import open_ledger
from tests.server.conftest import LiveServer, ServerFactory
from tests.server.test_requests import RECORD

CLIENTS = 32
PROJECT = "telco-churn"


def register_copy(project: Path) -> int:
    """Register version 1's artifacts again as a new version and make it champion."""
    with open_ledger(project) as ledger:
        first = ledger.get_model_version(PROJECT, 1)
        second = ledger.register_model_version(
            PROJECT,
            first.run_id,
            [artifact.id for artifact in first.artifacts],
            first.lineage,
            first.metrics,
            alias=None,
        )
        ledger.set_alias(PROJECT, "champion", second.version, reason="switch test")
        return second.version


async def refresh(server: LiveServer) -> bool:
    """Run the holder's refresh on the server's own event loop."""
    state = server.state
    future = asyncio.run_coroutine_threadsafe(state.holder.refresh(), state.loop)
    return await asyncio.wrap_future(future)


async def load_while_switching(
    server: LiveServer, project: Path
) -> tuple[list[list[tuple[int, Any]]], bool]:
    body = orjson.dumps(RECORD)
    headers = {"content-type": "application/json"}
    seen: list[list[tuple[int, Any]]] = [[] for _ in range(CLIENTS)]
    after_switch = 0
    switched = asyncio.Event()
    done = asyncio.Event()

    async def client_loop(index: int, client: httpx.AsyncClient) -> None:
        nonlocal after_switch
        while not done.is_set():
            response = await client.post("/predict", content=body, headers=headers)
            version = response.json().get("model_version") if response.status_code == 200 else None
            seen[index].append((response.status_code, version))
            if switched.is_set() and version == 2:
                after_switch += 1
                if after_switch >= 200:
                    done.set()

    async def switch() -> bool:
        while sum(len(s) for s in seen) < 200:  # let the load build up first
            await asyncio.sleep(0)
        version = await asyncio.to_thread(register_copy, project)
        assert version == 2
        moved = await refresh(server)
        switched.set()
        return moved

    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=30) as client:
        results = await asyncio.wait_for(
            asyncio.gather(switch(), *(client_loop(i, client) for i in range(CLIENTS))), timeout=120
        )
    return seen, bool(results[0])


def test_the_champion_moves_under_load_without_a_failed_request(
    project: Path, start_server: ServerFactory, kind: str
) -> None:
    server = start_server()
    seen, moved = asyncio.run(load_while_switching(server, project))
    assert moved
    answers = [answer for client in seen for answer in client]
    assert len(answers) >= 400
    assert all(status == 200 for status, _ in answers), {s for s, _ in answers}
    assert {version for _, version in answers} == {1, 2}
    for client in seen:
        versions = [version for _, version in client]
        # A client that saw the new version never sees the old one again.
        if 2 in versions:
            assert 1 not in versions[versions.index(2) :]
    assert server.state.holder.current.version == 2
    with open_ledger(project) as ledger:
        (event,) = ledger.events(PROJECT, kind="server.switch")
        deployments = ledger.deployments(PROJECT)
    assert (event.payload["from"], event.payload["to"]) == (1, 2)
    assert [d.version for d in deployments] == [1, 2]
    assert deployments[0].stopped_at is not None
    assert deployments[1].stopped_at is None
    with server.client() as client:
        metrics = client.get("/metrics").text
    assert (
        f'charter_model_info{{candidate="logistic_regression",predictor="{kind}",version="2"}} 1.0'
        in metrics
    )
    assert 'version="1"} 1.0' not in metrics.split("charter_model_info{")[-1]
    assert "charter_model_switches_total 1.0" in metrics


def test_a_refresh_without_a_move_changes_nothing(
    project: Path, start_server: ServerFactory
) -> None:
    server = start_server()

    async def twice() -> list[bool]:
        return [await refresh(server), await refresh(server)]

    assert asyncio.run(twice()) == [False, False]
    with open_ledger(project) as ledger:
        assert ledger.events(PROJECT, kind="server.switch") == []


def test_a_version_that_cannot_load_is_skipped_and_the_old_one_kept(
    project: Path, start_server: ServerFactory
) -> None:
    server = start_server()
    with open_ledger(project) as ledger:
        first = ledger.get_model_version(PROJECT, 1)
        reference = next(a for a in first.artifacts if a.name == "reference.json")
        broken = ledger.register_model_version(PROJECT, None, [reference.id], {}, {}, alias=None)
        ledger.set_alias(PROJECT, "champion", broken.version)
    assert asyncio.run(refresh(server)) is False
    assert server.state.holder.current.version == 1
    with server.client() as client:
        assert client.post("/predict", json=RECORD).json()["model_version"] == 1


def test_the_poller_follows_the_alias(project: Path, start_server: ServerFactory) -> None:
    server = start_server(poll_seconds=0.05)
    register_copy(project)
    with server.client() as client:
        # The poller switches within a few intervals; each answer is from one version.
        versions = set()
        for _ in range(2000):
            version = client.post("/predict", json=RECORD).json()["model_version"]
            versions.add(version)
            if version == 2:
                break
    assert versions <= {1, 2}
    assert 2 in versions
