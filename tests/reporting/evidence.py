"""Realistic evidence dicts, shaped as the stages store them in the ledger, for report tests.

Each builder returns the keyword parts of `RunReport.from_evidence` for one kind of run:
a full successful binary run, a run that failed at validation, a run stopped before
training, a regression run and a multiclass run. Numbers are generated deterministically.
"""

from __future__ import annotations

import copy
import random
from statistics import NormalDist
from typing import Any

Parts = dict[str, Any]

_NORMAL = NormalDist()
SHA_CHARTER = "3f1c9a0be7d24c55a1f0c7e2b9d8a6f4e3c2b1a09f8e7d6c5b4a3928170e5d4c"
SHA_CONTENT = "9a8b7c6d5e4f30211203f4e5d6c7b8a99a8b7c6d5e4f30211203f4e5d6c7b8a9"
SHA_SCHEMA = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"


def charter(task: str = "binary_classification") -> dict[str, Any]:
    """The charter as plain data (what `Charter.model_dump(mode="json")` gives)."""
    objective: dict[str, Any] = {"task": task, "target": "Churn", "positive": "Yes"}
    kpis: list[dict[str, Any]] = [
        {"name": "auc", "metric": "roc_auc", "at_least": 0.82, "at_most": None, "gate": "deploy"},
        {
            "name": "value",
            "metric": "expected_value",
            "costs": {"tp": 300, "fp": -50},
            "at_least": 0,
            "gate": "deploy",
        },
        {
            "name": "parity",
            "metric": "demographic_parity_difference",
            "by": "gender",
            "at_most": 0.1,
            "gate": "deploy",
        },
        {
            "name": "senior-parity",
            "metric": "demographic_parity_difference",
            "by": "SeniorCitizen",
            "at_most": 0.25,
            "gate": "validate",
        },
        {
            "name": "monthly-recall",
            "metric": "recall",
            "where": {"Contract": "Month-to-month"},
            "at_least": 0.6,
            "gate": "validate",
        },
        {"name": "p99", "metric": "latency_p99_ms", "at_most": 25, "gate": "monitor"},
    ]
    if task == "regression":
        objective = {"task": task, "target": "price", "positive": None}
        kpis = [
            {"name": "rmse", "metric": "rmse", "at_most": 55000.0, "gate": "deploy"},
            {"name": "r2", "metric": "r2", "at_least": 0.6, "gate": "validate"},
        ]
    elif task == "multiclass_classification":
        objective = {"task": task, "target": "species", "positive": None}
        kpis = [
            {"name": "accuracy", "metric": "accuracy", "at_least": 0.8, "gate": "deploy"},
            {"name": "f1", "metric": "f1", "at_least": 0.75, "gate": "validate"},
        ]
    return {
        "project": {
            "name": "telco-churn",
            "problem": "Predict which customers cancel next month so Retention calls them first.",
            "owner": "ds-team@example.com",
            "stakeholders": [
                {"name": "Retention", "role": "business owner", "notify": "console"},
                {"name": "ML on-call", "role": "operations", "notify": "file"},
            ],
        },
        "objective": objective,
        "kpis": kpis,
        "risks": [
            {
                "id": "R1",
                "risk": "Under-serves senior citizens",
                "likelihood": "medium",
                "impact": "high",
                "check": "senior-parity",
                "mitigation": "reweigh",
                "owner": "ds-team",
            },
            {
                "id": "R2",
                "risk": "A price change shifts MonthlyCharges",
                "likelihood": "low",
                "impact": "medium",
                "check": "drift",
                "mitigation": None,
                "owner": "ds-team",
            },
        ],
        "milestones": [
            {"name": "MVP validated", "stage": "validate", "due": "2027-01-15"},
            {"name": "First deployment", "stage": "deploy", "due": "2026-05-20"},
            {"name": "Audit signed off", "stage": "audit", "due": "2026-05-01"},
        ],
    }


def _stage(
    name: str, status: str, start_minute: int, wall: float, reason: str | None = None
) -> dict[str, Any]:
    return {
        "stage": name,
        "status": status,
        "started_at": f"2026-05-14T09:{start_minute:02d}:05+00:00",
        "wall_seconds": wall,
        "cpu_seconds": wall * 1.7,
        "exit_reason": reason,
    }


def run_record(
    stages: list[dict[str, Any]], status: str, exit_reason: str | None = None
) -> dict[str, Any]:
    return {
        "id": 12,
        "status": status,
        "command": "charter run",
        "started_at": "2026-05-14T09:00:00+00:00",
        "finished_at": "2026-05-14T09:04:31.123456+00:00",
        "exit_reason": exit_reason,
        "charter_sha256": SHA_CHARTER,
        "charter_revision": 3,
        "stages": stages,
    }


def audit() -> dict[str, Any]:
    return {
        "rows": 7043,
        "columns": 21,
        "fingerprint": {
            "content_sha256": SHA_CONTENT,
            "schema_sha256": SHA_SCHEMA,
            "rows": 7043,
            "columns": 21,
        },
        "violations": [
            {
                "column": "TotalCharges",
                "check": "min 0",
                "count": 3,
                "examples": [{"row": 17, "value": -4.5}, {"row": 230, "value": -1}],
            }
        ],
        "quarantined_rows": 3,
        "findings": [
            {
                "kind": "missing",
                "severity": "info",
                "column": "TotalCharges",
                "message": "11 rows (0.2 %) have no value.",
                "details": {"rate": 0.0016},
            },
            {
                "kind": "imbalance",
                "severity": "warning",
                "column": "Churn",
                "message": "The positive class is 26.5 % of the rows.",
                "details": {"positive_rate": 0.265},
            },
            {
                "kind": "small_group",
                "severity": "warning",
                "column": "SeniorCitizen",
                "message": "Group 1 has 1142 rows.",
                "details": None,
            },
        ],
        "groups": {
            "gender": [
                {"group": "Female", "rows": 3488, "share": 0.495, "base_rate": 0.269},
                {"group": "Male", "rows": 3555, "share": 0.505, "base_rate": 0.262},
            ],
            "SeniorCitizen": [
                {"group": 0, "count": 5901, "share": 0.838, "base_rate": 0.236},
                {"group": 1, "count": 1142, "share": 0.162, "base_rate": 0.417},
            ],
        },
        "split": {"train_rows": 5634, "test_rows": 1409, "method": "stratified"},
    }


def training(trials: int = 60, primary: str = "auc") -> dict[str, Any]:
    rng = random.Random(7)
    records = []
    for number in range(trials):
        candidate = "lightgbm" if number % 3 else "logistic_regression"
        base = 0.835 if candidate == "lightgbm" else 0.842
        state = "complete" if number % 17 != 5 else "pruned"
        score = base - abs(rng.gauss(0, 0.012)) if state == "complete" else None
        records.append(
            {
                "number": number,
                "candidate": candidate,
                "params": {"C": round(rng.uniform(0.01, 10), 3)}
                if candidate == "logistic_regression"
                else {
                    "num_leaves": rng.randint(8, 128),
                    "learning_rate": round(rng.uniform(0.01, 0.3), 3),
                },
                "score": score,
                "score_std": 0.009 if score is not None else None,
                "seconds": round(rng.uniform(0.2, 2.5), 2),
                "state": state,
            }
        )
    # The search names its primary KPI either plainly or with its metric and direction.
    named: str | dict[str, str] = primary
    if primary == "auc":
        named = {"kpi": "auc", "metric": "roc_auc", "direction": "higher", "source": "first KPI"}
    return {
        "primary": named,
        "trials": records,
        "finalists": [
            {
                "candidate": "logistic_regression",
                "params": {"C": 0.42},
                "kpis": {
                    "auc": {"name": "auc", "value": 0.846, "gate": "deploy", "estimate": False},
                    "parity": {"name": "parity", "value": 0.041, "gate": "deploy"},
                    "latency_ms": 0.004,
                },
                "passed": True,
                "reasons": ["highest CV auc (0.846) among finalists that pass every offline gate"],
                "chosen": True,
            },
            {
                "candidate": "lightgbm",
                "params": {"num_leaves": 31, "learning_rate": 0.05},
                "kpis": {"auc": 0.839, "parity": 0.12, "latency_ms": 0.03},
                "passed": False,
                "reasons": ["parity 0.12 exceeds at_most 0.10"],
                "chosen": False,
            },
        ],
        "budget_used": {"seconds": 41.7, "trials": trials, "stopped_by": "seconds"},
        "threshold": 0.31,
        "lineage": lineage(),
    }


def lineage() -> dict[str, Any]:
    return {
        "charter_sha256": SHA_CHARTER,
        "data_fingerprint": {"content_sha256": SHA_CONTENT, "schema_sha256": SHA_SCHEMA},
        "code_version": "8f1b972",
        "packages": {
            "scikit-learn": "1.6.1",
            "lightgbm": "4.6.0",
            "pandas": "2.2.3",
            "numpy": "2.2.4",
        },
        "seeds": {"split": 7, "search": 7, "model": 7},
    }


def _roc(points: int = 1000, separation: float = 1.4) -> dict[str, Any]:
    fpr = [i / (points - 1) for i in range(points)]
    tpr = []
    for f in fpr:
        if f <= 0:
            tpr.append(0.0)
        elif f >= 1:
            tpr.append(1.0)
        else:
            tpr.append(_NORMAL.cdf(separation + _NORMAL.inv_cdf(f)))
    return {"fpr": fpr, "tpr": tpr, "auc": 0.8457}


def _pr(points: int = 800) -> dict[str, Any]:
    recall = [i / (points - 1) for i in range(points)]
    precision = [max(0.265, 0.92 - 0.6 * r**1.6) for r in recall]
    return {"recall": recall, "precision": precision, "ap": 0.664}


def validation() -> dict[str, Any]:
    return {
        "task": "binary_classification",
        "metrics": {
            "roc_auc": 0.8457,
            "pr_auc": 0.664,
            "accuracy": 0.7551,
            "recall": 0.7914,
            "precision": 0.5237,
            "f1": 0.6303,
            "log_loss": 0.4251,
            "brier": 0.1378,
        },
        "kpis": {
            "auc": {"value": 0.8457, "estimate": False, "note": None},
            "value": {"value": 71350.0, "estimate": False, "note": "from the cost matrix"},
            "parity": {"value": 0.041, "estimate": False, "note": None},
            "senior-parity": {"value": 0.212, "estimate": False, "note": None},
            "p99": {"value": 0.9, "estimate": True, "note": "offline latency estimate per row"},
        },
        "curves": {"roc": _roc(), "pr": _pr()},
        "confusion": {
            "labels": ["No", "Yes"],
            "matrix": [[768, 267], [78, 296]],
            "threshold": 0.31,
        },
        "calibration": {
            "brier": 0.1378,
            "bins": [
                {"mean_predicted": 0.05, "observed": 0.04, "count": 402},
                {"mean_predicted": 0.15, "observed": 0.17, "count": 231},
                {"mean_predicted": 0.25, "observed": 0.22, "count": 160},
                {"mean_predicted": 0.35, "observed": 0.38, "count": 151},
                {"mean_predicted": 0.45, "observed": 0.41, "count": 140},
                {"mean_predicted": 0.55, "observed": 0.57, "count": 121},
                {"mean_predicted": 0.65, "observed": 0.61, "count": 98},
                {"mean_predicted": 0.75, "observed": 0.72, "count": 71},
                {"mean_predicted": 0.85, "observed": None, "count": 0},
            ],
        },
        "fairness": {
            "gender": [
                {
                    "group": "Female",
                    "count": 699,
                    "selection_rate": 0.412,
                    "tpr": 0.79,
                    "fpr": 0.26,
                    "accuracy": 0.75,
                },
                {
                    "group": "Male",
                    "count": 710,
                    "selection_rate": 0.371,
                    "tpr": 0.8,
                    "fpr": 0.25,
                    "accuracy": 0.76,
                },
            ],
            "SeniorCitizen": [
                {
                    "group": 0,
                    "count": 1180,
                    "selection_rate": 0.355,
                    "tpr": 0.77,
                    "fpr": 0.24,
                    "accuracy": 0.77,
                },
                {
                    "group": 1,
                    "count": 229,
                    "selection_rate": 0.567,
                    "tpr": 0.86,
                    "fpr": 0.41,
                    "accuracy": 0.68,
                },
            ],
        },
        "slices": {
            "monthly-recall": {"where": {"Contract": "Month-to-month"}, "value": 0.83, "rows": 776},
        },
        "importance": {
            "permutation": [
                {"feature": "tenure", "mean": 0.061, "std": 0.008},
                {"feature": "Contract", "mean": 0.052, "std": 0.006},
                {"feature": "MonthlyCharges", "mean": 0.021, "std": 0.004},
                {"feature": "InternetService", "mean": 0.018, "std": 0.005},
                {"feature": "PaymentMethod", "mean": 0.006, "std": 0.002},
                {"feature": "gender", "mean": -0.001, "std": 0.001},
            ],
            "contributions": None,
        },
        "regression": None,
        "verdicts": verdicts(),
        "gates": {"validate": True, "deploy": True},
    }


def verdicts(parity: float = 0.041) -> list[dict[str, Any]]:
    return [
        {
            "kpi": "auc",
            "metric": "roc_auc",
            "gate": "deploy",
            "value": 0.8457,
            "threshold": "≥ 0.82",
            "margin": 0.0257,
            "passed": True,
            "reason": None,
        },
        {
            "kpi": "value",
            "metric": "expected_value",
            "gate": "deploy",
            "value": 71350.0,
            "threshold": "≥ 0",
            "margin": 71350.0,
            "passed": True,
            "reason": None,
        },
        {
            "kpi": "parity",
            "metric": "demographic_parity_difference",
            "gate": "deploy",
            "value": parity,
            "threshold": "≤ 0.1",
            "margin": round(0.1 - parity, 4),
            "passed": parity <= 0.1,
            "reason": None if parity <= 0.1 else "selection rates differ across gender",
        },
        {
            "kpi": "senior-parity",
            "metric": "demographic_parity_difference",
            "gate": "validate",
            "value": 0.212,
            "threshold": "≤ 0.25",
            "margin": 0.038,
            "passed": True,
            "reason": None,
        },
        {
            "kpi": "monthly-recall",
            "metric": "recall",
            "gate": "validate",
            "value": 0.83,
            "threshold": "≥ 0.6",
            "margin": 0.23,
            "passed": True,
            "reason": None,
        },
    ]


def full_run() -> Parts:
    """A binary run that passed every stage and registered version 4 as candidate."""
    stages = [
        _stage("audit", "passed", 0, 3.2),
        _stage("train", "passed", 1, 41.9),
        _stage("validate", "passed", 2, 6.4),
        _stage("register", "passed", 3, 0.8),
    ]
    return {
        "charter": charter(),
        "run": run_record(stages, "succeeded"),
        "audit": audit(),
        "train": training(),
        "validate": validation(),
        "register": {"version": 4, "aliases": ["candidate"], "override_reason": None},
    }


def failed_at_validation() -> Parts:
    """A run whose validation measured parity above its deploy limit: nothing registered."""
    parts = full_run()
    reason = "parity 0.14 exceeds at_most 0.10"
    parts["run"] = run_record(
        [
            _stage("audit", "passed", 0, 3.2),
            _stage("train", "passed", 1, 41.9),
            _stage("validate", "failed", 2, 6.4, reason),
        ],
        "failed",
        f"The deploy gate failed: {reason}.",
    )
    validation_part = validation()
    validation_part["verdicts"] = verdicts(parity=0.1423)
    validation_part["gates"] = {"validate": True, "deploy": False}
    validation_part["kpis"]["parity"]["value"] = 0.1423
    validation_part["fairness"]["gender"][0]["selection_rate"] = 0.4523
    validation_part["fairness"]["gender"][1]["selection_rate"] = 0.31
    parts["validate"] = validation_part
    del parts["register"]
    return parts


def no_training() -> Parts:
    """A run stopped by a blocking audit finding: no training, validation or registration."""
    audit_part = audit()
    audit_part["findings"].append(
        {
            "kind": "leakage",
            "severity": "blocking",
            "column": "TWF",
            "message": "TWF predicts the target almost perfectly (AUC 0.99).",
            "details": {"auc": 0.99},
        }
    )
    reason = "A blocking finding stopped the audit: leakage in column 'TWF'."
    return {
        "charter": charter(),
        "run": run_record([_stage("audit", "failed", 0, 3.1, reason)], "failed", reason),
        "audit": audit_part,
    }


def regression_run() -> Parts:
    rng = random.Random(11)
    points: list[dict[str, float | None]] = []
    for _ in range(3000):
        actual = rng.uniform(50_000, 500_000)
        points.append(
            {"actual": round(actual, 1), "predicted": round(actual + rng.gauss(0, 40_000), 1)}
        )
    points[5]["predicted"] = None  # a failed prediction must not break the charts
    training_part = training(trials=30, primary="rmse")
    for trial in training_part["trials"]:
        if trial["score"] is not None:
            trial["score"] = round(60_000 - (trial["score"] - 0.8) * 200_000, 1)
    training_part["threshold"] = None
    training_part["finalists"] = [
        {
            "candidate": "hist_gradient_boosting",
            "params": {"max_iter": 200},
            "kpis": {"rmse": 41_200.0},
            "passed": True,
            "reasons": ["lowest CV rmse"],
            "chosen": True,
        }
    ]
    validation_part: dict[str, Any] = {
        "task": "regression",
        "metrics": {"rmse": 40_123.4, "mae": 31_870.2, "r2": 0.842, "mape": 0.131},
        "kpis": {"rmse": {"value": 40_123.4, "estimate": False, "note": None}},
        "curves": None,
        "confusion": None,
        "calibration": None,
        "fairness": {},
        "slices": {},
        "importance": {
            "permutation": [
                {"feature": "sqft", "mean": 21_000.0, "std": 900.0},
                {"feature": "rooms", "mean": 5_400.0, "std": 300.0},
            ],
            "contributions": [
                {"feature": "sqft", "mean_abs": 35_000.0},
                {"feature": "rooms", "mean_abs": 9_000.0},
            ],
        },
        "regression": {
            "residuals": {"mean": 120.5, "std": 40_100.2, "p95_abs": 78_000.0},
            "points": points,
        },
        "verdicts": [
            {
                "kpi": "rmse",
                "metric": "rmse",
                "gate": "deploy",
                "value": 40_123.4,
                "threshold": "≤ 55000",
                "margin": 14_876.6,
                "passed": True,
                "reason": None,
            },
            {
                "kpi": "r2",
                "metric": "r2",
                "gate": "validate",
                "value": 0.842,
                "threshold": "≥ 0.6",
                "margin": 0.242,
                "passed": True,
                "reason": None,
            },
        ],
        "gates": {"validate": True, "deploy": True},
    }
    stages = [
        _stage(s, "passed", i, 2.0)
        for i, s in enumerate(("audit", "train", "validate", "register"))
    ]
    charter_part = charter("regression")
    charter_part["project"]["name"] = "house-prices"
    return {
        "charter": charter_part,
        "run": run_record(stages, "succeeded"),
        "audit": {**audit(), "groups": {}},
        "train": training_part,
        "validate": validation_part,
        "register": {
            "version": 1,
            "aliases": ["candidate", "champion"],
            "override_reason": "Accepted by the board on 2026-05-14",
        },
    }


def multiclass_run() -> Parts:
    labels = ["setosa", "versicolor", "virginica", "unknown <hybrid>"]
    matrix = [[50, 0, 0, 0], [0, 45, 5, 0], [0, 4, 46, 0], [0, 1, 1, 3]]
    parts = full_run()
    parts["charter"] = charter("multiclass_classification")
    parts["charter"]["project"]["name"] = "iris"
    validation_part = validation()
    validation_part.update(
        task="multiclass_classification",
        metrics={"accuracy": 0.92, "f1": 0.85, "balanced_accuracy": 0.83},
        kpis={"accuracy": {"value": 0.92, "estimate": False, "note": None}},
        curves={
            "roc": {
                label: {**_roc(200, 2.0 + i * 0.3), "auc": 0.9 + i * 0.02}
                for i, label in enumerate(labels)
            },
        },
        confusion={"labels": labels, "matrix": matrix, "threshold": None},
        calibration=None,
        fairness={},
        slices={},
        verdicts=[
            {
                "kpi": "accuracy",
                "metric": "accuracy",
                "gate": "deploy",
                "value": 0.92,
                "threshold": "≥ 0.8",
                "margin": 0.12,
                "passed": True,
                "reason": None,
            },
            {
                "kpi": "f1",
                "metric": "f1",
                "gate": "validate",
                "value": 0.85,
                "threshold": "≥ 0.75",
                "margin": 0.1,
                "passed": True,
                "reason": None,
            },
        ],
    )
    parts["validate"] = validation_part
    return parts


def with_hostile_text(parts: Parts) -> Parts:
    """The same run with markup in user-controlled text: names, values, reasons."""
    parts = copy.deepcopy(parts)
    evil = "<script>alert('x')</script>"
    parts["charter"]["project"]["name"] = f"churn {evil}"
    parts["charter"]["project"]["problem"] = 'Spot "churners" & <b>keep</b> them'
    parts["audit"]["violations"][0]["column"] = f"Total<Charges>{evil}"
    parts["audit"]["violations"][0]["examples"][0]["value"] = evil
    parts["validate"]["importance"]["permutation"][0]["feature"] = f"ten&ure {evil}"
    parts["validate"]["fairness"]["gender"][0]["group"] = f"F {evil}"
    parts["train"]["trials"][0]["candidate"] = f"cand {evil}"
    parts["validate"]["confusion"]["labels"] = [f"No {evil}", "Yes"]
    return parts
