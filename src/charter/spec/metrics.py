"""The KPI metric registry: every metric a charter's `kpis:` may name, with its metadata.

The command line imports this module on every start, so it imports the standard library
only; the numeric kernels live in `charter.spec._metric_kernels` and load on the first
`Metric.compute`. Each metric declares the tasks it applies to, whether higher or lower
is better, the parameters a KPI must or may give it (`k`, `costs`, `by`, `column`), and
the `MetricInputs` fields it reads, so `charter check` can judge a charter without data.

Families:

- model: accuracy, balanced_accuracy, precision, recall, f1, roc_auc, pr_auc, log_loss,
  brier, precision_at_k, recall_at_k (classification); rmse, mae, r2, mape (regression).
- business: expected_value, the mean value per prediction under a `costs` table.
- fairness: demographic_parity_difference / _ratio, equalized_odds_difference, and
  `worst_group_<m>` for every model metric `m` (the worst value of `m` over the groups).
- operational: latency_p50_ms, latency_p99_ms, error_rate, throughput.
- data: missing_rate, max_psi.

Conventions shared with scikit-learn: a ratio whose denominator is zero (precision with no
predicted positive, recall with no actual positive, F1 of both) counts 0; r2 of a constant
target is 1.0 for a perfect prediction and 0.0 otherwise; mape is a fraction, not a percent.
Every other degenerate input raises `MetricError` (a `ValueError`), never a silent NaN.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType
from typing import Any, Literal, TypeAlias

Task = Literal["binary_classification", "multiclass_classification", "regression"]
Direction = Literal["higher", "lower"]

#: Every task a charter's objective may declare, in a stable order.
TASKS: tuple[Task, ...] = ("binary_classification", "multiclass_classification", "regression")

#: A numpy array, a pandas Series or any sequence; converted with `numpy.asarray`.
ArrayLike: TypeAlias = Any

#: The keys a classification `costs` table may hold (value per outcome; positive is good).
CLASSIFICATION_COSTS = frozenset({"tp", "fp", "tn", "fn"})
#: The keys a regression `costs` table may hold (value per unit of over-/under-prediction).
REGRESSION_COSTS = frozenset({"over", "under"})
#: The prefix of the per-group metrics registered for every model metric.
WORST_GROUP_PREFIX = "worst_group_"
#: What replaces an empty bin's proportion in the PSI, so empty bins stay finite.
PSI_EPSILON = 1e-4

_CLASSIFICATION: frozenset[str] = frozenset({"binary_classification", "multiclass_classification"})
_BINARY: frozenset[str] = frozenset({"binary_classification"})
_REGRESSION: frozenset[str] = frozenset({"regression"})
_ALL_TASKS: frozenset[str] = frozenset(TASKS)


class MetricError(ValueError):
    """A metric cannot be computed from what it was given: a parameter, an input, the data.

    The message names the metric and the field at fault, in charter's one error shape.
    """


class UnknownMetricError(KeyError):
    """A metric name that is not registered; the message suggests the closest names."""

    def __str__(self) -> str:
        # KeyError would quote the message; this one is read by people.
        return str(self.args[0]) if self.args else ""


class MetricKind(str, Enum):
    """What a metric measures, which decides where its evidence comes from."""

    MODEL = "model"
    BUSINESS = "business"
    FAIRNESS = "fairness"
    OPERATIONAL = "operational"
    DATA = "data"


@dataclass(frozen=True)
class MetricInputs:
    """What a metric may read; every field is optional and each metric names those it needs.

    Classification: `y_true` and `y_pred` are labels. For a binary task `y_score` is the
    probability of the positive class, shape (n,), and `positive` the positive label (when
    None: `classes[1]` if `classes` has two entries, else 1 for 0/1 or boolean labels). For a
    multiclass task `y_score` has shape (n, n_classes) in `classes` order (when `classes` is
    None: the sorted labels seen). Regression: `y_true` and `y_pred` are numbers.

    `task` is the charter objective's task; when None it is inferred from the inputs.
    `groups` maps a sensitive or slice column to its per-row values, for the fairness `by`.
    `latencies_ms`, `errors` (true for a failed request) and `duration_s` describe served
    requests. `columns` maps a column to its raw values, for `missing_rate`;
    `reference_counts` and `current_counts` map a feature to its per-bin counts, for `max_psi`.
    """

    y_true: ArrayLike | None = None
    y_pred: ArrayLike | None = None
    y_score: ArrayLike | None = None
    classes: ArrayLike | None = None
    positive: Any = None
    groups: Mapping[str, ArrayLike] | None = None
    latencies_ms: ArrayLike | None = None
    errors: ArrayLike | None = None
    duration_s: float | None = None
    columns: Mapping[str, ArrayLike] | None = None
    reference_counts: Mapping[str, ArrayLike] | None = None
    current_counts: Mapping[str, ArrayLike] | None = None
    task: Task | None = None


_INPUT_FIELDS: frozenset[str] = frozenset(f.name for f in dataclasses.fields(MetricInputs))
# Fields that describe the data rather than carry it: never required by a metric.
_CONTEXT_FIELDS = frozenset({"classes", "positive", "task"})


@dataclass(frozen=True)
class Metric:
    """One registered metric: its metadata, and `compute` to evaluate it on `MetricInputs`."""

    name: str
    kind: MetricKind
    tasks: frozenset[str]
    direction: Direction
    required_params: frozenset[str]
    optional_params: frozenset[str]
    inputs: frozenset[str]
    description: str

    def __post_init__(self) -> None:
        problems = []
        if self.direction not in ("higher", "lower"):
            problems.append(f"direction {self.direction!r} is not 'higher' or 'lower'")
        if not self.tasks or not self.tasks <= _ALL_TASKS:
            problems.append(f"tasks {sorted(self.tasks)} must be a non-empty subset of {TASKS}")
        if not self.inputs or not self.inputs <= _INPUT_FIELDS:
            problems.append(f"inputs {sorted(self.inputs)} must be MetricInputs fields")
        if self.required_params & self.optional_params:
            problems.append("a parameter cannot be both required and optional")
        if not self.description.strip() or "\n" in self.description:
            problems.append("the description must be one non-empty line")
        if problems:
            raise ValueError(f"Metric {self.name!r} is inconsistent: " + "; ".join(problems))

    @property
    def params(self) -> frozenset[str]:
        """Every parameter this metric accepts, required or optional."""
        return self.required_params | self.optional_params

    def better(self, a: float, b: float) -> bool:
        """Whether the value `a` is strictly better than `b` for this metric."""
        return a > b if self.direction == "higher" else a < b

    def validate_params(self, params: Mapping[str, object]) -> None:
        """Check a KPI's parameters without data; raise `MetricError` naming the fault.

        A parameter whose value is None counts as not given.
        """
        given = {key: value for key, value in params.items() if value is not None}
        for key in sorted(given):
            if key not in self.params:
                accepted = ", ".join(repr(p) for p in sorted(self.params)) or "none"
                hint = difflib.get_close_matches(key, sorted(self.params), n=1)
                maybe = f" Did you mean {hint[0]!r}?" if hint else ""
                raise MetricError(
                    f"The metric {self.name!r} takes no parameter {key!r} "
                    f"(it takes: {accepted}).{maybe}"
                )
        for key in sorted(self.required_params):
            if key not in given:
                raise MetricError(
                    f"The {key!r} of metric {self.name!r} must be given: {_PARAM_HELP[key]}. "
                    "Got nothing instead."
                )
        for key, value in given.items():
            _PARSERS[key](self.name, value)

    def compute(self, inputs: MetricInputs, **params: object) -> float:
        """Evaluate the metric on `inputs` with the KPI's parameters; a finite float.

        Raises `MetricError` (a `ValueError`) for a missing or invalid parameter, a missing
        input, a task the metric does not apply to, or degenerate data.
        """
        self.validate_params(params)
        if inputs.task is not None and inputs.task not in self.tasks:
            raise MetricError(
                f"The 'task' of metric {self.name!r} must be one of "
                f"{', '.join(sorted(self.tasks))}. Got {inputs.task!r} instead."
            )
        for field in sorted(self.inputs - _CONTEXT_FIELDS):
            if getattr(inputs, field) is None:
                raise MetricError(
                    f"The {field!r} of the inputs to metric {self.name!r} must be given "
                    f"({', '.join(sorted(self.inputs))} are read). Got None instead."
                )
        # Deferred: numpy loads only when a metric is actually computed.
        from charter.spec import _metric_kernels

        given = {key: value for key, value in params.items() if value is not None}
        return _metric_kernels.compute(self, inputs, given)


# --- parameters -------------------------------------------------------------------------

_PARAM_HELP: dict[str, str] = {
    "k": "an integer >= 1 (the top-k scored rows) or a fraction in (0, 1) of the rows",
    "costs": (
        "a mapping with any of tp, fp, tn, fn (classification) or over, under (regression) "
        "to a number"
    ),
    "by": "the name of a column of inputs.groups, or a list of them",
    "column": "the name of one column",
}


def _is_number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def parse_k(metric: str, value: object) -> int | float:
    """The validated `k` of a top-k metric: an int >= 1, or a float fraction in (0, 1)."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool) and int(value) >= 1:
        return int(value)
    if isinstance(value, numbers.Real) and not isinstance(value, (bool, numbers.Integral)):
        fraction = float(value)
        if 0.0 < fraction < 1.0:
            return fraction
    raise MetricError(
        f"The 'k' of metric {metric!r} must be {_PARAM_HELP['k']}. Got {value!r} instead."
    )


def parse_costs(metric: str, value: object) -> dict[str, float]:
    """The validated `costs` table: one family of keys, each mapped to a finite number."""
    if not isinstance(value, Mapping) or not value:
        raise MetricError(
            f"The 'costs' of metric {metric!r} must be {_PARAM_HELP['costs']}. "
            f"Got {value!r} instead."
        )
    keys = set(value)
    if not (keys <= CLASSIFICATION_COSTS or keys <= REGRESSION_COSTS):
        unknown = sorted(str(k) for k in keys - CLASSIFICATION_COSTS - REGRESSION_COSTS)
        what = f"unknown keys {unknown}" if unknown else "keys of both families mixed"
        raise MetricError(
            f"The 'costs' of metric {metric!r} must use either tp, fp, tn, fn or over, under. "
            f"Got {what} in {dict(value)!r} instead."
        )
    costs: dict[str, float] = {}
    for key, amount in value.items():
        if not _is_number(amount) or not math.isfinite(float(amount)):
            raise MetricError(
                f"The 'costs.{key}' of metric {metric!r} must be a finite number. "
                f"Got {amount!r} instead."
            )
        costs[str(key)] = float(amount)
    return costs


def parse_by(metric: str, value: object) -> tuple[str, ...]:
    """The validated `by`: one or more distinct column names of `inputs.groups`."""
    names: tuple[object, ...]
    if isinstance(value, str):
        names = (value,)
    elif isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        names = tuple(value)
    else:
        names = ()
    if (
        not names
        or not all(isinstance(n, str) and n for n in names)
        or len(set(names)) != len(names)
    ):
        raise MetricError(
            f"The 'by' of metric {metric!r} must be {_PARAM_HELP['by']}. Got {value!r} instead."
        )
    return tuple(str(n) for n in names)


def parse_column(metric: str, value: object) -> str:
    """The validated `column`: a non-empty name."""
    if not isinstance(value, str) or not value:
        raise MetricError(
            f"The 'column' of metric {metric!r} must be {_PARAM_HELP['column']}. "
            f"Got {value!r} instead."
        )
    return value


_PARSERS = {"k": parse_k, "costs": parse_costs, "by": parse_by, "column": parse_column}


# --- the registry -----------------------------------------------------------------------

_LABELS = frozenset({"y_true", "y_pred"})
_SCORES = frozenset({"y_true", "y_score"})
_NONE: frozenset[str] = frozenset()


def _metric(
    name: str,
    kind: MetricKind,
    tasks: frozenset[str],
    direction: Direction,
    inputs: frozenset[str],
    description: str,
    required: frozenset[str] = _NONE,
    optional: frozenset[str] = _NONE,
) -> Metric:
    return Metric(name, kind, tasks, direction, required, optional, inputs, description)


_M = MetricKind.MODEL
_MODEL_METRICS = (
    _metric("accuracy", _M, _CLASSIFICATION, "higher", _LABELS, "Share of correct labels."),
    _metric(
        "balanced_accuracy",
        _M,
        _CLASSIFICATION,
        "higher",
        _LABELS,
        "Mean recall over the classes present in y_true.",
    ),
    _metric(
        "precision",
        _M,
        _CLASSIFICATION,
        "higher",
        _LABELS,
        "Precision of the positive class (binary) or macro-averaged (multiclass).",
    ),
    _metric(
        "recall",
        _M,
        _CLASSIFICATION,
        "higher",
        _LABELS,
        "Recall of the positive class (binary) or macro-averaged (multiclass).",
    ),
    _metric(
        "f1",
        _M,
        _CLASSIFICATION,
        "higher",
        _LABELS,
        "F1 of the positive class (binary) or macro-averaged (multiclass).",
    ),
    _metric(
        "roc_auc",
        _M,
        _CLASSIFICATION,
        "higher",
        _SCORES,
        "Area under the ROC curve (multiclass: one-vs-rest, macro-averaged).",
    ),
    _metric(
        "pr_auc",
        _M,
        _BINARY,
        "higher",
        _SCORES,
        "Average precision: area under the precision-recall curve, step-wise.",
    ),
    _metric(
        "log_loss",
        _M,
        _CLASSIFICATION,
        "lower",
        _SCORES,
        "Mean negative log-likelihood of the true class, probabilities clipped to [eps, 1-eps].",
    ),
    _metric(
        "brier",
        _M,
        _CLASSIFICATION,
        "lower",
        _SCORES,
        "Mean squared error of the probabilities against the one-hot truth (scikit-learn's).",
    ),
    _metric(
        "precision_at_k",
        _M,
        _BINARY,
        "higher",
        _SCORES,
        "Share of positives among the top-k scored rows (ties shared evenly).",
        required=frozenset({"k"}),
    ),
    _metric(
        "recall_at_k",
        _M,
        _BINARY,
        "higher",
        _SCORES,
        "Share of all positives found in the top-k scored rows (ties shared evenly).",
        required=frozenset({"k"}),
    ),
    _metric("rmse", _M, _REGRESSION, "lower", _LABELS, "Root mean squared error."),
    _metric("mae", _M, _REGRESSION, "lower", _LABELS, "Mean absolute error."),
    _metric("r2", _M, _REGRESSION, "higher", _LABELS, "Coefficient of determination."),
    _metric(
        "mape",
        _M,
        _REGRESSION,
        "lower",
        _LABELS,
        "Mean absolute percentage error, as a fraction (|y| floored at machine epsilon).",
    ),
)

_F = MetricKind.FAIRNESS
_BY = frozenset({"by"})
_OTHER_METRICS = (
    _metric(
        "expected_value",
        MetricKind.BUSINESS,
        _ALL_TASKS,
        "higher",
        _LABELS,
        "Mean value per prediction under `costs` (tp/fp/tn/fn, or over/under per unit).",
        required=frozenset({"costs"}),
    ),
    _metric(
        "demographic_parity_difference",
        _F,
        _BINARY,
        "lower",
        frozenset({"y_pred", "groups"}),
        "Largest minus smallest selection rate over the groups of `by`.",
        required=_BY,
    ),
    _metric(
        "demographic_parity_ratio",
        _F,
        _BINARY,
        "higher",
        frozenset({"y_pred", "groups"}),
        "Smallest over largest selection rate over the groups of `by`.",
        required=_BY,
    ),
    _metric(
        "equalized_odds_difference",
        _F,
        _BINARY,
        "lower",
        frozenset({"y_true", "y_pred", "groups"}),
        "Larger of the TPR and FPR gaps (max minus min) over the groups of `by`.",
        required=_BY,
    ),
    _metric(
        "latency_p50_ms",
        MetricKind.OPERATIONAL,
        _ALL_TASKS,
        "lower",
        frozenset({"latencies_ms"}),
        "Median request latency in milliseconds.",
    ),
    _metric(
        "latency_p99_ms",
        MetricKind.OPERATIONAL,
        _ALL_TASKS,
        "lower",
        frozenset({"latencies_ms"}),
        "99th percentile of request latency in milliseconds (linear interpolation).",
    ),
    _metric(
        "error_rate",
        MetricKind.OPERATIONAL,
        _ALL_TASKS,
        "lower",
        frozenset({"errors"}),
        "Share of requests that failed.",
    ),
    _metric(
        "throughput",
        MetricKind.OPERATIONAL,
        _ALL_TASKS,
        "higher",
        frozenset({"latencies_ms", "duration_s"}),
        "Requests per second: the number of requests logged over duration_s.",
    ),
    _metric(
        "missing_rate",
        MetricKind.DATA,
        _ALL_TASKS,
        "lower",
        frozenset({"columns"}),
        "Share of missing values (None, NaN) in `column`, else the largest over the columns.",
        optional=frozenset({"column"}),
    ),
    _metric(
        "max_psi",
        MetricKind.DATA,
        _ALL_TASKS,
        "lower",
        frozenset({"reference_counts", "current_counts"}),
        f"Largest Population Stability Index over the features (empty bins as {PSI_EPSILON:g}).",
        optional=frozenset({"column"}),
    ),
)


def _worst_group(base: Metric) -> Metric:
    worst = "smallest" if base.direction == "higher" else "largest"
    return Metric(
        name=WORST_GROUP_PREFIX + base.name,
        kind=MetricKind.FAIRNESS,
        tasks=base.tasks,
        direction=base.direction,
        required_params=base.required_params | _BY,
        optional_params=base.optional_params,
        inputs=base.inputs | {"groups"},
        description=f"The {worst} {base.name} over the groups of `by` (the worst group).",
    )


def _build() -> Mapping[str, Metric]:
    every = [*_MODEL_METRICS, *(_worst_group(m) for m in _MODEL_METRICS), *_OTHER_METRICS]
    table = {m.name: m for m in sorted(every, key=lambda m: m.name)}
    if len(table) != len(every):
        raise ValueError("two metrics share a name")
    return MappingProxyType(table)


#: Every registered metric by name, sorted; read-only.
METRICS: Mapping[str, Metric] = _build()


def metric_names() -> list[str]:
    """The names of every registered metric, sorted."""
    return sorted(METRICS)


def suggest(name: str) -> list[str]:
    """Registered metric names close to `name`, best first (at most three)."""
    return difflib.get_close_matches(name, metric_names(), n=3, cutoff=0.6)


def get_metric(name: str) -> Metric:
    """The metric registered as `name`; `UnknownMetricError` (a `KeyError`) suggests others."""
    try:
        return METRICS[name]
    except KeyError:
        close = suggest(name)
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise UnknownMetricError(
            f"The 'metric' of a KPI must be a registered metric name. Got {name!r} instead."
            f"{hint} See `metric_names()` for all {len(METRICS)}."
        ) from None


__all__ = [
    "CLASSIFICATION_COSTS",
    "METRICS",
    "PSI_EPSILON",
    "REGRESSION_COSTS",
    "TASKS",
    "WORST_GROUP_PREFIX",
    "ArrayLike",
    "Direction",
    "Metric",
    "MetricError",
    "MetricInputs",
    "MetricKind",
    "Task",
    "UnknownMetricError",
    "get_metric",
    "metric_names",
    "suggest",
]
