"""Build real ledgers for status and dashboard tests: a small charter, runs, windows, incidents.

Everything goes through the Ledger API, as the lifecycle and the monitor write it; the
window payloads follow the monitor's shape.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from charter.ledger import Ledger, open_ledger
from tests.conftest import EXAMPLES

PROJECT = "telco-churn"
UTC = dt.timezone.utc


def write_project(
    folder: Path, *, edit: Callable[[str], str] | None = None, rows: int = 60
) -> Path:
    """The telco example's charter over its first `rows` rows; returns the charter path."""
    source = EXAMPLES / "telco-churn"
    (folder / "data").mkdir(parents=True, exist_ok=True)
    with (source / "data" / "telco_churn.csv").open(encoding="utf-8") as handle:
        lines = [next(handle) for _ in range(rows + 1)]
    (folder / "data" / "telco_churn.csv").write_text("".join(lines), encoding="utf-8")
    text = (source / "charter.yaml").read_text(encoding="utf-8")
    path = folder / "charter.yaml"
    path.write_text(edit(text) if edit else text, encoding="utf-8")
    return path


def gates_payload(values: Mapping[str, float | None], passed: bool = True) -> dict[str, Any]:
    """The "gates" evidence a validate stage leaves (the parts the status reads)."""
    verdicts = [
        {
            "kpi": name,
            "metric": name,
            "gate": "deploy",
            "value": value,
            "threshold": "≥ 0",
            "margin": None,
            "passed": passed,
            "reason": "",
            "estimate": False,
        }
        for name, value in values.items()
    ]
    return {
        "gates": {
            "validate": {"gate": "validate", "passed": passed, "summary": "", "verdicts": []},
            "deploy": {"gate": "deploy", "passed": passed, "summary": "", "verdicts": verdicts},
        },
        "values": dict(values),
        "estimates": [],
        "notes": {},
    }


def record_run(
    ledger: Ledger,
    *,
    stages: Sequence[tuple[str, bool]] = (("audit", True), ("train", True), ("validate", True)),
    values: Mapping[str, float | None] | None = None,
    revision_id: int | None = None,
    validation: Mapping[str, Any] | None = None,
) -> str:
    """A finished run with `stages` ((name, passed) pairs); validate leaves gates evidence."""
    run = ledger.start_run(PROJECT, "run", revision_id=revision_id)
    ok = True
    for name, passed in stages:
        with ledger.stage(run.id, name) as handle:
            if name == "validate":
                handle.add_evidence("gates", gates_payload(values or {}, passed))
                if validation is not None:
                    handle.add_evidence("validation", dict(validation))
            if not passed:
                handle.fail(f"{name} failed its gate")
                ok = False
    ledger.finish_run(run.id, "succeeded" if ok else "failed")
    return run.id


def register(ledger: Ledger, run_id: str | None, kpis: Mapping[str, object], alias: str) -> int:
    """A model version of `run_id` with these KPI values, under `alias`."""
    artifact = ledger.put_artifact(PROJECT, "model.pkl", f"model of {run_id}".encode())
    version = ledger.register_model_version(
        PROJECT,
        run_id,
        [artifact.id],
        {"candidate": "logistic_regression", "run_id": run_id, "charter_sha256": "abc"},
        {"kpis": dict(kpis), "gates": {"validate": True, "deploy": True}},
        alias=alias,
    )
    return version.version


def window_payload(
    *,
    psi: Mapping[str, float],
    kpis: Mapping[str, tuple[float | None, float, str, bool | None]],
    p50: float = 2.0,
    p99: float = 9.0,
    coverage: float = 0.6,
    estimated_auc: float = 0.8,
    realised_auc: float | None = 0.79,
) -> dict[str, Any]:
    """A monitoring window payload; `kpis` maps a name to (value, threshold, direction, passed)."""
    features = {
        name: {
            "kind": "numeric",
            "psi": value,
            "ks": 0.1,
            "ks_pvalue": 0.2,
            "wasserstein": 0.05,
            "js": None,
            "chi2_pvalue": None,
            "unseen_share": None,
            "missing_rate": 0.0,
            "reference_missing_rate": 0.0,
            "absent": False,
            "drifted": value > 0.2,
            "reasons": ["psi above 0.2"] if value > 0.2 else [],
        }
        for name, value in psi.items()
    }
    metrics = {"accuracy": 0.8, "precision": 0.6, "recall": 0.5}
    return {
        "status": "evaluated",
        "drift": {
            "rows": 1000,
            "features": features,
            "prediction": None,
            "max_psi": max(psi.values(), default=0.0),
            "drifted": sorted(n for n, v in psi.items() if v > 0.2),
        },
        "kpis": [
            {
                "name": name,
                "metric": name,
                "value": value,
                "threshold": threshold,
                "direction": direction,
                "gate": "monitor",
                "passed": passed,
                "estimated": False,
                "coverage": None,
                "note": None,
            }
            for name, (value, threshold, direction, passed) in kpis.items()
        ],
        "performance": {
            "estimated": {**metrics, "roc_auc": estimated_auc},
            "realised": None if realised_auc is None else {**metrics, "roc_auc": realised_auc},
            "label_coverage": coverage,
            "labelled": int(coverage * 1000),
        },
        "operational": {
            "latency_p50_ms": p50,
            "latency_p99_ms": p99,
            "error_rate": 0.0,
            "throughput": 120.0,
        },
    }


def record_window(
    ledger: Ledger, version: int, key: str, payload: Mapping[str, Any], verdict: str = "pass"
) -> int:
    """Record one monitoring window ending now; returns its id."""
    end = dt.datetime.now(UTC)
    window = ledger.record_window(
        PROJECT, version, key, end - dt.timedelta(minutes=5), end, 1000, verdict, payload
    )
    return window.id


def fill_story(charter: Path) -> dict[str, Any]:
    """The whole story of a project: a changed threshold, two validated runs, two versions,
    a champion, a deployment, three monitoring windows with drift, an open incident and a
    refused retrain. Returns the ids the tests look for.
    """
    text = charter.read_text(encoding="utf-8")
    with open_ledger(charter.parent) as ledger:
        first = ledger.record_revision(PROJECT, str(charter), text)
        run_1 = record_run(
            ledger,
            values={"auc": 0.84, "value": 120.0, "parity": 0.05, "senior-recall": 0.7},
            revision_id=first.id,
            validation=_validation({"tenure": 0.08, "MonthlyCharges": 0.03}),
        )
        v1 = register(ledger, run_1, {"auc": 0.84, "value": 120.0}, alias="champion")
        changed = text.replace("at_least: 0.82, gate: deploy", "at_least: 0.85, gate: deploy")
        charter.write_text(changed, encoding="utf-8")
        second = ledger.record_revision(PROJECT, str(charter), changed)
        run_2 = record_run(
            ledger,
            values={"auc": 0.86, "value": 150.0, "parity": 0.04, "senior-recall": 0.72},
            revision_id=second.id,
            validation=_validation({"tenure": 0.1, "Contract": 0.06}),
        )
        v2 = register(ledger, run_2, {"auc": 0.86, "value": 150.0}, alias="candidate")
        ledger.record_deployment(PROJECT, v1, "127.0.0.1", 8000)
        windows = []
        for index, (drift, p99) in enumerate(((0.05, 9.0), (0.12, 14.0), (0.31, 31.0))):
            payload = window_payload(
                psi={"MonthlyCharges": drift, "tenure": drift / 2, "Contract": 0.01},
                kpis={
                    "p99": (p99, 25.0, "at_most", p99 <= 25),
                    "drift": (drift, 0.2, "at_most", drift <= 0.2),
                },
                p99=p99,
            )
            verdict = "pass" if drift <= 0.2 and p99 <= 25 else "fail"
            windows.append(record_window(ledger, v1, f"w{index + 1}", payload, verdict))
        incident = ledger.open_or_update_incident(
            PROJECT, "drift", 0.31, 0.2, version=v1, window_id=windows[-1]
        )
        ledger.record_event(
            PROJECT,
            "retrain.refused",
            "Challenger v2 refused: roc_auc better by 0.001, not 0.005.",
            {
                "champion": v1,
                "challenger": v2,
                "metric": "roc_auc",
                "champion_score": 0.84,
                "challenger_score": 0.841,
                "better_by": 0.005,
                "reasons": ["roc_auc improved by 0.001 < 0.005"],
            },
        )
    return {
        "runs": [run_1, run_2],
        "versions": [v1, v2],
        "windows": windows,
        "incident": incident.id,
        "revisions": [first.id, second.id],
    }


def _validation(importance: Mapping[str, float]) -> dict[str, Any]:
    return {
        "importance": {
            "metric": "roc_auc",
            "rows": 100,
            "repeats": 3,
            "error": None,
            "permutation": [
                {"feature": name, "mean": value, "std": 0.01} for name, value in importance.items()
            ],
        }
    }
