"""The charter side of benchmarks/drift.py: drift of a current frame against a reference.

Modes (each run in its own process, timed from outside with /usr/bin/time -v):

- `reference`: read the reference Parquet, compute its reference statistics with the
  functions training uses (`numeric_bins`, `category_counts`; no model is fitted, so there
  is no prediction distribution), and write them as JSON: what a registered model keeps.
- `drift`: read the stored reference JSON and the current Parquet, `drift_of_frame`.
- `stream`: the same, reading the current Parquet in `--chunk-rows` batches and merging
  their counts (`count_columns`, `drift_report`): the window is never whole in memory.
- `full`: both in one process (reference statistics from the raw frame, then drift), for
  a comparison on equal terms with a tool that re-reads the reference data.
- `throughput`: `count_columns` over `--rows` rows in `--chunk-rows` chunks, cycling the
  current file's first ten batches so that reading and generating data is not timed.

Prints one JSON object with the in-process seconds of each phase and the flagged columns.
"""

from __future__ import annotations

import argparse
import importlib
import json
import time
from pathlib import Path
from typing import Any

import pandas as pd

from charter.monitoring import (
    DriftCounts,
    DriftPlan,
    DriftThresholds,
    count_columns,
    drift_of_frame,
    drift_report,
)

# Evidently's DataDriftPreset thresholds above 1000 rows, plus charter's default PSI.
THRESHOLDS = {"psi": 0.2, "wasserstein": 0.1, "js": 0.1}


def reference_of(frame: pd.DataFrame) -> dict[str, Any]:
    """Reference statistics of a frame, as modeling/_reference.py builds them per feature."""
    # Imported here: charter.modeling loads scikit-learn, which the drift mode never needs.
    from charter.modeling._reference import (
        REFERENCE_FORMAT_VERSION,
        category_counts,
        numeric_bins,
    )
    from charter.values import category_strings, numeric_values

    features: dict[str, Any] = {}
    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_numeric_dtype(column):
            features[name] = {"kind": "numeric", **numeric_bins(numeric_values(column))}
        else:
            features[name] = {"kind": "categorical", **category_counts(category_strings(column))}
    return {
        "format": REFERENCE_FORMAT_VERSION,
        "rows": len(frame),
        "features": features,
        "prediction": None,
        "target": None,
    }


def drift(reference: dict[str, Any], current: Path, chunk_rows: int) -> dict[str, Any]:
    frame = pd.read_parquet(current)
    started = time.perf_counter()
    report = drift_of_frame(
        reference, frame, DriftThresholds.from_mapping(THRESHOLDS), chunk_rows=chunk_rows
    )
    return {
        "drift_s": time.perf_counter() - started,
        "flagged": sorted(report.drifted),
        "statistics": {
            name: {"wasserstein": f.wasserstein, "js": f.js, "psi": f.psi}
            for name, f in report.features.items()
        },
    }


def stream(reference: dict[str, Any], current: Path, chunk_rows: int) -> dict[str, Any]:
    """The same report, reading the Parquet file one batch at a time: counts merge, so the
    window never has to be in memory at once."""
    import pyarrow.parquet as pq

    plan = DriftPlan.from_reference(reference)
    started = time.perf_counter()
    counts = DriftCounts()
    for batch in pq.ParquetFile(current).iter_batches(batch_size=chunk_rows):
        chunk = batch.to_pandas()
        columns = {name: chunk[name] for name in plan.features if name in chunk.columns}
        counts = counts.merge(count_columns(plan, columns, rows=len(chunk))).bounded(plan)
    report = drift_report(reference, counts, DriftThresholds.from_mapping(THRESHOLDS))
    return {"drift_s": time.perf_counter() - started, "flagged": sorted(report.drifted)}


def throughput(reference: dict[str, Any], current: Path, rows: int, chunk_rows: int) -> dict:
    """`count_columns` over `rows` rows: the current file's first ten batches, cycled."""
    import pyarrow.parquet as pq

    plan = DriftPlan.from_reference(reference)
    batches = pq.ParquetFile(current).iter_batches(batch_size=chunk_rows)
    chunks = [batch.to_pandas() for _, batch in zip(range(10), batches, strict=False)]
    counts = DriftCounts()
    started = time.perf_counter()
    done = 0
    while done < rows:
        chunk = chunks[(done // chunk_rows) % len(chunks)]
        part = count_columns(plan, {name: chunk[name] for name in chunk.columns})
        counts = counts.merge(part).bounded(plan)
        done += len(chunk)
    seconds = time.perf_counter() - started
    return {"rows": done, "count_s": seconds, "rows_per_s": done / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["reference", "drift", "stream", "full", "throughput"])
    parser.add_argument("--reference", required=True, help="Parquet (reference, full) or JSON")
    parser.add_argument("--current", help="the current Parquet (drift, full, throughput)")
    parser.add_argument("--out", help="where `reference` writes the statistics JSON")
    parser.add_argument("--chunk-rows", type=int, default=100_000)
    parser.add_argument("--rows", type=int, default=10_000_000, help="throughput rows")
    args = parser.parse_args()

    result: dict[str, Any] = {}
    if args.mode in ("reference", "full"):
        frame = pd.read_parquet(args.reference)
        # Loaded before the clock starts: charter.modeling's imports (scikit-learn) are
        # start-up cost, which the process's wall time already shows.
        importlib.import_module("charter.modeling._reference")
        started = time.perf_counter()
        reference = reference_of(frame)
        result["reference_s"] = time.perf_counter() - started
        del frame
        if args.mode == "reference":
            Path(args.out).write_text(json.dumps(reference, allow_nan=False), encoding="utf-8")
    else:
        reference = json.loads(Path(args.reference).read_text(encoding="utf-8"))
    if args.mode in ("drift", "full"):
        result.update(drift(reference, Path(args.current), args.chunk_rows))
    if args.mode == "stream":
        result.update(stream(reference, Path(args.current), args.chunk_rows))
    if args.mode == "throughput":
        result.update(throughput(reference, Path(args.current), args.rows, args.chunk_rows))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
