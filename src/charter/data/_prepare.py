"""The audit stage's data work in one call: read, check, audit, split."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

from charter.data._audit import AuditReport, audit, positive_class
from charter.data._contract import (
    ContractResult,
    ContractViolation,
    Quarantined,
    as_text,
    check_contract,
    quarantine,
)
from charter.data._contract_spark import SparkContractResult
from charter.data._findings import Finding, plural, show
from charter.data._fingerprint import Fingerprint
from charter.data._source import SourceFrame, read_source
from charter.data._source_spark import SparkSourceFrame
from charter.data._split import Split, overlap_findings, split
from charter.engines import Engine, PandasEngine, SparkEngine
from charter.errors import DataError
from charter.spec import LoadedCharter
from charter.spec.schema import Charter

Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class Prepared:
    """Data ready for training: the typed train and test frames and the evidence behind them.

    `report` is the audit (with the overlap, quarantine and dropped-target findings, the
    fingerprint, the contract violations and the split summary folded in); `contract` the
    contract check of every row read; `quarantined` the rows set aside under the
    `quarantine` policy (None when nothing was). On Spark, `source` and `contract` describe
    the table on the cluster and `lineage` how the training set reached the driver (whole,
    or a seeded sample).
    """

    source: SourceFrame | SparkSourceFrame
    contract: ContractResult | SparkContractResult
    report: AuditReport
    split: Split
    quarantined: Quarantined | None = None
    lineage: dict[str, Any] | None = None

    @property
    def train(self) -> pd.DataFrame:
        return self.split.train

    @property
    def test(self) -> pd.DataFrame:
        return self.split.test

    @property
    def fingerprint(self) -> Fingerprint:
        return self.source.fingerprint

    @property
    def findings(self) -> tuple[Finding, ...]:
        return self.report.findings

    def to_dict(self) -> dict[str, Any]:
        """Everything as JSON data.

        Shape: {"source": SourceFrame.to_dict(), "fingerprint": Fingerprint.to_dict(),
        "contract": ContractResult.to_dict(), "audit": AuditReport.to_dict(),
        "split": Split.to_dict(), "quarantine": Quarantined.to_dict() | None,
        "lineage": {...} | None (Spark: how the training set reached the driver)}.
        """
        return {
            "source": self.source.to_dict(),
            "fingerprint": self.fingerprint.to_dict(),
            "contract": self.contract.to_dict(),
            "audit": self.report.to_dict(),
            "split": self.split.to_dict(),
            "quarantine": None if self.quarantined is None else self.quarantined.to_dict(),
            "lineage": self.lineage,
        }


def prepare(
    loaded: LoadedCharter,
    *,
    quarantine_dir: Path | None = None,
    progress: Progress | None = None,
    engine: Engine | None = None,
    sample_rows: int | None = None,
) -> Prepared:
    """Read the charter's data once, check its contract, audit it and split it.

    On contract violations, `data.on_violation: fail` raises ContractViolation (carrying
    the result); `quarantine` writes the bad rows to a CSV in `quarantine_dir` (default:
    .charter/quarantine beside the charter) and continues with the rest, reported as a
    `contract_violation` finding. Rows without a target value are dropped and reported as
    a `missing` finding. Raises DataError when the target holds a single class (or, for
    regression, a single value), or no value at all. Blocking findings are not raised
    here: the caller reads `report.blocking(charter.data.audit)`.

    With a `SparkEngine`, the source is read, checked and audited on Spark and only the
    training set (whole, or `sample_rows` of it) comes to this process (`prepare_spark`).
    """
    notify: Progress = progress or _silent
    if isinstance(engine, SparkEngine):
        from charter.data._prepare_spark import prepare_spark

        return prepare_spark(
            loaded,
            engine,
            quarantine_dir=quarantine_dir,
            progress=notify,
            sample_rows=sample_rows,
            seed=loaded.charter.data.split.seed,
        )
    charter = loaded.charter
    notify("Reading the data", 0.0)
    source = read_source(loaded)
    notify("Checking the data contract", 0.15)
    result = check_contract(source.frame, charter, source=source.source)
    frame = result.typed
    extra: list[Finding] = []
    quarantined: Quarantined | None = None
    if not result.ok:
        if charter.data.on_violation == "fail":
            raise ContractViolation(result)
        folder = quarantine_dir or loaded.base_dir / ".charter" / "quarantine"
        stem = Path(charter.data.source.path).stem if charter.data.source.path else "query"
        path = folder / f"{stem}-{source.fingerprint.content_sha256[:12]}.csv"
        quarantined = quarantine(result, path)
        frame = quarantined.frame
        extra.append(quarantine_finding(quarantined, result.headline()))
    extra.extend(extra_column_findings(result.extra_columns))
    frame, dropped = _drop_missing_target(frame, charter, source.source)
    extra.extend(dropped)
    check_target(frame, charter, source.source)

    report = audit(
        frame,
        charter,
        engine=engine or PandasEngine(),
        progress=lambda message, fraction: notify(message, round(0.3 + 0.55 * fraction, 4)),
    )
    notify("Splitting train and test", 0.85)
    parts, report = split_and_fold(frame, charter, report, extra, source, result, quarantined)
    notify("Data ready", 1.0)
    return Prepared(source, result, report, parts, quarantined)


def split_and_fold(
    frame: pd.DataFrame,
    charter: Charter,
    report: AuditReport,
    extra: list[Finding],
    source: SourceFrame | SparkSourceFrame,
    result: ContractResult | SparkContractResult,
    quarantined: Quarantined | None,
) -> tuple[Split, AuditReport]:
    """Cut the holdout, and fold the stage's own findings and evidence into the audit."""
    parts = split(frame, charter)
    extra = [*extra, *overlap_findings(parts.train, parts.test, charter)]
    report = replace(
        report.with_findings(extra),
        fingerprint=source.fingerprint,
        violations=result.violations,
        quarantined_rows=0 if quarantined is None else quarantined.rows,
        split=parts.to_dict(),
    )
    return parts, report


def _silent(message: str, fraction: float) -> None:
    del message, fraction


def quarantine_finding(quarantined: Quarantined, headline: str) -> Finding:
    """The warning that rows were set aside under `quarantine`, and where they went."""
    return Finding(
        "contract_violation",
        "warning",
        None,
        f"{quarantined.message} {headline}",
        {
            "quarantined": quarantined.rows,
            "kept": quarantined.kept,
            "path": str(quarantined.path),
            "checks": quarantined.checks,
        },
    )


def extra_column_findings(names: Sequence[str]) -> list[Finding]:
    """An info finding for each column of the data that the contract does not declare."""
    return [
        Finding(
            "contract_violation",
            "info",
            name,
            f"{name} is in the data but not in the contract: it is kept as an unchecked "
            "feature; add it to data.contract (or data.exclude).",
            {"check": "declared"},
        )
        for name in names
    ]


def _drop_missing_target(
    frame: pd.DataFrame, charter: Charter, where: str
) -> tuple[pd.DataFrame, list[Finding]]:
    target = charter.objective.target
    missing = frame[target].isna().to_numpy()
    count = int(missing.sum())
    if count == 0:
        return frame, []
    if count == len(frame):
        raise DataError(
            f"The target '{target}' of {where} must hold values. Got only missing values instead."
        )
    rows = [int(position) + 1 for position in missing.nonzero()[0][:5]]
    finding = Finding(
        "missing",
        "warning",
        target,
        f"{plural(count, 'row')} of {where} have no {target} value (e.g. row {rows[0]}): they "
        "were dropped before the audit and the split.",
        {"dropped": count, "rows": len(frame), "examples": rows},
    )
    return frame.loc[~missing], [finding]


def check_target(frame: pd.DataFrame, charter: Charter, where: str) -> None:
    """DataError when the target holds fewer than two values, or (binary) not two classes."""
    target = charter.objective.target
    values = frame[target]
    distinct = list(dict.fromkeys(values.tolist()))
    task = charter.objective.task
    if len(distinct) < 2:
        what = "values" if task == "regression" else "classes"
        raise DataError(
            f"The target '{target}' of {where} must hold at least two {what}. Got only "
            f"{show(distinct[0])} instead."
        )
    if task != "binary_classification":
        return
    if len(distinct) > 2:
        shown = ", ".join(show(value) for value in sorted(distinct, key=as_text)[:6])
        raise DataError(
            f"The target '{target}' of {where} must hold exactly two classes for "
            f"binary_classification. Got {len(distinct)} ({shown}) instead."
        )
    positive = charter.objective.positive
    if positive is not None and positive_class(tuple(distinct), charter, {}) is None:
        shown = ", ".join(show(value) for value in sorted(distinct, key=as_text))
        raise DataError(
            f"The positive class (objective.positive) must be a value of the target "
            f"'{target}' in {where} ({shown}). Got {show(positive)} instead."
        )
