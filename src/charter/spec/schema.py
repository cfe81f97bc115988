"""The charter schema: typed, frozen models for every section of charter.yaml.

Structural rules (types, required keys, allowed words) live here; rules that relate one
section to another (a risk's `check` names a KPI, a `by` column is in the contract) live
in `_crosscheck.py`, so that every fault is reported at once even when the structure is
broken elsewhere.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

Task = Literal["binary_classification", "multiclass_classification", "regression"]
Stage = Literal["check", "audit", "train", "validate", "register", "deploy", "monitor", "retrain"]
Gate = Literal["validate", "deploy", "monitor"]
ColumnType = Literal["int", "float", "bool", "category", "string", "datetime"]
NotifyChannel = Literal["console", "file", "slack", "webhook", "none"]

# The same words as tuples, for messages and checks that iterate over them.
TASKS: tuple[str, ...] = get_args(Task)
STAGES: tuple[str, ...] = get_args(Stage)
GATES: tuple[str, ...] = get_args(Gate)
COLUMN_TYPES: tuple[str, ...] = get_args(ColumnType)
NOTIFY_CHANNELS: tuple[str, ...] = get_args(NotifyChannel)
BUILTIN_CANDIDATES = (
    "hist_gradient_boosting",
    "lightgbm",
    "linear_regression",
    "logistic_regression",
    "random_forest",
)
Scalar = str | int | float | bool
Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_.\-]*$", max_length=80)]
Text = Annotated[str, StringConstraints(min_length=1, strip_whitespace=True)]
EnvName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=128)]
Fraction = Annotated[float, Field(gt=0, lt=1)]


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=False, allow_inf_nan=False)


def _scalars(value: Any) -> Any:
    """Allowed values and slice values must be plain scalars: YAML can hide lists and maps."""
    items = value if isinstance(value, list | tuple) else [value]
    for item in items:
        if item is None or isinstance(item, dict | list | tuple):
            raise ValueError(f"must be plain values (text, numbers or true/false). Got {item!r}")
    return value


# --- project ---------------------------------------------------------------------------


class Stakeholder(_Section):
    """Someone to keep informed, and the channel that reaches them."""

    name: Text
    role: Text | None = None
    notify: NotifyChannel = "console"
    target: str | None = Field(
        default=None,
        description="Where the channel delivers: a file path, or the name of an environment "
        "variable holding a webhook URL (never the URL itself).",
    )


class Project(_Section):
    """Who owns the project and what problem it solves."""

    name: Name
    problem: Text
    owner: Text
    stakeholders: tuple[Stakeholder, ...] = ()


# --- objective -------------------------------------------------------------------------


class Objective(_Section):
    """What is predicted: the task, the target column and, for binary, the positive class."""

    task: Task
    target: Text
    positive: Scalar | None = None

    @field_validator("positive", mode="before")
    @classmethod
    def _positive_is_scalar(cls, value: Any) -> Any:
        return value if value is None else _scalars(value)


# --- data ------------------------------------------------------------------------------


class Source(_Section):
    """A CSV or Parquet path (relative to the charter), a SQL query and a connection URL, or
    (with `engine: spark`) a table of Spark's catalog. With Spark, `path` may also name a
    folder of Parquet files."""

    path: str | None = None
    format: Literal["csv", "parquet"] | None = None
    delimiter: str | None = None
    encoding: str | None = None
    query: str | None = None
    url: str | None = None
    url_env: EnvName | None = Field(
        default=None, description="Environment variable holding the connection URL."
    )
    table: str | None = Field(
        default=None,
        min_length=1,
        description="A table of Spark's catalog, such as sales.customers (engine: spark).",
    )


class Column(_Section):
    """The contract of one column: its type and what its values may be."""

    type: ColumnType
    min: float | None = None
    max: float | None = None
    values: tuple[Scalar, ...] | None = None
    nullable: bool = False
    unique: bool = False
    regex: str | None = None
    missing: tuple[str, ...] = Field(
        default=(), description="Markers that stand for a missing value, such as '?' or ' '."
    )

    @field_validator("values", mode="before")
    @classmethod
    def _values_are_scalars(cls, value: Any) -> Any:
        return value if value is None else _scalars(value)


class Split(_Section):
    """How the holdout is cut: random, stratified by the target, or by time."""

    method: Literal["random", "stratified", "time"] = "stratified"
    test: Fraction = 0.2
    seed: int = 7


FindingKind = Literal[
    "class_imbalance",
    "constant",
    "contract_violation",
    "duplicates",
    "group_too_small",
    "high_cardinality",
    "id_like",
    "leakage",
    "missing",
    "near_constant",
    "outliers",
    "representation",
    "train_test_overlap",
]


FINDING_KINDS: tuple[str, ...] = get_args(FindingKind)


class AuditPolicy(_Section):
    """Which audit findings stop a run, and the sizes below which a group cannot be judged."""

    blocking: tuple[FindingKind, ...] = ("leakage",)
    min_group_size: Annotated[int, Field(ge=1)] = 30


class Data(_Section):
    """Where the data comes from and the contract it must keep."""

    source: Source
    id: str | None = None
    timestamp: str | None = None
    exclude: tuple[str, ...] = ()
    contract: dict[str, Column] = Field(default_factory=dict)
    protected: tuple[str, ...] = ()
    split: Split = Split()
    on_violation: Literal["fail", "quarantine"] = "fail"
    audit: AuditPolicy = AuditPolicy()

    @field_validator("source", mode="before")
    @classmethod
    def _path_shorthand(cls, value: Any) -> Any:
        return {"path": value} if isinstance(value, str) else value


# --- KPIs ------------------------------------------------------------------------------


class KPI(_Section):
    """A measured target: a metric, a threshold, and the gate stage that enforces it."""

    name: Name
    metric: Text
    at_least: float | None = None
    at_most: float | None = None
    gate: Gate = "validate"
    by: str | None = None
    costs: dict[str, float] | None = None
    k: Annotated[float, Field(gt=0)] | None = None
    column: str | None = None
    where: dict[str, Scalar | tuple[Scalar, ...]] | None = None
    description: str | None = None

    @field_validator("where", mode="before")
    @classmethod
    def _where_is_scalars(cls, value: Any) -> Any:
        if isinstance(value, dict):
            for item in value.values():
                _scalars(item)
        return value

    @property
    def params(self) -> dict[str, Any]:
        """The metric parameters this KPI sets (by, costs, k, column)."""
        found = {"by": self.by, "costs": self.costs, "k": self.k, "column": self.column}
        return {key: value for key, value in found.items() if value is not None}


# --- model -----------------------------------------------------------------------------


class Budget(_Section):
    """How much search the model may get: seconds and/or trials, whichever ends first."""

    seconds: Annotated[float, Field(gt=0)] | None = 60.0
    trials: Annotated[int, Field(gt=0)] | None = None


class ModelSpec(_Section):
    """Candidate models (built-in names or `module:function`) and the search budget."""

    candidates: tuple[str, ...] = ("logistic_regression", "lightgbm")
    budget: Budget = Budget()
    cv_folds: Annotated[int, Field(ge=2, le=20)] = 5
    seed: int = 7
    primary: str | None = Field(
        default=None,
        description="The KPI the search maximises; default: the first model-metric KPI.",
    )
    threshold: Annotated[float, Field(gt=0, lt=1)] | Literal["auto"] = Field(
        default="auto",
        description="Binary decision threshold; 'auto' maximises expected_value when a KPI "
        "sets costs, else 0.5.",
    )


# --- serve -----------------------------------------------------------------------------


class Serve(_Section):
    """How the champion is served."""

    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 8000
    workers: Annotated[int, Field(ge=1, le=64)] = 1
    token_env: EnvName | None = None
    log_mode: Literal["durable", "fast"] = "fast"
    extra_fields: Literal["refuse", "ignore"] = "refuse"
    unseen_categories: Literal["accept", "refuse"] = "accept"
    max_batch: Annotated[int, Field(ge=1)] = 1000
    max_body_bytes: Annotated[int, Field(ge=1024)] = 1_048_576


# --- monitor ---------------------------------------------------------------------------


class Window(_Section):
    """A monitoring window: a number of predictions, or a span of time in minutes."""

    predictions: Annotated[int, Field(ge=1)] | None = 1000
    minutes: Annotated[float, Field(gt=0)] | None = None
    min_predictions: Annotated[int, Field(ge=1)] = 100


class PromoteIf(_Section):
    """The rule a challenger must meet to become champion."""

    metric: Text = "roc_auc"
    better_by: Annotated[float, Field(ge=0)] = 0.0


class Retrain(_Section):
    """When to retrain, on what data, and when the challenger is promoted."""

    when: tuple[Literal["drift", "kpi_breach", "schedule", "manual"], ...] = ("manual",)
    every_days: Annotated[float, Field(gt=0)] | None = None
    max_rows: Annotated[int, Field(ge=1)] | None = None
    recent_weight: Annotated[float, Field(gt=0)] = 1.0
    promote_if: PromoteIf = PromoteIf()


class Monitor(_Section):
    """How served predictions are watched: windows, drift thresholds, labels and retraining."""

    window: Window = Window()
    drift: dict[str, Annotated[float, Field(gt=0)]] = Field(
        default_factory=lambda: {"psi": 0.2},
        description="Thresholds per drift statistic: psi, js, wasserstein (effect sizes; "
        "absent ones are off), ks, ks_pvalue, unseen_share, missing_change.",
    )
    min_label_coverage: Annotated[float, Field(ge=0, le=1)] = 0.5
    retrain: Retrain = Retrain()


# --- risks, milestones, budget ---------------------------------------------------------


class Risk(_Section):
    """A project risk; its `check` names the KPI whose verdict says if it is live."""

    id: Name
    risk: Text
    likelihood: Literal["low", "medium", "high"] = "medium"
    impact: Literal["low", "medium", "high"] = "medium"
    check: str | None = None
    mitigation: str | None = None
    owner: str | None = None


class Milestone(_Section):
    """A dated goal, met when its stage first passes its gates."""

    name: Text
    stage: Stage
    due: dt.date


class ComputeBudget(_Section):
    """The compute the project may spend, and what a CPU-hour costs."""

    cpu_hours: Annotated[float, Field(gt=0)]
    cost_per_cpu_hour: Annotated[float, Field(ge=0)] = 0.0
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] = "USD"


# --- the whole charter -----------------------------------------------------------------


class EngineSpec(_Section):
    """Where the heavy data work runs: pandas on this machine (the default) or Apache Spark.

    With Spark, the audit's statistics, the contract checks, drift counts and batch
    scoring run on the cluster at `master` (with `conf` as Spark settings); training
    still runs on one machine, on the whole training set or, with `sample_rows`, on a
    seeded sample of that many rows that the lineage records.
    """

    name: Literal["pandas", "spark"] = "pandas"
    master: str = Field(default="local[*]", min_length=1, description="The Spark master URL.")
    conf: dict[str, str] = Field(
        default_factory=dict, description="Spark settings, such as spark.executor.memory."
    )
    sample_rows: Annotated[int, Field(gt=0)] | None = Field(
        default=None, description="Train on a seeded sample of at most this many rows."
    )

    @field_validator("conf", mode="before")
    @classmethod
    def _conf_as_text(cls, value: Any) -> Any:
        # Spark settings are text; YAML reads `spark.sql.shuffle.partitions: 8` as a number.
        if isinstance(value, dict):
            return {key: _setting_text(item) for key, item in value.items()}
        return value


def _setting_text(item: Any) -> Any:
    """A scalar Spark setting as the text Spark reads (true, not True); anything else as is."""
    if isinstance(item, bool):
        return str(item).lower()
    return str(item) if isinstance(item, int | float) else item


class Charter(_Section):
    """A whole charter.yaml."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        allow_inf_nan=False,
        title="charter.yaml",
        json_schema_extra={"description": "An ML project, executable by charter."},
    )

    project: Project
    objective: Objective
    data: Data
    kpis: Annotated[tuple[KPI, ...], Field(min_length=1)]
    model: ModelSpec = ModelSpec()
    serve: Serve = Serve()
    monitor: Monitor = Monitor()
    risks: tuple[Risk, ...] = ()
    milestones: tuple[Milestone, ...] = ()
    budget: ComputeBudget | None = None
    engine: EngineSpec = EngineSpec()

    @field_validator("engine", mode="before")
    @classmethod
    def _engine_shorthand(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value

    def kpi(self, name: str) -> KPI:
        """The KPI called `name` (KeyError when there is none)."""
        for kpi in self.kpis:
            if kpi.name == name:
                return kpi
        raise KeyError(name)

    def kpis_for(self, gate: Gate) -> tuple[KPI, ...]:
        """The KPIs enforced at `gate`."""
        return tuple(kpi for kpi in self.kpis if kpi.gate == gate)
