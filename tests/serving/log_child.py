"""A separate process that writes a prediction log, for the kill -9 and cross-process tests.

python log_child.py write FOLDER MODE THREADS SEGMENT_MAX_BYTES
    Each of THREADS threads submits one record at a time, waits for its future (the
    moment a server would send its response) and only then prints
    "<prediction_id> <time.monotonic()>". It runs until it is killed.

python log_child.py feedback FOLDER COUNT LABEL
    Prints "ready", waits for a line on stdin (the barrier that lets several children
    start together), posts LABEL for ids p0 .. p<COUNT-1> and prints the outcome counts
    as one JSON line.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from charter.serving._feedback import FeedbackStore
from charter.serving._log import PredictionLog


def _say(line: str) -> None:
    # One write(2) of less than PIPE_BUF bytes: lines from several threads never interleave.
    os.write(1, (line + "\n").encode())


def write(folder: Path, mode: str, threads: int, segment_max_bytes: int) -> None:
    assert mode in ("durable", "fast")
    log = PredictionLog(folder, mode=mode, segment_max_bytes=segment_max_bytes)  # type: ignore[arg-type]
    prefix = f"{os.getpid()}"

    def worker(number: int) -> None:
        index = 0
        while True:
            prediction_id = f"{prefix}-{number}-{index}"
            record = {
                "prediction_id": prediction_id,
                "time": "2026-01-01T00:00:00+00:00",
                "model_version": "1",
                "input": {"tenure": index, "contract": "Month-to-month", "charges": 70.5},
                "output": {"prediction": "Yes", "probabilities": {"No": 0.3, "Yes": 0.7}},
                "latency_ms": 0.25,
            }
            log.submit([record]).result()
            _say(f"{prediction_id} {time.monotonic()!r}")
            index += 1

    for number in range(threads):
        threading.Thread(target=worker, args=(number,), daemon=True).start()
    threading.Event().wait()  # until killed


def feedback(folder: Path, count: int, label: str) -> None:
    with FeedbackStore(folder) as store:
        _say("ready")
        sys.stdin.readline()
        outcomes = Counter(store.record(f"p{index}", label) for index in range(count))
    _say(json.dumps(dict(outcomes)))


if __name__ == "__main__":
    command, folder_text, *rest = sys.argv[1:]
    if command == "write":
        write(Path(folder_text), rest[0], int(rest[1]), int(rest[2]))
    elif command == "feedback":
        feedback(Path(folder_text), int(rest[0]), rest[1])
    else:
        raise SystemExit(f"unknown command {command!r}")
