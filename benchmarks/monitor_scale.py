"""`charter monitor` over a long prediction log: rows per second and peak memory.

Target (issue 5): 10M logged predictions processed chunk by chunk with peak memory under
1 GiB. The script trains a small telco champion, writes N predictions through the real
`PredictionLog` (fast mode, as `charter serve` does; the second half with MonthlyCharges
up 30%), labels a share of them through the real `FeedbackStore`, then times one
`charter monitor --no-retrain` pass over the whole log with `/usr/bin/time -v` (wall time
and the peak resident set of the monitor process). Windows hold 100,000 predictions.

    python benchmarks/monitor_scale.py --rows 10000000
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

from _common import code_version, command_line, machine_line, versions, write_section

REPO = Path(__file__).resolve().parents[1]
MARKER = "## Monitoring a long prediction log"
TARGET_RSS_MIB = 1024.0
WINDOW = 100_000
BATCH = 20_000


def _project(folder: Path) -> Path:
    import shutil

    shutil.copytree(
        REPO / "examples" / "telco-churn", folder, ignore=shutil.ignore_patterns(".charter")
    )
    charter = folder / "charter.yaml"
    text = charter.read_text()
    text = re.sub(r"budget: \{seconds: \d+\}", "budget: {seconds: 10, trials: 4}", text)
    text = text.replace("window: {predictions: 1000}", f"window: {{predictions: {WINDOW}}}")
    charter.write_text(text)
    return folder


def _train(folder: Path) -> None:
    charter = str(Path(sys.executable).with_name("charter"))
    for args in (["run"], ["promote", "candidate"]):
        subprocess.run([charter, *args, "--charter", str(folder)], check=True, capture_output=True)


def _write_log(folder: Path, rows: int, label_share: float) -> tuple[float, int]:
    """Write `rows` predictions of the champion; return (seconds, labels written)."""
    import pandas as pd

    from charter.ledger import open_ledger
    from charter.lifecycle._score import load_version, resolve_version
    from charter.serving import FeedbackStore, PredictionLog

    frame = pd.read_csv(folder / "data" / "telco_churn.csv", keep_default_na=False)
    frame["TotalCharges"] = pd.to_numeric(frame["TotalCharges"], errors="coerce")
    labels = frame.pop("Churn").tolist()
    with open_ledger(folder) as ledger:
        model, predictor = load_version(ledger, resolve_version(ledger, "telco-churn", "champion"))
    assert predictor is not None
    base = [
        {k: (None if isinstance(v, float) and v != v else v) for k, v in row.items()}
        for row in frame.to_dict("records")
    ]
    shifted = [{**row, "MonthlyCharges": round(row["MonthlyCharges"] * 1.3, 2)} for row in base]
    keys = [str(c) for c in model.classes]

    def outputs(rows: list[dict[str, object]]) -> list[dict[str, object]]:
        batch = predictor.predict_records(
            [{k: v for k, v in r.items() if k != "customerID"} for r in rows]
        )
        assert batch.probabilities is not None
        return [
            {"prediction": label, "probabilities": dict(zip(keys, p, strict=True))}
            for label, p in zip(batch.labels, batch.probabilities, strict=True)
        ]

    answers = {"base": outputs(base), "shifted": outputs(shifted)}
    started = time.perf_counter()
    when = datetime.now(timezone.utc) - timedelta(days=1)
    log_dir = folder / ".charter" / "serving"
    labelled = 0
    with PredictionLog(log_dir, mode="fast") as log:
        store = FeedbackStore(log_dir, log=log)
        for offset in range(0, rows, BATCH):
            count = min(BATCH, rows - offset)
            kind = "base" if offset < rows // 2 else "shifted"
            inputs = base if kind == "base" else shifted
            records, pairs = [], []
            for i in range(offset, offset + count):
                j = i % len(base)
                prediction_id = uuid.uuid4().hex
                records.append(
                    {
                        "prediction_id": prediction_id,
                        "time": (when + timedelta(milliseconds=i)).isoformat(),
                        "model_version": "1",
                        "input": inputs[j],
                        "output": answers[kind][j],
                        "latency_ms": 0.5,
                    }
                )
                if (i * 7919) % 1000 < label_share * 1000:
                    pairs.append((prediction_id, labels[j]))
            log.append(records)
            if pairs:
                log.flush().result(600)
                labelled += len(pairs)
                store.record_many(pairs)
        store.close()
    return time.perf_counter() - started, labelled


def _timed_monitor(folder: Path) -> tuple[float, float, dict[str, object]]:
    charter = str(Path(sys.executable).with_name("charter"))
    done = subprocess.run(
        [
            "/usr/bin/time",
            "-v",
            charter,
            "monitor",
            "--json",
            "--no-retrain",
            "--charter",
            str(folder),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", done.stderr)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    assert wall, done.stderr[-2000:]
    assert rss, done.stderr[-2000:]
    hours = float(wall.group(1) or 0)
    seconds = hours * 3600 + float(wall.group(2)) * 60 + float(wall.group(3))
    return seconds, int(rss.group(1)) / 1024, json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--labels", type=float, default=0.05, help="share of rows labelled")
    parser.add_argument("--no-write", action="store_true", help="print, do not touch RESULTS.md")
    parser.add_argument("--keep", type=Path, help="build the project in this folder and keep it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="charter-monitor-") as tmp:
        folder = _project((args.keep or Path(tmp)) / "telco")
        print("training the champion ...", flush=True)
        _train(folder)
        print(f"writing {args.rows:,} predictions ...", flush=True)
        write_s, labelled = _write_log(folder, args.rows, args.labels)
        log_bytes = sum(
            p.stat().st_size for p in (folder / ".charter" / "serving").glob("segment-*")
        )
        print(f"  {write_s:.0f} s, {log_bytes / 2**30:.2f} GiB of segments", flush=True)
        print("charter monitor ...", flush=True)
        wall, rss, result = _timed_monitor(folder)
    windows = result["windows"]
    assert isinstance(windows, list)
    verdicts = [w["verdict"] for w in windows]
    drifted = sorted({d for w in windows for d in w["drifted"]})
    rate = args.rows / wall
    verdict = (
        f"meets the {TARGET_RSS_MIB:.0f} MiB target"
        if rss <= TARGET_RSS_MIB
        else f"misses the {TARGET_RSS_MIB:.0f} MiB target by {rss - TARGET_RSS_MIB:.0f} MiB"
    )
    section = (
        f"{MARKER}\n\n"
        f"One `charter monitor --no-retrain` pass over {args.rows:,} logged predictions "
        f"({log_bytes / 2**30:.2f} GiB of log segments, {labelled:,} labelled), windows of "
        f"{WINDOW:,}; the second half has MonthlyCharges up 30%.\n\n"
        "| rows | wall s | rows/s | peak RSS MiB | windows | verdicts | drifted |\n"
        "|---:|---:|---:|---:|---:|---|---|\n"
        f"| {args.rows:,} | {wall:.1f} | {rate:,.0f} | {rss:.0f} | {len(windows)} | "
        f"{verdicts.count('pass')} pass, {verdicts.count('fail')} fail | "
        f"{', '.join(drifted) or 'none'} |\n\n"
        f"Peak memory {verdict}. Writing the log through `PredictionLog` (fast mode) took "
        f"{write_s:.0f} s.\n\n"
        f"{machine_line()} {versions('charter', 'pandas', 'numpy', 'pyarrow')}. "
        f"Code {code_version()}. Command: `{command_line('monitor_scale.py')}`.\n"
    )
    print(section)
    if not args.no_write:
        write_section(MARKER, section)


if __name__ == "__main__":
    main()
