"""A separate process that appends notices to one file, for the cross-process test.

python notify_child.py FOLDER FILE NAME COUNT THREADS
    Prints "ready", waits for a line on stdin (the barrier that lets several children
    start together), then THREADS threads each send COUNT notices through a Notifier whose
    one stakeholder NAME writes to FILE (relative to FOLDER); each notice carries a large
    text so that lines are far longer than a pipe's atomic size. Exits 1 if any delivery
    failed.
"""

from __future__ import annotations

import sys
import threading
from datetime import datetime, timezone
from pathlib import Path

from charter.notify import Notice, Notifier
from charter.spec.schema import Stakeholder

#: Long enough (64 KiB) that a non-atomic append would show as torn or interleaved lines.
FILLER = "n" * 65_536


def notice(name: str, thread: int, number: int) -> Notice:
    return Notice(
        project="telco-churn",
        kind="test",
        key=f"{name}-{thread}-{number}",
        title=f"notice {number} from thread {thread} of {name}",
        text=FILLER,
        fields={"writer": name, "thread": thread, "number": number},
        time=datetime.now(timezone.utc),
    )


def main(folder: str, file: str, name: str, count: int, threads: int) -> int:
    who = Stakeholder(name=name, notify="file", target=file)
    notifier = Notifier([who], base_dir=Path(folder))
    print("ready", flush=True)
    sys.stdin.readline()
    failures: list[str] = []

    def send(thread: int) -> None:
        for number in range(count):
            for delivery in notifier.notify(notice(name, thread, number)):
                if not delivery.delivered:
                    failures.append(str(delivery.error))

    workers = [threading.Thread(target=send, args=(thread,)) for thread in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    print("\n".join(failures) or "done", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    folder, file, name, count, threads = sys.argv[1:6]
    sys.exit(main(folder, file, name, int(count), int(threads)))
