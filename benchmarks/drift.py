"""Data drift: charter's drift report against Evidently's DataDriftPreset, side by side.

Targets (issue 5): on the same reference and current frames, charter is at least 20 times
faster than Evidently and peaks at no more than a quarter of its memory, and both flag the
same shifted columns; `count_columns` counts 10M rows in 100k-row chunks under 1 GiB.

Data: Telco churn rows drawn with replacement (tenure, MonthlyCharges, TotalCharges and
five categorical columns) plus 17 generated numeric columns, at each size in `--rows`,
for a reference and a current frame drawn with other seeds; in the current frame
MonthlyCharges is multiplied by 1.3, the Contract mix moves towards longer contracts and
n03 shifts by half a standard deviation. Everything else is drawn from the same
distribution, so those three columns, and only they, should be flagged.

Each side runs in its own process, timed with /usr/bin/time -v (wall seconds, peak RSS):
charter "drift" reads the reference statistics a registered model keeps (JSON) and the
current Parquet and runs `drift_of_frame`; "streamed" reads the Parquet in batches and
merges their counts instead (`count_columns`, `drift_report`); "incl. reference" also builds
the statistics from the raw reference frame first, as a tool without them must; Evidently
(benchmarks/.cache/venv-evidently, created on first use: evidently needs pandas < 3) reads
both Parquet files and runs `Report([DataDriftPreset()])`. Prints Markdown tables for
benchmarks/RESULTS.md; writes nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from _common import REPO, busy_cpu_seconds, code_version, command_line, machine_line, versions

CACHE = REPO / "benchmarks" / ".cache"
EVIDENTLY_VENV = CACHE / "venv-evidently"
EVIDENTLY_REQUIREMENTS = ["evidently>=0.7", "pandas<3", "pyarrow"]
CHARTER_SIDE = REPO / "benchmarks" / "drift_charter_side.py"
EVIDENTLY_SIDE = REPO / "benchmarks" / "drift_evidently_side.py"
TELCO = REPO.parent / "shared" / "datasets" / "telco_churn.csv"
SIZES = (100_000, 1_000_000)
SHIFTED = ("Contract", "MonthlyCharges", "n03")
CATEGORICAL = ("Contract", "PaymentMethod", "InternetService", "gender", "PaperlessBilling")
QUIET = {"DO_NOT_TRACK": "true", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def evidently_python() -> Path:
    """Evidently's interpreter, creating its virtual environment when missing or out of date."""
    CACHE.mkdir(parents=True, exist_ok=True)
    ignore = CACHE / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# Created by the benchmarks: nothing here is tracked.\n*\n")
    python = EVIDENTLY_VENV / "bin" / "python"
    stamp = EVIDENTLY_VENV / ".requirements"
    wanted = "\n".join(EVIDENTLY_REQUIREMENTS)
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    print(f"creating {EVIDENTLY_VENV.relative_to(REPO)} (Evidently's own environment)...")
    env = {**os.environ, **QUIET}
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(EVIDENTLY_VENV)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", *EVIDENTLY_REQUIREMENTS],
        check=True,
        env=env,
    )
    stamp.write_text(wanted)
    return python


# --- data -------------------------------------------------------------------------------


def telco_rows() -> pd.DataFrame:
    frame = pd.read_csv(TELCO)
    frame["TotalCharges"] = pd.to_numeric(frame["TotalCharges"], errors="coerce")
    frame["tenure"] = frame["tenure"].astype("float64")
    return frame[["tenure", "MonthlyCharges", "TotalCharges", *CATEGORICAL]]


def make_frame(telco: pd.DataFrame, rows: int, seed: int, *, shifted: bool) -> pd.DataFrame:
    """Telco rows drawn with replacement plus generated columns (see the module docstring)."""
    rng = np.random.default_rng(seed)
    frame = telco.iloc[rng.integers(0, len(telco), size=rows)].reset_index(drop=True)
    generators = [
        lambda: rng.normal(0.0, 1.0, rows),
        lambda: rng.lognormal(3.0, 0.5, rows),
        lambda: rng.gamma(2.0, 10.0, rows),
        lambda: rng.uniform(-5.0, 5.0, rows),
        lambda: rng.exponential(3.0, rows),
    ]
    for index in range(1, 18):
        frame[f"n{index:02d}"] = generators[index % len(generators)]() * index
    if shifted:
        frame["MonthlyCharges"] = frame["MonthlyCharges"] * 1.3
        longer = rng.choice(
            np.array(["Month-to-month", "One year", "Two year"], dtype=object),
            size=rows,
            p=[0.25, 0.35, 0.40],
        )
        frame["Contract"] = pd.Series(longer, dtype=object)
        frame["n03"] = frame["n03"] + 0.5 * frame["n03"].std()
    for name in CATEGORICAL:
        frame[name] = frame[name].astype(object)
    return frame


# --- measuring --------------------------------------------------------------------------


@dataclass(frozen=True)
class Timed:
    """One side's process: /usr/bin/time's figures and what the side printed."""

    tool: str
    rows: int
    wall_s: float
    cpu_s: float
    peak_mib: float
    others_cores: float
    result: dict[str, Any]


def timed(tool: str, rows: int, command: list[str]) -> Timed:
    busy = busy_cpu_seconds()
    done = subprocess.run(
        ["/usr/bin/time", "-v", *command],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **QUIET},
    )
    busy = busy_cpu_seconds() - busy
    if done.returncode != 0:
        raise SystemExit(
            f"{tool} failed ({done.returncode}):\n{done.stdout}\n{done.stderr[-6000:]}"
        )
    stats = dict(
        line.strip().rsplit(": ", 1) for line in done.stderr.splitlines() if ": " in line.strip()
    )
    wall = _clock(stats["Elapsed (wall clock) time (h:mm:ss or m:ss)"])
    cpu = float(stats["User time (seconds)"]) + float(stats["System time (seconds)"])
    peak = int(stats["Maximum resident set size (kbytes)"]) / 1024
    result = json.loads(done.stdout.strip().splitlines()[-1])
    others = max(0.0, busy - cpu) / wall if wall > 0 else 0.0
    return Timed(tool, rows, wall, cpu, peak, others, result)


def _clock(text: str) -> float:
    parts = [float(p) for p in re.split(r":", text)]
    seconds = 0.0
    for part in parts:
        seconds = seconds * 60 + part
    return seconds


# --- reporting --------------------------------------------------------------------------


def table(results: list[Timed]) -> str:
    lines = [
        "| rows | tool | wall s | in-process s | peak RSS MiB | Evidently / this: time | "
        "memory | flagged columns | others |",
        "|---:|---|---:|---:|---:|---:|---:|---|---:|",
    ]
    for rows in sorted({r.rows for r in results}):
        group = [r for r in results if r.rows == rows]
        evidently = next(r for r in group if r.tool == "Evidently")
        for r in group:
            inner = r.result.get("drift_s", 0.0) + r.result.get("reference_s", 0.0)
            lines.append(
                f"| {rows:,} | {r.tool} | {r.wall_s:.2f} | {inner:.2f} | {r.peak_mib:.0f} | "
                f"{evidently.wall_s / r.wall_s:.1f}x | {evidently.peak_mib / r.peak_mib:.1f}x | "
                f"{', '.join(r.result['flagged']) or '(none)'} | {r.others_cores:.2f} |"
            )
    return "\n".join(lines)


def agreement(results: list[Timed]) -> list[str]:
    """Whether each side flagged exactly the shifted columns, per size."""
    notes = []
    expected = set(SHIFTED)
    for rows in sorted({r.rows for r in results}):
        wrong = [
            f"At {rows:,} rows {r.tool} flagged {sorted(r.result['flagged'])}, not the "
            f"shifted {sorted(expected)}."
            for r in results
            if r.rows == rows and set(r.result["flagged"]) != expected
        ]
        notes.extend(wrong or [f"At {rows:,} rows every side flagged exactly {sorted(expected)}."])
    return notes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", nargs="+", type=int, default=list(SIZES))
    parser.add_argument("--throughput-rows", type=int, default=10_000_000)
    parser.add_argument("--chunk-rows", type=int, default=100_000)
    args = parser.parse_args()

    python = evidently_python()
    telco = telco_rows()
    results: list[Timed] = []
    throughput: Timed | None = None
    with tempfile.TemporaryDirectory(prefix="charter-drift-bench-") as folder:
        root = Path(folder)
        for rows in args.rows:
            reference_path, current_path = root / f"ref{rows}.parquet", root / f"cur{rows}.parquet"
            make_frame(telco, rows, seed=1, shifted=False).to_parquet(reference_path)
            make_frame(telco, rows, seed=2, shifted=True).to_parquet(current_path)
            stats_path = root / f"ref{rows}.json"
            charter = [sys.executable, str(CHARTER_SIDE)]
            chunk = ["--chunk-rows", str(args.chunk_rows)]
            stored = timed(
                "charter (reference)",
                rows,
                [
                    *charter,
                    "reference",
                    "--reference",
                    str(reference_path),
                    "--out",
                    str(stats_path),
                ],
            )
            print(f"{rows:,} rows: reference statistics in {stored.wall_s:.2f} s", flush=True)
            results.append(
                timed(
                    "charter",
                    rows,
                    [
                        *charter,
                        "drift",
                        "--reference",
                        str(stats_path),
                        "--current",
                        str(current_path),
                        *chunk,
                    ],
                )
            )
            results.append(
                timed(
                    "charter, streamed",
                    rows,
                    [
                        *charter,
                        "stream",
                        "--reference",
                        str(stats_path),
                        "--current",
                        str(current_path),
                        *chunk,
                    ],
                )
            )
            results.append(
                timed(
                    "charter incl. reference",
                    rows,
                    [
                        *charter,
                        "full",
                        "--reference",
                        str(reference_path),
                        "--current",
                        str(current_path),
                        *chunk,
                    ],
                )
            )
            results.append(
                timed(
                    "Evidently",
                    rows,
                    [
                        str(python),
                        str(EVIDENTLY_SIDE),
                        "--reference",
                        str(reference_path),
                        "--current",
                        str(current_path),
                    ],
                )
            )
            print(table([r for r in results if r.rows == rows]), flush=True)
        if args.throughput_rows:
            rows = max(args.rows)
            throughput = timed(
                "count_columns",
                args.throughput_rows,
                [
                    sys.executable,
                    str(CHARTER_SIDE),
                    "throughput",
                    "--reference",
                    str(root / f"ref{rows}.json"),
                    "--current",
                    str(root / f"cur{rows}.parquet"),
                    "--rows",
                    str(args.throughput_rows),
                    "--chunk-rows",
                    str(args.chunk_rows),
                ],
            )
    evidently_versions = next(r for r in results if r.tool == "Evidently").result["versions"]
    print()
    print("## Data drift: charter vs Evidently's DataDriftPreset")
    print()
    print(
        f"Command: `{command_line('drift.py')}`. {machine_line()} {code_version()} "
        f"charter side: {versions('pandas', 'numpy', 'scipy')}; Evidently side: "
        + ", ".join(f"{k} {v}" for k, v in evidently_versions.items())
        + "."
    )
    print()
    print(
        f"{len(SHIFTED) + 22} columns (20 numeric, 5 categorical); the current frame has "
        f"{', '.join(SHIFTED)} shifted. Wall s and peak RSS are whole processes "
        "(/usr/bin/time -v: interpreter start, imports and Parquet reads included); "
        "in-process s is the drift computation alone (and, for 'incl. reference', building "
        "the reference statistics from the raw reference frame). 'charter' reads the "
        "statistics a registered model keeps instead of the reference data and runs "
        "`drift_of_frame` on the whole current frame; 'streamed' reads the current Parquet "
        "in batches of --chunk-rows and merges their counts, so the window is never whole "
        "in memory (the same report). Ratios are "
        "Evidently's figure over the row's; 'others' is how many cores other processes "
        "kept busy meanwhile. Thresholds on both sides: normed Wasserstein 0.1 (numeric), "
        "Jensen-Shannon 0.1 (categorical); charter also checks PSI 0.2."
    )
    print()
    print(table(results))
    print()
    for note in agreement(results):
        print(f"- {note}")
    if throughput is not None:
        r = throughput.result
        print(
            f"- `count_columns` throughput: {r['rows']:,} rows (25 columns) in "
            f"{args.chunk_rows:,}-row chunks, merged as it goes: {r['count_s']:.1f} s counting, "
            f"{r['rows_per_s'] / 1e6:.2f}M rows/s, peak RSS {throughput.peak_mib:.0f} MiB "
            f"(whole process, {throughput.wall_s:.1f} s wall)."
        )


if __name__ == "__main__":
    main()
