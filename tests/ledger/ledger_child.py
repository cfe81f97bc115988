"""A separate process that writes to a ledger, for the concurrency and kill -9 tests.

Run as `python ledger_child.py MODE CHARTER_DIR URL ...`; URL is "-" for the default
SQLite file. Each mode prints "ready" once imported, waits for a line on stdin (the
barrier that lets several children start together), then reports progress line by line.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from charter.ledger import open_ledger


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _wait_for_go() -> None:
    _say("ready")
    sys.stdin.readline()


def open_only(charter_dir: Path, url: str | None) -> None:
    """Open (and so migrate) the ledger; print how many revisions alembic recorded."""
    _wait_for_go()
    with open_ledger(charter_dir, url) as ledger:
        _say(f"opened {ledger.url}")


def writer(charter_dir: Path, url: str | None, worker: int, versions: int) -> None:
    """Register `versions` model versions, each after a stage with evidence."""
    _wait_for_go()
    with open_ledger(charter_dir, url) as ledger:
        run = ledger.start_run("shared", f"worker-{worker}")
        for index in range(versions):
            with ledger.stage(run.id, "train") as stage:
                for kind in ("search", "metrics", "lineage"):
                    stage.add_evidence(kind, {"worker": worker, "index": index})
            artifact = ledger.put_artifact(
                "shared", "model.bin", f"model {worker}-{index}".encode(), run_id=run.id
            )
            version = ledger.register_model_version(
                "shared",
                run.id,
                [artifact.id],
                {"worker": worker, "index": index},
                {"auc": 0.5 + index / 100},
            )
            _say(f"version {version.version}")
        ledger.finish_run(run.id, "succeeded")
    _say("done")


def window(charter_dir: Path, url: str | None, key: str) -> None:
    """Record one monitoring window of version 1; print whether this process created it."""
    with open_ledger(charter_dir, url) as ledger:
        _wait_for_go()
        start = datetime(2026, 1, 1, tzinfo=timezone.utc)
        recorded = ledger.record_window(
            "shared", 1, key, start, start + timedelta(hours=1), 100, "ok", {"pid": os.getpid()}
        )
        _say(json.dumps({"created": recorded.created, "id": recorded.id}))


def churn(charter_dir: Path, url: str | None) -> None:
    """Write forever: stages with evidence, artifacts, model versions, alias moves.

    Prints a line at several points of each cycle, including inside an open stage,
    so that a kill after the n-th line lands at a different point for each n.
    """
    with open_ledger(charter_dir, url) as ledger:
        run = ledger.start_run("churn", "churn")
        _say(f"run {run.id}")
        index = 0
        while True:
            with ledger.stage(run.id, "train") as stage:
                for part in range(20):
                    stage.add_evidence("trial", {"index": index, "part": part, "pad": "x" * 200})
                _say(f"in-stage {index}")
            first = ledger.put_artifact("churn", "model.bin", f"model {index}".encode() * 500)
            _say(f"artifact {index}")
            second = ledger.put_artifact("churn", "reference.json", f"ref {index}".encode())
            version = ledger.register_model_version(
                "churn", run.id, [first.id, second.id], {"index": index}, {"auc": 0.8}
            )
            if version.version % 2 == 0:
                ledger.set_alias("churn", "champion", version.version, reason="even")
            _say(f"registered {version.version}")
            index += 1


def main() -> None:
    mode, charter_dir, url = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    target_url = None if url == "-" else url
    if mode == "open":
        open_only(charter_dir, target_url)
    elif mode == "writer":
        writer(charter_dir, target_url, int(sys.argv[4]), int(sys.argv[5]))
    elif mode == "window":
        window(charter_dir, target_url, sys.argv[4])
    elif mode == "churn":
        churn(charter_dir, target_url)
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main()
