"""Scale: `charter audit` (the whole audit stage) on Spark, with the driver measured alone.

    python benchmarks/spark_audit_stage.py --rows 1000000 10000000 50000000

Runs the audit stage as `charter audit` does (`lifecycle.run(path, stages=("audit",))`):
read the Parquet folder into Spark, check the contract, drop rows without a target, audit,
bring a 200,000-row training sample to the driver, split it, and keep the evidence and
the split in the ledger. The data is `spark_scale.py`'s generated table (25 columns, 1M-row
Parquet parts, made once under benchmarks/.data/).

By default it starts a Spark standalone cluster on loopback (a master and one worker with
every core, from pyspark's own `spark-class`), so that the executors run in the worker's
JVM and its Python workers, outside the measured process tree: the peak memory reported
is the driver's alone (the Python process running charter and the driver JVM it starts),
sampled every 0.2 s from /proc. With `--local`, Spark runs in local mode instead, where
the executors share the driver's JVM and the tree holds everything.

Also runs the pandas engine's audit stage on one Parquet file of the same rows where it
fits (`--pandas-rows`), for the ratio. Prints a Markdown table; with --results, appends it
to that file.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from spark_scale import DATA, PART_ROWS, run_measured
from spark_scale import table as parquet_parts

MASTER_PORT = 7177
SAMPLE_ROWS = 200_000


def charter_text(source: str, engine: str, master: str) -> str:
    """The benchmark's charter: the generated table's contract, the audit's defaults."""
    numbers = "\n".join(f"    x{i}: {{type: float, nullable: true}}" for i in range(14))
    categories = "\n".join(f"    cat{i}: {{type: category}}" for i in range(7))
    engine_section = (
        f'engine: {{name: spark, master: "{master}", sample_rows: {SAMPLE_ROWS}, '
        "conf: {spark.driver.memory: 2g, spark.executor.memory: 6g, "
        "spark.sql.shuffle.partitions: 16}}\n"
        if engine == "spark"
        else ""
    )
    return f"""project: {{name: scale, problem: Scale benchmark., owner: bench@example.com}}
objective: {{task: binary_classification, target: y, positive: "yes"}}
data:
  source: {source}
  id: id
  protected: [group]
  contract:
    id: {{type: int, unique: true}}
{numbers}
{categories}
    signup: {{type: datetime}}
    group: {{type: category, values: [a, b, c]}}
    y: {{type: category, values: ["yes", "no"]}}
kpis:
  - {{name: auc, metric: roc_auc, at_least: 0.5}}
model: {{candidates: [logistic_regression], budget: {{trials: 1}}, cv_folds: 2}}
{engine_section}"""


def one_file(rows: int) -> Path:
    """The table as one Parquet file (the pandas engine reads a file), written part by part."""
    import pyarrow.parquet as pq

    path = DATA / f"rows-{rows}.parquet"
    if path.exists():
        return path
    folder = parquet_parts(rows)
    parts = sorted(folder.glob("part-*.parquet"))
    writer = None
    temporary = path.with_suffix(".tmp")
    try:
        for part in parts:
            piece = pq.read_table(part)
            if writer is None:
                writer = pq.ParquetWriter(temporary, piece.schema)
            writer.write_table(piece)
    finally:
        if writer is not None:
            writer.close()
    temporary.rename(path)
    return path


# -- one case, in its own process ---------------------------------------------------------------


def run_case(engine: str, rows: int, master: str) -> dict[str, Any]:
    import warnings

    warnings.simplefilter("ignore")
    from charter import lifecycle

    source = parquet_parts(rows) if engine == "spark" else one_file(rows)
    folder = Path(tempfile.mkdtemp(prefix="audit-stage-", dir=DATA))
    try:
        (folder / "charter.yaml").write_text(
            charter_text(str(source), engine, master), encoding="utf-8"
        )
        started = time.perf_counter()
        outcome = lifecycle.run(folder / "charter.yaml", stages=("audit",), write_report=False)
        seconds = time.perf_counter() - started
        if outcome.status != "succeeded":
            raise SystemExit(f"the audit stage failed: {outcome.stopped_by}")
        return {
            "engine": engine,
            "rows": rows,
            "seconds": seconds,
            "summary": outcome.stages[0].summary,
            "driver_python_peak_gib": _own_peak_gib(),
        }
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _own_peak_gib() -> float:
    """This process's own peak resident memory (VmHWM), without the JVM it started."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024 / 2**30
    return float("nan")


# -- the parent ---------------------------------------------------------------------------------


def measure(engine: str, rows: int, master: str, timeout: float) -> dict[str, Any]:
    command = [sys.executable, __file__, "--case", engine, str(rows), master]
    try:
        returncode, output, peak = run_measured(command, timeout)
    except subprocess.TimeoutExpired:
        return {"engine": engine, "rows": rows, "skipped": f"over {timeout:.0f} s"}
    if returncode != 0:
        return {"engine": engine, "rows": rows, "skipped": "failed"}
    result: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    result["driver_peak_gib"] = peak / 2**30
    return result


class Standalone:
    """A Spark standalone master and one worker on loopback, started and stopped here."""

    def __init__(self, worker_memory: str) -> None:
        import pyspark

        self.home = Path(pyspark.__file__).parent
        self.worker_memory = worker_memory
        self.processes: list[subprocess.Popen[bytes]] = []
        self.url = f"spark://127.0.0.1:{MASTER_PORT}"

    def __enter__(self) -> Standalone:
        env = {**os.environ, "SPARK_HOME": str(self.home), "SPARK_LOCAL_IP": "127.0.0.1"}
        spark_class = str(self.home / "bin" / "spark-class")
        logs = DATA / "standalone-logs"
        logs.mkdir(parents=True, exist_ok=True)
        master = [spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1"]
        master += ["--port", str(MASTER_PORT), "--webui-port", "0"]
        worker = [spark_class, "org.apache.spark.deploy.worker.Worker", self.url]
        worker += ["--cores", str(os.cpu_count() or 1), "--memory", self.worker_memory]
        worker += ["--host", "127.0.0.1", "--webui-port", "0"]
        for name, command in (("master", master), ("worker", worker)):
            with (logs / f"{name}.log").open("wb") as log:
                self.processes.append(
                    subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
                )
            time.sleep(6)
        return self

    def __exit__(self, *exc: object) -> None:
        for process in reversed(self.processes):
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def markdown(results: list[dict[str, Any]], mode: str) -> str:
    lines = [
        f"| engine | rows | wall (s) | rows/s | driver peak, {mode} (GiB) | of which the Python "
        "process (GiB) | what the stage did |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        if "skipped" in r:
            lines.append(f"| {r['engine']} | {r['rows']:,} | skipped: {r['skipped']} | | | | |")
            continue
        lines.append(
            f"| {r['engine']} | {r['rows']:,} | {r['seconds']:.1f} | "
            f"{r['rows'] / r['seconds']:,.0f} | {r['driver_peak_gib']:.2f} | "
            f"{r['driver_python_peak_gib']:.2f} | {r['summary']} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--pandas-rows", type=int, nargs="*", default=[1_000_000])
    parser.add_argument("--local", action="store_true", help="Spark in local mode")
    parser.add_argument("--worker-memory", default="12g")
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument("--results", type=Path)
    parser.add_argument("--case", nargs=3, metavar=("ENGINE", "ROWS", "MASTER"))
    arguments = parser.parse_args()
    if arguments.case:
        engine, rows, master = arguments.case
        print(json.dumps(run_case(engine, int(rows), master)))
        return
    assert all(rows % PART_ROWS == 0 for rows in arguments.rows), "whole 1M-row parts"
    results: list[dict[str, Any]] = []
    for rows in arguments.pandas_rows:
        one_file(rows)
        results.append(measure("pandas", rows, "", arguments.timeout))
        print(json.dumps(results[-1]), flush=True)
    mode = "local mode, the whole tree" if arguments.local else "standalone cluster"
    if arguments.local:
        for rows in arguments.rows:
            parquet_parts(rows)
            results.append(measure("spark", rows, "local[*]", arguments.timeout))
            print(json.dumps(results[-1]), flush=True)
    else:
        with Standalone(arguments.worker_memory) as cluster:
            for rows in arguments.rows:
                parquet_parts(rows)
                results.append(measure("spark", rows, cluster.url, arguments.timeout))
                print(json.dumps(results[-1]), flush=True)
    table = markdown(results, mode)
    print(table)
    if arguments.results:
        with arguments.results.open("a", encoding="utf-8") as handle:
            handle.write(table + "\n")


if __name__ == "__main__":
    main()
