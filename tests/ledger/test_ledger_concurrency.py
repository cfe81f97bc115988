"""Several real processes at once, and processes killed with SIGKILL half-way through."""

from __future__ import annotations

import json
import os
import signal
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

from charter.ledger import Ledger
from charter.ledger._migrate import HEAD

from .ledger_support import LedgerTarget, finish, release

WORKERS = 4
VERSIONS_EACH = 15


def test_processes_opening_a_fresh_ledger_at_once(target: LedgerTarget) -> None:
    children = [target.child("open") for _ in range(3)]
    release(children)
    outputs = finish(children)
    assert all(out.startswith("opened ") for out in outputs)
    assert target.query("SELECT version_num FROM alembic_version") == [(HEAD,)]


def test_concurrent_writers_number_versions_without_gaps(target: LedgerTarget) -> None:
    # The children also race to create the ledger: nothing is opened beforehand.
    children = [target.child("writer", str(w), str(VERSIONS_EACH)) for w in range(WORKERS)]
    release(children)
    outputs = finish(children)
    assert all(out.endswith("done\n") for out in outputs)

    total = WORKERS * VERSIONS_EACH
    with target.open() as ledger:
        versions = ledger.model_versions("shared")
        assert [v.version for v in versions] == list(range(1, total + 1))
        assert sorted((v.lineage["worker"], v.lineage["index"]) for v in versions) == [
            (w, i) for w in range(WORKERS) for i in range(VERSIONS_EACH)
        ]
        for version in versions:
            (artifact,) = version.artifacts
            worker, index = version.lineage["worker"], version.lineage["index"]
            assert ledger.load_artifact(artifact) == f"model {worker}-{index}".encode()
        assert len(ledger.evidence("shared", limit=None)) == 3 * total
        assert {r.status for r in ledger.runs("shared")} == {"succeeded"}
        candidate = ledger.get_alias("shared", "candidate")
        assert candidate is not None
        assert candidate.version == total
        assert len(ledger.events("shared", kind="model.registered", limit=None)) == total
    if target.backend == "sqlite":
        assert target.query("PRAGMA integrity_check") == [("ok",)]
        assert target.query("PRAGMA foreign_key_check") == []


def test_a_window_is_recorded_once_across_processes(target: LedgerTarget) -> None:
    with target.open() as ledger:
        artifact = ledger.put_artifact("shared", "model.bin", b"model")
        ledger.register_model_version("shared", None, [artifact.id], {}, {})
    children = [target.child("window", "2026-01-01T00") for _ in range(3)]
    release(children)
    answers = [json.loads(out) for out in finish(children)]
    assert sorted(a["created"] for a in answers) == [False, False, True]
    assert len({a["id"] for a in answers}) == 1
    with target.open() as ledger:
        (window,) = ledger.windows("shared")
        assert window.start == datetime(2026, 1, 1, tzinfo=timezone.utc)


def _check_consistent(target: LedgerTarget, ledger: Ledger) -> None:
    """What a kill -9 must never leave behind, whatever the moment it struck."""
    if target.backend == "sqlite":
        assert target.query("PRAGMA integrity_check") == [("ok",)]
        assert target.query("PRAGMA foreign_key_check") == []
    # Evidence exists only for stages that finished normally.
    assert (
        target.query(
            "SELECT s.status, count(*) FROM evidence e "
            "JOIN stage_executions s ON s.id = e.stage_execution_id "
            "WHERE s.status <> 'passed' GROUP BY s.status"
        )
        == []
    )
    assert target.query("SELECT id FROM stage_executions WHERE status = 'running'") == []
    assert target.query("SELECT id FROM runs WHERE status = 'running'") == []
    # A model version is registered whole: artifacts, alias and event, or not at all.
    versions = ledger.model_versions("churn")
    assert [v.version for v in versions] == list(range(1, len(versions) + 1))
    for version in versions:
        assert [a.name for a in version.artifacts] == ["model.bin", "reference.json"]
        for artifact in version.artifacts:
            assert ledger.load_artifact(artifact)
    registered = ledger.events("churn", kind="model.registered", limit=None)
    assert len(registered) == len(versions)
    candidate = ledger.get_alias("churn", "candidate")
    if versions:
        assert candidate is not None
        assert candidate.version == versions[-1].version
    champion = ledger.get_alias("churn", "champion")
    if champion is not None:
        assert champion.version % 2 == 0


def test_kill_9_leaves_a_consistent_ledger(target: LedgerTarget) -> None:
    # Each child is killed after a different number of progress lines, so the kill
    # lands inside an open stage, between an artifact and its registration, and so on.
    for lines in (1, 2, 4, 6, 9):
        child = target.child("churn")
        assert child.stdout is not None
        first = child.stdout.readline()
        assert first.startswith("run "), first + (child.stderr.read() if child.stderr else "")
        run_id = first.split()[1]
        for _ in range(lines):
            assert child.stdout.readline(), "the child stopped before it was killed"
        os.kill(child.pid, signal.SIGKILL)
        child.communicate()
        assert child.returncode == -signal.SIGKILL

        # Before anyone reopens: the killed stage may be "running", but holds no evidence.
        assert target.query(
            "SELECT count(*) FROM evidence e "
            "JOIN stage_executions s ON s.id = e.stage_execution_id "
            "WHERE s.status = 'running'"
        ) == [(0,)]
        with target.open() as ledger:
            run = ledger.get_run(run_id)
            assert run.status == "interrupted"
            assert run.exit_reason is not None
            assert f"pid {child.pid}" in run.exit_reason
            _check_consistent(target, ledger)


def test_threads_share_one_ledger(ledger: Ledger) -> None:
    def register(worker: int) -> list[int]:
        artifact = ledger.put_artifact("shared", "m", f"m{worker}".encode())
        return [
            ledger.register_model_version("shared", None, [artifact.id], {}, {}).version
            for _ in range(5)
        ]

    with ThreadPoolExecutor(max_workers=4) as pool:
        numbers = [n for batch in pool.map(register, range(4)) for n in batch]
    assert sorted(numbers) == list(range(1, 21))


def _backend_id(ledger: Ledger) -> int:
    """Which server connection the ledger's pool hands out next (PostgreSQL only)."""
    with ledger._engine.connect() as connection:
        return int(connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())


def test_a_forked_child_uses_its_own_connections(target: LedgerTarget, ledger: Ledger) -> None:
    ledger.record_event("p", "note", "before the fork")
    parent_backend = _backend_id(ledger) if target.backend == "postgresql" else 0
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit status
        code = 1
        try:
            ledger.record_event("p", "note", "from the child")
            own = target.backend == "sqlite" or _backend_id(ledger) != parent_backend
            code = 0 if own and len(ledger.events("p")) == 2 else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    ledger.record_event("p", "note", "after the fork")
    assert [e.message for e in ledger.events("p")] == [
        "after the fork",
        "from the child",
        "before the fork",
    ]
    if target.backend == "sqlite":
        assert target.query("PRAGMA integrity_check") == [("ok",)]
