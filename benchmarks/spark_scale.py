"""Scale: the audit, drift counts and batch scoring on the pandas and Spark engines.

    python benchmarks/spark_scale.py --rows 1000000 10000000 50000000 --score-rows 10000000

Generates ~25-column tables as Parquet once (in 1M-row parts, so generation holds one part
in memory) under benchmarks/.data/, then runs each (engine, task, size) in a subprocess of
its own and records its wall time, the peak memory of its whole process tree (the Python
driver plus, on Spark, the JVM and its Python workers; sampled every 0.2 s from /proc)
and rows per second. Spark runs in local mode on every core of this machine. A pandas
case is skipped when its estimated peak exceeds 70% of the machine's available memory
(reading the table to one frame is what pandas cannot avoid); the table says so.
Prints a Markdown table; with --results, also writes it to that file.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "benchmarks" / ".data"
PART_ROWS = 1_000_000
NUMBERS = 14
CATEGORIES = 7
# Bytes per row the pandas engine's process held at its peak, measured at 10M rows with this
# script's table (audit 4.0 GiB, drift 4.0 GiB) plus 5% margin; used to skip what cannot fit.
PANDAS_BYTES_PER_ROW = {"audit": 455, "drift": 450, "score": 70}


# -- data ------------------------------------------------------------------------------------


def table(rows: int) -> Path:
    """The folder of Parquet parts holding `rows` generated rows (made once)."""
    folder = DATA / f"rows-{rows}"
    done = folder / "_DONE"
    if done.exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    for index, start in enumerate(range(0, rows, PART_ROWS)):
        part = generated(min(PART_ROWS, rows - start), seed=index, start=start)
        part.to_parquet(folder / f"part-{index:05d}.parquet", index=False)
    done.write_text(str(rows), encoding="utf-8")
    return folder


def generated(rows: int, *, seed: int, start: int = 0) -> Any:
    """One part: an id, 14 numbers (some missing, some heavy-tailed), 7 categories, a date,
    a protected attribute, a binary target."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    columns: dict[str, Any] = {"id": np.arange(start, start + rows, dtype=np.int64)}
    for i in range(NUMBERS):
        values = rng.lognormal(1 + i % 3, 0.8, rows) if i % 2 else rng.normal(i, 1 + i, rows)
        values[rng.random(rows) < 0.02] = np.nan
        columns[f"x{i}"] = values
    levels = [np.asarray([f"c{j}" for j in range(3 + 4 * i)], dtype=object) for i in range(7)]
    for i in range(CATEGORIES):
        columns[f"cat{i}"] = levels[i][rng.integers(0, len(levels[i]), rows)]
    columns["signup"] = pd.Timestamp("2020-01-01") + pd.to_timedelta(
        rng.integers(0, 1500, rows), unit="D"
    )
    columns["group"] = rng.choice(
        np.asarray(["a", "b", "c"], dtype=object), rows, p=[0.6, 0.3, 0.1]
    )
    logit = 0.3 * columns["x0"] - 0.2 * np.nan_to_num(columns["x2"]) - 1
    columns["y"] = np.where(rng.random(rows) < 1 / (1 + np.exp(-logit)), "yes", "no").astype(object)
    return pd.DataFrame(columns)


def charter_document() -> dict[str, Any]:
    return {
        "project": {"name": "scale", "problem": "Scale benchmark.", "owner": "bench@example.com"},
        "objective": {"task": "binary_classification", "target": "y", "positive": "yes"},
        "data": {"source": "unused.parquet", "id": "id", "protected": ["group"]},
        "kpis": [{"name": "auc", "metric": "roc_auc", "at_least": 0.5}],
        "model": {
            "candidates": ["logistic_regression"],
            "budget": {"trials": 1, "seconds": None},
            "cv_folds": 2,
        },
    }


# -- one case, in its own process --------------------------------------------------------------


def run_case(engine_name: str, task: str, rows: int) -> dict[str, Any]:
    """Run one case here and return what it measured (called in the child process)."""
    import warnings

    warnings.simplefilter("ignore")
    import pandas as pd

    from charter.spec import Charter

    charter = Charter.model_validate(charter_document())
    folder = table(rows)
    started = time.perf_counter()
    if engine_name == "spark":
        from charter.engines import SparkEngine

        engine: Any = SparkEngine(master="local[*]", conf={"spark.driver.memory": "4g"})
        frame: Any = engine.read_parquet(str(folder))
    else:
        from charter.engines import PandasEngine

        engine = PandasEngine()
        frame = pd.read_parquet(folder) if task != "score" else None
    loaded = time.perf_counter()
    detail: dict[str, Any] = {}
    if task == "audit":
        from charter.data import audit

        report = audit(frame, charter, engine=engine)
        detail = {"findings": len(report.findings), "rows": report.rows}
    elif task == "drift":
        from charter.engines import DriftPlan

        counts = engine.drift_counts(frame, DriftPlan.from_reference(reference()))
        detail = {"rows": counts.rows}
    else:
        detail = score(engine_name, engine, folder)
    return {
        "engine": engine_name,
        "task": task,
        "rows": rows,
        "load_s": loaded - started,
        "seconds": time.perf_counter() - started,
        **detail,
    }


def reference() -> dict[str, Any]:
    """Reference statistics from a 100k-row training sample, built as training builds them."""
    import numpy as np

    from charter.modeling._reference import category_counts, numeric_bins
    from charter.values import category_strings, numeric_values

    sample = generated(100_000, seed=999)
    features: dict[str, Any] = {}
    for name in sample.columns:
        if name in ("id", "y"):
            continue
        if sample[name].dtype == object:
            features[name] = {
                "kind": "categorical",
                **category_counts(category_strings(sample[name])),
            }
        else:
            values = numeric_values(sample[name])
            features[name] = {"kind": "numeric", **numeric_bins(np.asarray(values))}
    from charter.modeling._jsonable import jsonable

    result: dict[str, Any] = jsonable({"format": 2, "features": features})
    return result


def score(engine_name: str, engine: Any, folder: Path) -> dict[str, Any]:
    """Score every row of the table with a logistic regression (its fast linear path)."""
    import tempfile

    from charter.modeling import train_model
    from charter.serving import compile_predictor
    from charter.spec import Charter

    charter = Charter.model_validate(charter_document())
    train = generated(20_000, seed=1234).drop(columns=["signup"])
    model = train_model(train, charter).model
    predictor = compile_predictor(model, holdout=train.iloc[:2000], prefer="fast")
    out_root = Path(tempfile.mkdtemp(dir=DATA))
    try:
        return _score_into(engine_name, engine, folder, out_root, model, predictor)
    finally:
        shutil.rmtree(out_root, ignore_errors=True)


def _score_into(
    engine_name: str, engine: Any, folder: Path, out_root: Path, model: Any, predictor: Any
) -> dict[str, Any]:
    import hashlib

    from charter.serving import score_file, score_spark

    if engine_name == "spark":
        blobs = {"model.pkl": model.to_bytes(), "predictor.bin": predictor.to_bytes()}
        artifacts = {name: (data, hashlib.sha256(data).hexdigest()) for name, data in blobs.items()}
        summary = score_spark(
            engine.session, artifacts, _load, folder, out_root / "out.parquet", id_column="id"
        )
        return {"scored": summary.scored, "kind": summary.kind}
    scored = 0
    for part in sorted(folder.glob("part-*.parquet")):
        summary = score_file(
            model, predictor, None, part, out_root / f"{part.stem}.out.parquet", id_column="id"
        )
        scored += summary.scored
    return {"scored": scored, "kind": predictor.kind}


def _load(blobs: Any) -> Any:
    from charter.lifecycle._score import predictor_from_artifacts

    return predictor_from_artifacts(blobs)


# -- the parent: one subprocess per case, its process tree's memory sampled -------------------


def tree_rss(pid: int) -> int:
    """Resident bytes of `pid` and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            parent, pages = int(fields[1]), int(fields[21])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry.name))
        rss[int(entry.name)] = pages * os.sysconf("SC_PAGE_SIZE")
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        total += rss.get(current, 0)
        stack.extend(children.get(current, []))
    return total


def available_bytes() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return 0


def run_measured(command: list[str], timeout: float) -> tuple[int, str, int]:
    """Run `command`; its exit code, standard output and its process tree's peak bytes.

    The tree's resident memory is sampled every 0.2 s. TimeoutExpired (after killing the
    command) when it runs past `timeout` seconds.
    """
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, tree_rss(process.pid))
            stop.wait(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise
    finally:
        stop.set()
        sampler.join()
    return process.returncode, output, peak


def measure(engine: str, task: str, rows: int, timeout: float) -> dict[str, Any]:
    if engine == "pandas":
        needed = PANDAS_BYTES_PER_ROW[task] * rows
        if task != "score" and needed > 0.7 * available_bytes():
            return {
                "engine": engine,
                "task": task,
                "rows": rows,
                "skipped": f"needs ~{needed / 2**30:.0f} GiB, "
                f"{available_bytes() / 2**30:.0f} GiB available",
            }
    command = [sys.executable, __file__, "--case", engine, task, str(rows)]
    started = time.perf_counter()
    try:
        returncode, output, peak = run_measured(command, timeout)
    except subprocess.TimeoutExpired:
        return {"engine": engine, "task": task, "rows": rows, "skipped": f"over {timeout:.0f} s"}
    if returncode != 0:
        return {"engine": engine, "task": task, "rows": rows, "skipped": "failed"}
    result: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    result["wall_s"] = time.perf_counter() - started
    result["peak_gib"] = peak / 2**30
    return result


def markdown(results: list[dict[str, Any]]) -> str:
    lines = [
        "| task | engine | rows | wall (s) | of which reading (s) | peak memory (GiB) | rows/s |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        if "skipped" in r:
            lines.append(f"| {r['task']} | {r['engine']} | {r['rows']:,} | skipped: "
                         f"{r['skipped']} | | | |")  # fmt: skip
            continue
        lines.append(
            f"| {r['task']} | {r['engine']} | {r['rows']:,} | {r['seconds']:.1f} | "
            f"{r['load_s']:.1f} | {r['peak_gib']:.2f} | {r['rows'] / r['seconds']:,.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--score-rows", type=int, default=10_000_000)
    parser.add_argument("--engines", nargs="+", default=["pandas", "spark"])
    parser.add_argument("--tasks", nargs="+", default=["audit", "drift"])
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--results", type=Path)
    parser.add_argument("--case", nargs=3, metavar=("ENGINE", "TASK", "ROWS"))
    arguments = parser.parse_args()
    if arguments.case:
        engine, task, rows = arguments.case
        print(json.dumps(run_case(engine, task, int(rows))))
        return
    results = []
    for rows in arguments.rows:
        table(rows)
        for task in arguments.tasks:
            for engine in arguments.engines:
                results.append(measure(engine, task, rows, arguments.timeout))
                print(json.dumps(results[-1]), flush=True)
    if arguments.score_rows:
        table(arguments.score_rows)
        for engine in arguments.engines:
            results.append(measure(engine, "score", arguments.score_rows, arguments.timeout))
            print(json.dumps(results[-1]), flush=True)
    text = markdown(results)
    print(text)
    if arguments.results:
        arguments.results.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
