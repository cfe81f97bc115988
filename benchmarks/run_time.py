"""How long `charter run` takes on the telco-churn example with its default budget.

Target (issue 3): the whole command, audit to register, in at most 60 s wall on 2 cores,
with the stage times reported. Each run starts from a fresh copy of examples/telco-churn
(without its .charter/ ledger), as a first `charter run` would, with the example's own
`model.budget`. Run with `make bench`; the figures are written to benchmarks/RESULTS.md
(its own section; the others are kept).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from _common import (
    CharterRun,
    code_version,
    command_line,
    contention_note,
    copy_example,
    failed_gates,
    machine_line,
    run_charter,
    versions,
    write_section,
)

from charter.spec import load_charter

EXAMPLE = "telco-churn"
TARGET_S = 60.0
STAGES = ("audit", "train", "validate", "register")
MARKER = "## `charter run` wall time"
PACKAGES = ("charter", "pandas", "numpy", "scikit-learn", "lightgbm", "optuna")


def spread(values: list[float]) -> tuple[float, float, float]:
    return min(values), statistics.median(values), max(values)


def against_target(seconds: float) -> str:
    if seconds <= TARGET_S:
        return f"meets the {TARGET_S:.0f} s target with {TARGET_S - seconds:.1f} s to spare"
    return (
        f"misses the {TARGET_S:.0f} s target by {seconds - TARGET_S:.1f} s "
        f"({(seconds - TARGET_S) / TARGET_S:.0%} over)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs to time (default 3)")
    args = parser.parse_args()

    runs: list[CharterRun] = []
    budgets: list[float | None] = []
    for index in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="charter-bench-") as tmp:
            folder = copy_example(EXAMPLE, Path(tmp))
            budget = load_charter(folder / "charter.yaml").charter.model.budget
            budgets.append(budget.seconds)
            result = run_charter(folder)
        stages = result.stage_seconds()
        shown = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in stages.items())
        print(
            f"run {index + 1}/{args.runs} (budget {budget.seconds} s): "
            f"{result.wall_seconds:.1f} s wall, {result.cpu_seconds:.1f} s CPU, exit "
            f"{result.returncode} ({result.outcome.get('status')}); {shown}; others kept "
            f"{result.others_cores:.2f} cores busy",
            flush=True,
        )
        runs.append(result)

    walls = [r.wall_seconds for r in runs]
    rows = [("whole command (wall)", *spread(walls))]
    for stage in STAGES:
        times = [r.stage_seconds()[stage] for r in runs if stage in r.stage_seconds()]
        if times:
            label = stage if len(times) == len(runs) else f"{stage} ({len(times)} of {len(runs)})"
            rows.append((label, *spread(times)))
    outside = [r.wall_seconds - sum(r.stage_seconds().values()) for r in runs]
    rows.append(("outside the stages (start-up, ledger, report)", *spread(outside)))
    rows.append(("CPU time of the process (user + sys)", *spread([r.cpu_seconds for r in runs])))
    others = [r.others_cores for r in runs]
    rows.append(("others: cores busy with other processes meanwhile", *spread(others)))

    median, worst = statistics.median(walls), max(walls)
    met = sum(w <= TARGET_S for w in walls)
    cores_used = statistics.median(r.cpu_seconds / r.wall_seconds for r in runs)
    budget_text = (
        f"`model.budget.seconds: {budgets[0]:g}`"
        if len(set(budgets)) == 1 and budgets[0] is not None
        else f"**the budget changed between runs**: {budgets}"
    )
    outcomes = []
    for index, r in enumerate(runs, 1):
        outcome = r.outcome
        train = next((s for s in outcome.get("stages", []) if s["stage"] == "train"), None)
        auc = next(
            (v["value"] for v in outcome.get("verdicts", []) if v["metric"] == "roc_auc"), None
        )
        outcomes.append(
            f"- run {index}: {r.wall_seconds:.1f} s, exit {r.returncode}, status "
            f"{outcome.get('status')}, train: {train['summary'] if train else 'not run'}; "
            f"holdout ROC AUC {'n/a' if auc is None else f'{auc:.4f}'}"
            + (f"; {failed_gates(outcome)}" if r.returncode else "")
        )
    lines = [
        f"{MARKER} (`{command_line('run_time.py')}`)",
        "",
        machine_line(),
        f"Packages: {versions(*PACKAGES)}; {code_version()}",
        "",
        f"`charter run --json` on a fresh copy of examples/{EXAMPLE} with its own budget "
        f"({budget_text}), {len(runs)} runs, one after the other. Stage times are the "
        "ones charter reports (`stages[].seconds`).",
        "",
        "| what | min s | median s | max s |",
        "|---|---|---|---|",
        *[f"| {label} | {lo:.1f} | {med:.1f} | {hi:.1f} |" for label, lo, med, hi in rows],
        "",
        f"**Target (at most {TARGET_S:.0f} s wall on 2 cores): median {median:.1f} s "
        f"{against_target(median)}; the slowest run ({worst:.1f} s) "
        f"{against_target(worst)}; {met} of {len(runs)} runs within it.** CPU time / wall "
        f"time: {cores_used:.2f} (how many of the cores the command keeps busy on average). "
        + contention_note(others),
        "",
        "Outcomes:",
        "",
        *outcomes,
        "",
    ]
    write_section(MARKER, "\n".join(lines))


if __name__ == "__main__":
    main()
