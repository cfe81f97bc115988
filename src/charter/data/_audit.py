"""The quality and bias audit of a typed frame, computed through the frame engine.

Two passes over the data, each returning partial aggregates that merge: column statistics
and row hashes first; then, with bins chosen from the first pass, cross-tables of every
feature and protected attribute with the target and the count of values outside each
numeric column's outlier fences. Every finding is judged from those merged statistics.

Quality findings are about the columns a model would use (every column but the target,
the id, the timestamp and `data.exclude`); leakage also looks at excluded columns, to
recognise a block of outcome flags, but only reports features.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import pandas as pd

from charter.data._contract import Violation, as_text
from charter.data._findings import Finding, Severity, jsonable, plural, show
from charter.data._fingerprint import Fingerprint
from charter.data._leakage import CATEGORY_MAX, FLAG_MAX_SHARE, Candidate, leakage_findings
from charter.engines import MISSING, OTHER, Binning, ColumnStats, Crosstab, Engine, PandasEngine
from charter.errors import DataError
from charter.spec.schema import AuditPolicy, Charter

Progress = Callable[[str, float], None]
Role = Literal["feature", "target", "id", "timestamp", "excluded"]

NEAR_CONSTANT_SHARE = 0.99
HIGH_CARDINALITY = 50
ID_LIKE_SHARE = 0.95
MIN_ROWS_FOR_SHAPE = 20
IMBALANCE_WARNING = 0.10
IMBALANCE_ERROR = 0.01
MISSING_WARNING = 0.5
DUPLICATE_WARNING = 0.01
OUTLIER_IQR = 3.0
REPRESENTATION_SHARE = 0.05
LEAKAGE_BINS = 32
EXACT_VALUES = 64
PROTECTED_VALUES = 10
PROTECTED_BINS = 5
# (q3 - q1) / (q90 - q10) for a normal distribution: 1.349 / 2.563.
_DECILE_TO_QUARTILE = 0.5263
_SEVERITY_RANK = {"error": 0, "warning": 1, "info": 2}


@dataclass(frozen=True)
class ColumnProfile:
    """A column's summary as the audit saw it."""

    name: str
    role: Role
    type: str
    protected: bool
    stats: ColumnStats

    def to_dict(self) -> dict[str, Any]:
        """The profile as JSON data.

        Shape: {"name": str, "role": "feature"|"target"|"id"|"timestamp"|"excluded",
        "type": str, "protected": bool, "rows": int, "missing": int, "missing_rate": float,
        "distinct": int, "distinct_exact": bool, "mean": float|None, "std": float|None,
        "min": float|str|None, "q1": float|None, "median": float|None, "q3": float|None,
        "max": float|str|None, "top": [[value, rows], ...] (at most 5; empty when the column
        has more distinct values than the engine counts exactly)}.
        Datetime minima and maxima are ISO text.
        """
        stats = self.stats
        low: Any = stats.minimum
        high: Any = stats.maximum
        if stats.kind == "datetime":
            low = None if low is None else pd.Timestamp(int(low)).isoformat()
            high = None if high is None else pd.Timestamp(int(high)).isoformat()
        # Beyond the cap, top values depend on how rows were chunked: shown only when exact.
        top = stats.top.most_common(5) if stats.top.exact else []
        if stats.kind == "datetime":
            top = [(pd.Timestamp(int(value)).isoformat(), count) for value, count in top]
        return {
            "name": self.name,
            "role": self.role,
            "type": self.type,
            "protected": self.protected,
            "rows": stats.rows,
            "missing": stats.missing,
            "missing_rate": stats.missing / stats.rows if stats.rows else 0.0,
            "distinct": stats.distinct.estimate,
            "distinct_exact": stats.distinct.exact,
            "mean": jsonable(stats.mean),
            "std": jsonable(stats.std),
            "min": jsonable(low),
            "q1": jsonable(stats.quantile(0.25)),
            "median": jsonable(stats.quantile(0.5)),
            "q3": jsonable(stats.quantile(0.75)),
            "max": jsonable(high),
            "top": [[jsonable(value), count] for value, count in top],
        }


@dataclass(frozen=True)
class GroupStats:
    """One group of a protected attribute: its size, share and outcome rate."""

    group: str
    rows: int
    share: float
    positives: int | None = None
    base_rate: float | None = None
    class_rates: dict[str, float] | None = None
    target_mean: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Shape: {"group": str, "rows": int, "share": float, "positives": int|None,
        "base_rate": float|None, "class_rates": {class: float}|None, "target_mean": float|None}.
        """
        return {
            "group": self.group,
            "rows": self.rows,
            "share": self.share,
            "positives": self.positives,
            "base_rate": jsonable(self.base_rate),
            "class_rates": jsonable(self.class_rates),
            "target_mean": jsonable(self.target_mean),
        }


@dataclass(frozen=True)
class BiasTable:
    """The groups of one protected attribute (quantile bins when it is numeric)."""

    attribute: str
    binned: bool
    groups: tuple[GroupStats, ...]

    def group(self, name: str) -> GroupStats:
        """The group called `name` (KeyError when there is none)."""
        for group in self.groups:
            if group.group == name:
                return group
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """Shape: {"attribute": str, "binned": bool, "groups": [GroupStats.to_dict(), ...]}."""
        return {
            "attribute": self.attribute,
            "binned": self.binned,
            "groups": [group.to_dict() for group in self.groups],
        }


@dataclass(frozen=True)
class AuditReport:
    """Every finding of the audit, the column profiles, the target and the bias tables.

    `prepare` adds what it learnt around the audit: the fingerprint, the contract
    violations, the quarantined row count and the split, so that one dict tells the story.
    """

    findings: tuple[Finding, ...]
    rows: int
    columns: tuple[ColumnProfile, ...]
    target: dict[str, Any]
    bias: tuple[BiasTable, ...]
    engine: str
    fingerprint: Fingerprint | None = None
    violations: tuple[Violation, ...] = ()
    quarantined_rows: int = 0
    split: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def blocking(self, policy: AuditPolicy) -> list[Finding]:
        """The findings whose kind the policy (`data.audit`) makes blocking."""
        return [finding for finding in self.findings if finding.kind in policy.blocking]

    def of_kind(self, kind: str) -> list[Finding]:
        """The findings of one kind."""
        return [finding for finding in self.findings if finding.kind == kind]

    def bias_table(self, attribute: str) -> BiasTable:
        """The bias table of a protected attribute (KeyError when it was not audited)."""
        for table in self.bias:
            if table.attribute == attribute:
                return table
        raise KeyError(attribute)

    def with_findings(self, extra: Sequence[Finding]) -> AuditReport:
        """This report with more findings, kept in severity order."""
        return replace(self, findings=_ordered([*self.findings, *extra], self._order()))

    def _order(self) -> list[str]:
        return [profile.name for profile in self.columns]

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON data.

        Shape: {"rows": int, "columns": int, "engine": str,
        "findings": [Finding.to_dict(), ...] (errors first),
        "counts": {"error": int, "warning": int, "info": int},
        "target": {"column": str, "task": str, "positive": JSON, "classes":
        [{"value": JSON, "rows": int, "share": float}, ...]} (regression: "mean", "std",
        "min", "max" instead of "classes"),
        "profile": [ColumnProfile.to_dict(), ...],
        "groups": {attribute: [GroupStats.to_dict(), ...]},
        "bias": [BiasTable.to_dict(), ...]}
        and, when `prepare` made the report: "fingerprint": Fingerprint.to_dict(),
        "violations": [Violation.to_dict(), ...], "quarantined_rows": int,
        "split": Split.to_dict().
        """
        counts = dict.fromkeys(_SEVERITY_RANK, 0)
        for finding in self.findings:
            counts[finding.severity] += 1
        result: dict[str, Any] = {
            "rows": self.rows,
            "columns": len(self.columns),
            "engine": self.engine,
            "findings": [finding.to_dict() for finding in self.findings],
            "counts": counts,
            "target": jsonable(self.target),
            "profile": [profile.to_dict() for profile in self.columns],
            "groups": {
                table.attribute: [group.to_dict() for group in table.groups] for table in self.bias
            },
            "bias": [table.to_dict() for table in self.bias],
        }
        if self.fingerprint is not None:
            result["fingerprint"] = self.fingerprint.to_dict()
            result["violations"] = [violation.to_dict() for violation in self.violations]
            result["quarantined_rows"] = self.quarantined_rows
        if self.split is not None:
            result["split"] = jsonable(self.split)
        result.update(jsonable(self.extra))
        return result


# -- roles and classes ------------------------------------------------------------------------


def column_roles(columns: Sequence[str], charter: Charter) -> dict[str, Role]:
    """Each column's role: target, id, timestamp, excluded, or feature."""
    data = charter.data
    roles: dict[str, Role] = {}
    for name in columns:
        if name == charter.objective.target:
            roles[name] = "target"
        elif name == data.id:
            roles[name] = "id"
        elif name == data.timestamp:
            roles[name] = "timestamp"
        elif name in data.exclude:
            roles[name] = "excluded"
        else:
            roles[name] = "feature"
    return roles


def target_classes(stats: ColumnStats, charter: Charter) -> tuple[Any, ...] | None:
    """The target's classes in a stable order (None for regression)."""
    if charter.objective.task == "regression":
        return None
    values = [value for value, _ in stats.top.most_common()]
    return tuple(sorted(values, key=lambda value: (not _is_number(value), _sort_key(value))))


def positive_class(classes: Sequence[Any], charter: Charter, counts: dict[Any, int]) -> Any:
    """The class of `classes` that the charter's `positive` names (the rarer one by default)."""
    positive = charter.objective.positive
    if positive is not None:
        for value in classes:
            if value == positive or as_text(value) == as_text(positive):
                return value
        return None
    if len(classes) == 2:
        return min(classes, key=lambda value: (counts.get(value, 0), -classes.index(value)))
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _sort_key(value: Any) -> Any:
    return value if _is_number(value) else str(value)


# -- the audit ------------------------------------------------------------------------------


def audit(
    frame: Any,
    charter: Charter,
    *,
    engine: Engine | None = None,
    progress: Progress | None = None,
) -> AuditReport:
    """Audit a typed frame (`ContractResult.typed`): quality, leakage and bias findings.

    Rows whose target is missing are left out of the cross-tables (so out of leakage and
    bias numbers); `prepare` drops them first and says so. Raises DataError when the
    target is not a column.

    `frame` is what `engine` reads: a pandas DataFrame for the default engine, a pyspark
    DataFrame for `SparkEngine`. Another engine than pandas is described in the report's
    `engine_details` (its master, the quantile sketch's relative error).
    """
    engine = engine or PandasEngine()
    notify: Progress = progress or _silent
    target = charter.objective.target
    names = engine.columns(frame)
    if target not in names:
        raise DataError(f"The target '{target}' must be a column of the audited frame.")
    roles = column_roles(names, charter)
    protected = set(charter.data.protected)
    contract = charter.data.contract

    notify("Profiling columns", 0.0)
    stats = engine.column_stats(frame)
    types = {name: _type_of(name, stats[name], contract) for name in names}
    profiles = tuple(
        ColumnProfile(name, roles[name], types[name], name in protected, stats[name])
        for name in names
    )
    features = [name for name in names if roles[name] == "feature"]
    findings: list[Finding] = []
    findings += _missing(features, stats)

    notify("Looking for duplicate rows", 0.25)
    keyed = [name for name in names if name != charter.data.id]
    rows = engine.count_rows(frame)
    findings += _duplicates(engine.row_counts(frame, keyed).duplicates, rows, charter)
    findings += _shapes(features, stats, types)

    classes = target_classes(stats[target], charter)
    target_counts = dict(stats[target].top.most_common())
    positive = positive_class(classes, charter, target_counts) if classes is not None else None
    findings += _imbalance(target, classes, target_counts, positive)

    notify("Cross-tabulating columns with the target", 0.45)
    candidates = [
        name
        for name in names
        if roles[name] in ("feature", "excluded") and stats[name].kind != "datetime"
    ]
    binnings = {f"leak:{name}": _leak_binning(stats[name], types[name]) for name in candidates}
    protected_groups = {
        name: _group_binning(stats[name], types[name])
        for name in charter.data.protected
        if name in stats
    }
    binnings.update({f"bias:{name}": binning for name, (binning, _) in protected_groups.items()})
    tables = engine.crosstabs(frame, target, binnings, classes=classes)

    notify("Judging leakage", 0.7)
    leak = {
        name: _candidate(name, tables[f"leak:{name}"], stats[name], types[name], roles[name])
        for name in candidates
    }
    findings += leakage_findings(leak, names, target=target, classes=classes)

    notify("Counting outliers", 0.8)
    fences = _fences(features, stats, types)
    outside = engine.outside(frame, fences)
    findings += _outliers(fences, outside.counts, stats)

    notify("Auditing protected groups", 0.9)
    bias = tuple(
        _bias_table(
            name, tables[f"bias:{name}"], labels, classes, positive, binning.edges is not None
        )
        for name, (binning, labels) in protected_groups.items()
    )
    for table in bias:
        findings += _bias_findings(table, charter.data.audit.min_group_size)

    notify("Audit done", 1.0)
    return AuditReport(
        findings=_ordered(findings, names),
        rows=rows,
        columns=profiles,
        target=_target_summary(target, charter, stats[target], classes, positive),
        bias=bias,
        engine=engine.name,
        # The default engine's reports stay as they were; another engine says what ran.
        extra={} if engine.name == PandasEngine.name else {"engine_details": engine.describe()},
    )


def _silent(message: str, fraction: float) -> None:
    del message, fraction


def _ordered(findings: Sequence[Finding], names: Sequence[str]) -> tuple[Finding, ...]:
    position = {name: i for i, name in enumerate(names)}
    return tuple(
        sorted(
            findings,
            key=lambda f: (
                _SEVERITY_RANK[f.severity],
                -1 if f.column is None else position.get(f.column, len(position)),
            ),
        )
    )


def _type_of(name: str, stats: ColumnStats, contract: dict[str, Any]) -> str:
    declared = contract.get(name)
    if declared is not None:
        return str(declared.type)
    return {"numeric": "float", "datetime": "datetime", "text": "string"}[stats.kind]


def _target_summary(
    target: str,
    charter: Charter,
    stats: ColumnStats,
    classes: tuple[Any, ...] | None,
    positive: Any,
) -> dict[str, Any]:
    summary: dict[str, Any] = {"column": target, "task": charter.objective.task}
    if classes is None:
        summary.update(
            mean=stats.mean,
            std=stats.std,
            min=stats.minimum,
            max=stats.maximum,
            missing=stats.missing,
        )
        return summary
    counts = dict(stats.top.most_common())
    present = stats.present or 1
    summary["positive"] = positive
    summary["missing"] = stats.missing
    summary["classes"] = [
        {"value": value, "rows": counts.get(value, 0), "share": counts.get(value, 0) / present}
        for value in classes
    ]
    return summary


# -- quality findings ---------------------------------------------------------------------------


def _missing(features: Sequence[str], stats: dict[str, ColumnStats]) -> list[Finding]:
    findings: list[Finding] = []
    for name in features:
        column = stats[name]
        if column.missing == 0 or column.rows == 0:
            continue
        share = column.missing / column.rows
        details = {"missing": column.missing, "rows": column.rows, "share": share}
        if column.missing == column.rows:
            findings.append(
                Finding(
                    "missing",
                    "error",
                    name,
                    f"{name} has no value in any of its {column.rows} rows: exclude it or "
                    "fix the data.",
                    details,
                )
            )
            continue
        severity: Severity = "warning" if share >= MISSING_WARNING else "info"
        findings.append(
            Finding(
                "missing",
                severity,
                name,
                f"{name} is missing in {plural(column.missing, 'row')} ({share:.1%}).",
                details,
            )
        )
    return findings


def _duplicates(duplicates: int, rows: int, charter: Charter) -> list[Finding]:
    if duplicates == 0 or rows == 0:
        return []
    share = duplicates / rows
    ignoring = f" (ignoring the id {charter.data.id})" if charter.data.id else ""
    return [
        Finding(
            "duplicates",
            "warning" if share >= DUPLICATE_WARNING else "info",
            None,
            f"{plural(duplicates, 'row')} ({share:.2%}) repeat an earlier row exactly{ignoring}: "
            "duplicates weigh double in training and can sit on both sides of the split.",
            {"duplicates": duplicates, "rows": rows, "share": share},
        )
    ]


def _shapes(
    features: Sequence[str], stats: dict[str, ColumnStats], types: dict[str, str]
) -> list[Finding]:
    findings: list[Finding] = []
    for name in features:
        column = stats[name]
        present = column.present
        if present == 0:
            continue
        distinct = column.distinct.estimate
        top = column.top.most_common(1)
        if distinct <= 1 and top:
            value = top[0][0]
            findings.append(
                Finding(
                    "constant",
                    "warning",
                    name,
                    f"{name} holds one value ({show(value)}) in every row that has one: it "
                    "cannot help a model; exclude it in data.exclude.",
                    {"value": value, "rows": present},
                )
            )
            continue
        if top and top[0][1] / present >= NEAR_CONSTANT_SHARE:
            value, count = top[0]
            share = count / present
            findings.append(
                Finding(
                    "near_constant",
                    "info",
                    name,
                    f"{name} is {show(value)} in {share:.1%} of its rows: nearly constant, "
                    "little for a model to learn from.",
                    {"value": value, "share": share, "rows": present},
                )
            )
        if present < MIN_ROWS_FOR_SHAPE:
            continue
        id_like = _id_like(column, types[name])
        if id_like:
            findings.append(
                Finding(
                    "id_like",
                    "warning",
                    name,
                    f"{name} looks like an identifier ({distinct} distinct values in "
                    f"{present} rows): as a feature it lets a model memorise rows; name it "
                    "data.id or exclude it in data.exclude.",
                    {"distinct": distinct, "rows": present},
                )
            )
        elif column.kind == "text" and distinct > HIGH_CARDINALITY:
            findings.append(
                Finding(
                    "high_cardinality",
                    "warning",
                    name,
                    f"{name} has {distinct} distinct values: one-hot encoding it makes as "
                    "many sparse columns; group rare values or encode it by target rate.",
                    {"distinct": distinct, "rows": present, "threshold": HIGH_CARDINALITY},
                )
            )
    return findings


def _id_like(column: ColumnStats, kind: str) -> bool:
    present = column.present
    distinct = column.distinct.estimate
    if column.kind == "text":
        return distinct > HIGH_CARDINALITY and distinct >= ID_LIKE_SHARE * present
    if kind == "int" and column.minimum is not None and column.maximum is not None:
        span = column.maximum - column.minimum + 1
        return distinct >= 0.99 * present and span <= 1.1 * distinct
    return False


def _imbalance(
    target: str, classes: tuple[Any, ...] | None, counts: dict[Any, int], positive: Any
) -> list[Finding]:
    if classes is None or len(classes) < 2:
        return []
    total = sum(counts.values())
    rarest = min(classes, key=lambda value: counts.get(value, 0))
    share = counts.get(rarest, 0) / total if total else 0.0
    if share >= IMBALANCE_WARNING:
        return []
    severity: Severity = "error" if share < IMBALANCE_ERROR else "warning"
    return [
        Finding(
            "class_imbalance",
            severity,
            target,
            f"{target} is imbalanced: its rarest class {show(rarest)} is {share:.1%} of the "
            f"rows ({counts.get(rarest, 0)} of {total}); judge models by PR AUC or recall at "
            "a chosen threshold, not accuracy.",
            {
                "class": rarest,
                "rows": counts.get(rarest, 0),
                "share": share,
                "positive": positive,
                "classes": {as_text(value): counts.get(value, 0) for value in classes},
            },
        )
    ]


# -- binning --------------------------------------------------------------------------------------


def _few_values(stats: ColumnStats, limit: int) -> list[Any] | None:
    """Every value of the column when it has at most `limit`, known exactly; else None."""
    if not stats.top.exact or not stats.distinct.exact or len(stats.top.counts) > limit:
        return None
    return [value for value, _ in stats.top.most_common()]


def _quantile_edges(stats: ColumnStats, bins: int, *, integral: bool) -> tuple[float, ...]:
    edges: list[float] = []
    for step in range(1, bins):
        value = stats.quantile(step / bins)
        if value is None:
            continue
        value = float(math.ceil(value)) if integral else value
        if value > (stats.minimum if stats.minimum is not None else -math.inf) and (
            not edges or value > edges[-1]
        ):
            edges.append(value)
    return tuple(edges)


def _leak_binning(stats: ColumnStats, kind: str) -> Binning:
    if stats.kind == "text":
        values = [value for value, _ in stats.top.most_common(EXACT_VALUES)]
        return Binning(stats.name, values=tuple(values))
    few = _few_values(stats, EXACT_VALUES)
    if few is not None:
        return Binning(stats.name, values=tuple(few))
    return Binning(stats.name, edges=_quantile_edges(stats, LEAKAGE_BINS, integral=False))


def _candidate(name: str, table: Crosstab, stats: ColumnStats, kind: str, role: Role) -> Candidate:
    few = _few_values(stats, 2)
    flag = False
    if few is not None and len(few) == 2 and stats.present:
        numeric = {float(value) for value in few if _is_number(value)}
        boolean_like = numeric == {0.0, 1.0} or kind == "bool"
        rare = min(stats.top.counts.values()) / stats.present
        flag = boolean_like and rare <= FLAG_MAX_SHARE
    categorical = (few is not None) or (
        (stats.kind == "text" or kind == "bool") and stats.distinct.estimate <= CATEGORY_MAX
    )
    return Candidate(
        name=name,
        table=table,
        ordered=stats.kind == "numeric",
        categorical=categorical,
        flag=flag,
        reported=role == "feature",
        present_values=stats.present,
    )


def _group_binning(stats: ColumnStats, kind: str) -> tuple[Binning, dict[Any, str]]:
    """How a protected attribute is cut into groups, and each key's label."""
    few = _few_values(stats, PROTECTED_VALUES if stats.kind != "text" else 1000)
    if stats.kind == "text" or few is not None:
        values = few if few is not None else [value for value, _ in stats.top.most_common(1000)]
        ordered = sorted(values, key=_sort_key)
        labels = {value: as_text(value) for value in ordered}
        return Binning(stats.name, values=tuple(ordered)), labels
    integral = kind in ("int", "bool")
    edges = _quantile_edges(stats, PROTECTED_BINS, integral=integral)
    bounds = [stats.minimum, *edges, stats.maximum]
    labels = {}
    for key in range(len(edges) + 1):
        low, high = bounds[key], bounds[key + 1]
        closing = "]" if key == len(edges) else ")"
        labels[key] = f"[{show(low)}, {show(high)}{closing}"
    return Binning(stats.name, edges=edges), labels


# -- outliers ------------------------------------------------------------------------------------


def _fences(
    features: Sequence[str], stats: dict[str, ColumnStats], types: dict[str, str]
) -> dict[str, tuple[float, float]]:
    fences: dict[str, tuple[float, float]] = {}
    for name in features:
        column = stats[name]
        if column.kind != "numeric" or types[name] == "bool" or column.finite < MIN_ROWS_FOR_SHAPE:
            continue
        if _few_values(column, 2) is not None:
            continue
        q10, q1, q3, q90 = (column.quantile(q) for q in (0.1, 0.25, 0.75, 0.9))
        if q10 is None or q1 is None or q3 is None or q90 is None or q90 <= q10:
            continue
        # A spike at the median (hours-per-week: 40) shrinks the IQR to nothing; the
        # inter-decile range, scaled to an IQR under normality, keeps the fences sensible.
        spread = max(q3 - q1, (q90 - q10) * _DECILE_TO_QUARTILE)
        fences[name] = (q1 - OUTLIER_IQR * spread, q3 + OUTLIER_IQR * spread)
    return fences


def _outliers(
    fences: dict[str, tuple[float, float]],
    counts: dict[str, tuple[int, int]],
    stats: dict[str, ColumnStats],
) -> list[Finding]:
    findings: list[Finding] = []
    for name, (low, high) in fences.items():
        below, above = counts.get(name, (0, 0))
        count = below + above
        if count == 0:
            continue
        share = count / stats[name].finite
        findings.append(
            Finding(
                "outliers",
                "info",
                name,
                f"{name} has {plural(count, 'outlier')} ({share:.2%}) outside "
                f"[{show(low)}, {show(high)}] (3 spreads beyond the quartiles): check they are "
                "real values, not entry errors.",
                {
                    "count": count,
                    "share": share,
                    "below": below,
                    "above": above,
                    "low": low,
                    "high": high,
                    "method": "iqr_or_decile_spread",
                    "k": OUTLIER_IQR,
                },
            )
        )
    return findings


# -- bias ---------------------------------------------------------------------------------------


def _bias_table(
    name: str,
    table: Crosstab,
    labels: dict[Any, str],
    classes: tuple[Any, ...] | None,
    positive: Any,
    binned: bool,
) -> BiasTable:
    cells = table.by_key()
    keys = [key for key in labels if key in cells]
    keys += sorted(
        (key for key in cells if key not in labels and key not in (MISSING, OTHER)), key=str
    )
    keys += [key for key in (OTHER, MISSING) if key in cells]
    sizes = {key: int(cells[key][0] if classes is None else sum(cells[key])) for key in keys}
    total = sum(sizes.values()) or 1
    groups: list[GroupStats] = []
    for key in keys:
        cell = cells[key]
        rows = sizes[key]
        label = labels.get(key, key if isinstance(key, str) else as_text(key))
        if classes is None:
            groups.append(
                GroupStats(label, rows, rows / total, target_mean=cell[1] / rows if rows else None)
            )
            continue
        if positive is not None:
            index = classes.index(positive)
            positives = int(cell[index])
            groups.append(
                GroupStats(
                    label,
                    rows,
                    rows / total,
                    positives=positives,
                    base_rate=positives / rows if rows else None,
                )
            )
            continue
        rates = {as_text(value): cell[i] / rows for i, value in enumerate(classes)} if rows else {}
        groups.append(GroupStats(label, rows, rows / total, class_rates=rates))
    return BiasTable(name, binned=binned, groups=tuple(groups))


def _bias_findings(table: BiasTable, min_group_size: int) -> list[Finding]:
    findings: list[Finding] = []
    name = table.attribute
    small = [group for group in table.groups if group.rows < min_group_size]
    if small:
        listed = ", ".join(f"{group.group} {group.rows}" for group in small[:8])
        more = ", ..." if len(small) > 8 else ""
        findings.append(
            Finding(
                "group_too_small",
                "warning",
                name,
                f"{plural(len(small), 'group')} of {name} "
                f"{'has' if len(small) == 1 else 'have'} fewer than {min_group_size} rows "
                f"({listed}{more}): too few to judge the model's fairness for them.",
                {
                    "groups": {group.group: group.rows for group in small},
                    "min_group_size": min_group_size,
                },
            )
        )
    rare = [group for group in table.groups if group.share < REPRESENTATION_SHARE]
    if rare:
        listed = ", ".join(f"{group.group} {group.share:.1%}" for group in rare[:8])
        more = ", ..." if len(rare) > 8 else ""
        findings.append(
            Finding(
                "representation",
                "warning",
                name,
                f"{plural(len(rare), 'group')} of {name} "
                f"{'is' if len(rare) == 1 else 'are'} under {REPRESENTATION_SHARE:.0%} of the "
                f"rows ({listed}{more}): the model sees few of them; read fairness metrics for "
                "them with care.",
                {
                    "groups": {group.group: group.share for group in rare},
                    "threshold": REPRESENTATION_SHARE,
                },
            )
        )
    return findings
