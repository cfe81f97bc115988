"""How fast the command line answers: `charter --help` and `charter check` against the floor.

The floor is a bare `python -c pass` in the same interpreter: what no Python CLI can beat.
Run with `make bench`; the figures are written to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHARTER = Path(sys.executable).with_name("charter")
EXAMPLE = REPO / "examples" / "telco-churn"
RUNS = 15
TARGET_HELP_S = 0.5


def timed(command: list[str]) -> list[float]:
    """Wall seconds of `command` over RUNS runs, after one warm-up run."""
    subprocess.run(command, check=True, capture_output=True)
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    cases = {
        "python -c pass (floor)": [sys.executable, "-c", "pass"],
        "charter --help": [str(CHARTER), "--help"],
        "charter check --no-record (telco example)": [
            str(CHARTER),
            "check",
            "--no-record",
            "--charter",
            str(EXAMPLE),
        ],
    }
    rows = []
    for label, command in cases.items():
        times = timed(command)
        rows.append((label, min(times), statistics.median(times), max(times)))
        print(f"{label:45s} median {statistics.median(times) * 1000:7.1f} ms", flush=True)
    help_median = rows[1][2]
    verdict = "meets" if help_median < TARGET_HELP_S else "MISSES"
    lines = [
        "## CLI start-up (`python benchmarks/cli_startup.py`)",
        "",
        f"Machine: {platform.machine()}, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}; {RUNS} runs after a warm-up.",
        "",
        "| command | min ms | median ms | max ms |",
        "|---|---|---|---|",
        *[
            f"| `{label}` | {lo * 1000:.0f} | {med * 1000:.0f} | {hi * 1000:.0f} |"
            for label, lo, med, hi in rows
        ],
        "",
        f"`charter --help` median {help_median * 1000:.0f} ms {verdict} the 500 ms target "
        f"({help_median / rows[0][2]:.1f}x the bare interpreter).",
        "",
    ]
    section = "\n".join(lines)
    results = REPO / "benchmarks" / "RESULTS.md"
    text = results.read_text(encoding="utf-8") if results.exists() else "# Benchmark results\n\n"
    marker = "## CLI start-up"
    if marker in text:
        head, _, rest = text.partition(marker)
        tail = rest.split("\n## ", 1)
        text = head + section + ("\n## " + tail[1] if len(tail) > 1 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    results.write_text(text, encoding="utf-8")
    print(f"wrote {results}")


if __name__ == "__main__":
    main()
