"""Model quality at an equal time budget: charter's search against FLAML's AutoML.

Target (issue 3): on the same split of telco_churn and adult_train, charter's holdout ROC AUC
is at least FLAML's (`AutoML.fit(time_budget=...)`) at the same budget in seconds. For
each dataset and budget, `charter run` runs on a copy of the example whose only change is
`model.budget.seconds`; its train/test split is then read from the ledger and handed, as
Parquet, to benchmarks/_flaml_side.py, which runs FLAML in its own virtual environment
(benchmarks/.cache/venv-flaml, created on first use; FLAML may want other pandas versions
than charter). A failed gate does not matter here: the validation evidence holds the
holdout ROC AUC either way. Run with `make bench`; the figures are written to
benchmarks/RESULTS.md (its own section; the others are kept).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import (
    REPO,
    CharterRun,
    Measured,
    code_version,
    command_line,
    contention_note,
    copy_example,
    failed_gates,
    machine_line,
    measure,
    run_charter,
    versions,
    write_section,
)

from charter.ledger import open_ledger
from charter.spec import load_charter

CACHE = REPO / "benchmarks" / ".cache"
FLAML_VENV = CACHE / "venv-flaml"
FLAML_REQUIREMENTS = ["flaml[automl]", "pandas", "pyarrow", "scikit-learn", "lightgbm"]
FLAML_SIDE = REPO / "benchmarks" / "_flaml_side.py"
DATASETS = {
    # name: (example folder, reference holdout ROC AUC from issue 3)
    "telco_churn": ("telco-churn", 0.84),
    "adult_train": ("income-fairness", 0.92),
}
BUDGETS = (30, 60)
PACKAGES = ("charter", "pandas", "scikit-learn", "lightgbm", "optuna")
MARKER = "## Model quality at an equal budget: charter vs FLAML"
QUIET = {"DO_NOT_TRACK": "true", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def flaml_python() -> Path:
    """FLAML's interpreter, creating its virtual environment when missing or out of date."""
    CACHE.mkdir(parents=True, exist_ok=True)
    ignore = CACHE / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# Created by the benchmarks: nothing here is tracked.\n*\n")
    python = FLAML_VENV / "bin" / "python"
    stamp = FLAML_VENV / ".requirements"
    wanted = "\n".join(FLAML_REQUIREMENTS)
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    print(f"creating {FLAML_VENV.relative_to(REPO)} (FLAML's own environment)...", flush=True)
    env = {**os.environ, **QUIET}
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(FLAML_VENV)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", *FLAML_REQUIREMENTS],
        check=True,
        env=env,
    )
    stamp.write_text(wanted)
    return python


@dataclass
class Trial:
    """One dataset at one budget: what charter and FLAML did."""

    dataset: str
    budget: int
    charter: CharterRun
    charter_auc: float | None
    charter_model: str
    charter_chosen: str
    charter_train_s: float | None
    charter_trials: int | None
    budget_recorded: float | None
    split_rows: tuple[int, int] | None
    flaml: dict[str, Any] | None
    flaml_measured: Measured | None
    note: str


def from_ledger(folder: Path, run_id: str, out: Path) -> dict[str, Any]:
    """The run's split (exported as Parquet into `out`), validation and training evidence."""
    loaded = load_charter(folder / "charter.yaml")
    project = loaded.charter.project.name
    found: dict[str, Any] = {"charter": loaded.charter}
    with open_ledger(folder) as ledger:
        split = ledger.evidence(project, kind="split", stage="audit", run_id=run_id, limit=1)
        if split:
            payload = split[0].payload
            for name in ("train", "test"):
                data = ledger.load_artifact(int(payload[f"{name}_artifact"]))
                (out / f"{name}.parquet").write_bytes(data)
            found["split"] = payload
        for kind, stage in (("validation", "validate"), ("training", "train")):
            evidence = ledger.evidence(project, kind=kind, stage=stage, run_id=run_id, limit=1)
            if evidence:
                found[kind] = evidence[0].payload
    return found


def run_flaml(
    python: Path, out: Path, charter: Any, budget: int, seed: int
) -> tuple[dict[str, Any], Measured]:
    drop = [c for c in [charter.data.id, *(charter.data.exclude or [])] if c]
    command = [
        str(python),
        str(FLAML_SIDE),
        "--train",
        str(out / "train.parquet"),
        "--test",
        str(out / "test.parquet"),
        "--target",
        charter.objective.target,
        "--positive",
        str(charter.objective.positive),
        "--budget",
        str(budget),
        "--seed",
        str(seed),
        "--drop",
        *drop,
    ]
    done, measured = measure(command, env={**os.environ, **QUIET})
    if done.returncode != 0:
        raise SystemExit(f"the FLAML side exited {done.returncode}:\n{done.stderr[-8000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1]), measured


def one(dataset: str, budget: int, python: Path) -> Trial:
    example, _reference = DATASETS[dataset]
    with tempfile.TemporaryDirectory(prefix="charter-bench-") as tmp:
        folder = copy_example(example, Path(tmp), budget_seconds=budget)
        result = run_charter(folder)
        run_id = result.outcome["run_id"]
        out = Path(tmp) / "split"
        out.mkdir()
        found = from_ledger(folder, run_id, out)
        validation = found.get("validation") or {}
        training = found.get("training") or {}
        auc = (validation.get("metrics") or {}).get("roc_auc")
        used = training.get("budget_used") or {}
        chosen = training.get("chosen") or {}
        notes = []
        if result.returncode:
            notes.append(f"charter exit {result.returncode}, {failed_gates(result.outcome)}")
        flaml: dict[str, Any] | None = None
        flaml_measured: Measured | None = None
        if "split" in found:
            charter = found["charter"]
            lineage = training.get("lineage") or {}
            seed = lineage.get("seed", charter.data.split.seed or 7)
            flaml, flaml_measured = run_flaml(python, out, charter, budget, int(seed))
            features = (training.get("model") or {}).get("features")
            if features is not None and list(features) != flaml["features"]:
                notes.append(
                    f"feature sets differ: charter {sorted(features)}, "
                    f"FLAML {sorted(flaml['features'])}"
                )
        else:
            notes.append("no split in the ledger: the audit stopped the run; FLAML not run")
        split = found.get("split")
        return Trial(
            dataset=dataset,
            budget=budget,
            charter=result,
            charter_auc=None if auc is None else float(auc),
            charter_model=str(chosen.get("candidate", "n/a")),
            charter_chosen=f"trial {chosen.get('trial')}, params {chosen.get('params')}",
            charter_train_s=result.stage_seconds().get("train"),
            charter_trials=used.get("trials"),
            budget_recorded=used.get("budget_seconds"),
            split_rows=None if split is None else (split["train_rows"], split["test_rows"]),
            flaml=flaml,
            flaml_measured=flaml_measured,
            note="; ".join(notes),
        )


def fmt(value: float | None, spec: str = ".4f") -> str:
    return "n/a" if value is None else format(value, spec)


def render(trials: list[Trial]) -> str:
    rows: list[str] = []
    details: list[str] = []
    verdicts: list[tuple[Trial, float, bool]] = []
    others = [t.charter.others_cores for t in trials] + [
        t.flaml_measured.others_cores for t in trials if t.flaml_measured
    ]
    for t in trials:
        flaml_auc = None if t.flaml is None else float(t.flaml["roc_auc"])
        diff = None if t.charter_auc is None or flaml_auc is None else t.charter_auc - flaml_auc
        wins = None if diff is None else diff >= 0
        verdict = "n/a" if wins is None else ("yes" if wins else "**no**")
        f = t.flaml_measured
        f_wall, f_cpu, f_others = (
            (None, None, None) if f is None else (f.wall_seconds, f.cpu_seconds, f.others_cores)
        )
        rows.append(
            f"| {t.dataset} | {t.budget} | {fmt(t.charter_auc)} | {fmt(flaml_auc)} | "
            f"{fmt(diff, '+.4f')} | {verdict} | {t.charter.wall_seconds:.1f} "
            f"({fmt(t.charter_train_s, '.1f')}) | {fmt(f_wall, '.1f')} "
            f"({fmt(None if t.flaml is None else t.flaml['fit_seconds'], '.1f')}) | "
            f"{t.charter.cpu_seconds:.0f} / {fmt(f_cpu, '.0f')} | "
            f"{t.charter.others_cores:.2f} / {fmt(f_others, '.2f')} | "
            f"{t.charter_model} ({t.charter_trials} trials) / "
            f"{'n/a' if t.flaml is None else t.flaml['best_estimator']} |"
        )
        if diff is not None:
            verdicts.append((t, diff, diff >= 0))
        split = "n/a" if t.split_rows is None else f"{t.split_rows[0]}/{t.split_rows[1]}"
        recorded = (
            ""
            if t.budget_recorded is None or float(t.budget_recorded) == float(t.budget)
            else f"; charter recorded a budget of {t.budget_recorded} s (expected {t.budget})"
        )
        details.append(
            f"- {t.dataset} at {t.budget} s: split {split} (train/test); "
            f"charter status {t.charter.outcome.get('status')}{recorded}; charter chose "
            f"{t.charter_model} ({t.charter_chosen})" + (f"; {t.note}" if t.note else "")
        )
    won = sum(1 for _, _, w in verdicts if w)
    lines = [f"charter's holdout ROC AUC is at least FLAML's in {won} of {len(verdicts)} cases."]
    for t, diff, wins in verdicts:
        if not wins:
            lines.append(
                f"charter **loses** on {t.dataset} at {t.budget} s by {-diff:.4f} ROC AUC."
            )
    for name, (_, reference) in DATASETS.items():
        best = [t.charter_auc for t in trials if t.dataset == name and t.charter_auc is not None]
        if best:
            top = max(best)
            where = "at or above" if top >= reference else f"{reference - top:.4f} below"
            lines.append(
                f"{name}: charter's best holdout ROC AUC {top:.4f} is {where} the issue's "
                f"reference of about {reference:.2f}."
            )
    flaml_versions: dict[str, str] = next((t.flaml["versions"] for t in trials if t.flaml), {})
    return "\n".join(
        [
            f"{MARKER} (`{command_line('automl_quality.py')}`)",
            "",
            machine_line(),
            f"charter side: {versions(*PACKAGES)}; {code_version()}",
            "FLAML side (its own venv): "
            + ", ".join(f"{k} {v}" for k, v in flaml_versions.items())
            + ".",
            "",
            "Same split for both (charter's, read from its ledger); the same features (the id "
            "and `data.exclude` columns dropped); holdout ROC AUC of the positive class. "
            "charter: `charter run` with only `model.budget.seconds` changed; FLAML: "
            '`AutoML().fit(X, y, task="classification", time_budget=B, metric="roc_auc", '
            "seed=<charter's seed>)` with default estimators and threads. Wall: the whole "
            "command (charter: audit, train, validate, register, report; in brackets the "
            "train stage) and the whole FLAML script (in brackets the fit). One run each, in "
            "sequence, never in parallel.",
            "",
            "| dataset | budget s | charter AUC | FLAML AUC | charter - FLAML | charter ≥ FLAML "
            "| charter wall s (train) | FLAML wall s (fit) | CPU s charter / FLAML "
            "| others (cores) charter / FLAML | model charter / FLAML |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
            *rows,
            "",
            *lines,
            "",
            "CPU s: user + system seconds of each process; a value near the wall time means one "
            "core kept busy, near twice the wall time both cores. Others: the average number of "
            "cores that other processes on the machine kept busy during that measurement. "
            + contention_note(others),
            "",
            *details,
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", choices=sorted(DATASETS), default=list(DATASETS))
    parser.add_argument("--budgets", nargs="+", type=int, default=list(BUDGETS))
    args = parser.parse_args()

    python = flaml_python()
    trials = []
    for dataset in args.datasets:
        for budget in args.budgets:
            print(f"{dataset} at {budget} s...", flush=True)
            t = one(dataset, budget, python)
            flaml_auc = None if t.flaml is None else t.flaml["roc_auc"]
            flaml_wall = None if t.flaml_measured is None else t.flaml_measured.wall_seconds
            print(
                f"  charter ROC AUC {fmt(t.charter_auc)} ({t.charter.wall_seconds:.1f} s wall, "
                f"{t.charter_model}); FLAML {fmt(flaml_auc)} ({fmt(flaml_wall, '.1f')} s wall, "
                f"{None if t.flaml is None else t.flaml['best_estimator']})"
                + (f"; {t.note}" if t.note else ""),
                flush=True,
            )
            trials.append(t)
    write_section(MARKER, render(trials))


if __name__ == "__main__":
    main()
