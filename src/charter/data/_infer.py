"""Infer a charter (task, data contract, protected attributes, KPIs) from a data file.

This is what `charter init --data FILE --target COL` scaffolds. Every rule here is a
guess a user reviews, so the rules stay few and legible:

- A CSV column is read as strings. Values that mean "missing" are set aside first: blank
  or whitespace-only cells, "?", "null", "n/a", "nan" in any column; in a column whose
  other values are numbers, booleans or dates also words such as "unknown", "NA", "none"
  and punctuation-only cells such as "-". The rest decides the type: int, float, bool
  (true/false), datetime (parsed in full by pandas), else category (few distinct values)
  or string.
- An id-like column has all its values distinct and present: an integer sequence (a
  permutation of a..b, or strictly increasing in file order), or short strings without
  whitespace that carry digits or are too many to be categories. The first becomes
  `data.id`, the others are excluded from modelling.
- The target decides the task: two classes make a binary task whose positive class is
  the rarer one; numbers with many distinct values (or fractions) make a regression;
  anything else is multiclass.
"""

from __future__ import annotations

import difflib
import math
import re
import warnings
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from charter.data._read import read
from charter.errors import DataError

# Markers that mean "missing" in any column; the data rarely uses them as a real category.
CATEGORICAL_MISSING = frozenset({"?", "null", "n/a", "nan", "#n/a"})
# Markers that mean "missing" only where every other value is a number, boolean or date:
# "None" or "NA" can be a genuine category ("no garage", "North America").
TYPED_MISSING = CATEGORICAL_MISSING | frozenset(
    {"unknown", "na", "none", "missing", "nil", "-", "--", "."}
)
CATEGORY_MAX_VALUES = 50
# A column with up to this many values is still a category when they are this rare a share.
CATEGORY_MAX_WITH_SHARE, CATEGORY_SHARE = 200, 0.01
LOW_CARDINALITY_INT = 10
REGRESSION_MIN_VALUES = 20
ID_MAX_LENGTH = 64
# Enough values to see a shared shape; the pattern is then checked against every value.
_SHAPE_SAMPLE = 1_000

_NUMBER = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_INTEGER = r"[+-]?\d+"
# "007" is a code, not the number 7: leading zeros keep a column textual.
_LEADING_ZERO = r"[+-]?0\d.*"
_PUNCTUATION = r"[^0-9A-Za-z\s]{1,3}"
# The date layouts a text column may hold; the contract check parses with the same list.
DATE_FORMATS = (
    "ISO8601",
    "%m/%d/%Y",
    "%d/%m/%Y",
    "%Y/%m/%d",
    "%d.%m.%Y",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%d/%m/%Y %H:%M:%S",
    "%d.%m.%Y %H:%M:%S",
    "%d-%b-%Y",
    "%b %d %Y",
)
_YES_LIKE = frozenset({"yes", "y", "true", "t", "1", "positive", "pos"})

# Names that suggest a protected attribute: whole words, or the starts of longer words.
_PROTECTED_WORDS = frozenset({"sex", "gender", "race", "age", "senior", "native", "religion"})
_PROTECTED_PREFIXES = ("ethnic", "relig", "marital", "nationalit", "disab", "gender")
# Which protected attribute a parity KPI is about when there are several.
_PARITY_PRIORITY = ("sex", "gender", "race", "ethnic", "senior", "age", "disab", "relig")
PARITY_MAX_GROUPS = 20


@dataclass
class _Profile:
    """What one column holds: its type, distinct values with row counts, missing markers."""

    name: str
    kind: str
    rows: int
    missing: int
    counts: pd.Series  # distinct present value (typed) -> rows, sorted by value
    markers: list[str] = field(default_factory=list)
    id_like: bool = False
    regex: str | None = None
    ordered: pd.Series | None = None  # present values in file order, for sequence checks


def infer_charter(
    path: Path,
    target: str,
    *,
    source: str | None = None,
    sample_rows: int | None = 200_000,
) -> dict[str, Any]:
    """The charter inferred from the data file at `path`, as plain Python data.

    `source` is what `data.source` should say (the CLI passes the path relative to the
    charter's folder); it defaults to `path` as given. Only the first `sample_rows` rows
    are read (all when None), so a range seen there may be narrower than the whole file's.
    Raises DataError for unreadable files and for a target that is absent, entirely
    missing or a single class.
    """
    if sample_rows is not None and sample_rows < 1:
        raise ValueError(f"sample_rows must be at least 1 or None. Got {sample_rows} instead.")
    table = read(path, nrows=sample_rows)
    frame = table.frame
    names = [str(name) for name in frame.columns]
    if target not in names:
        raise DataError(_unknown_target(path, target, names))
    profiles: dict[str, _Profile] = {}
    for name in names:
        if table.arrow_types is None:
            profiles[name] = _profile_text(name, frame[name])
        else:
            profiles[name] = _profile_arrow(name, frame[name], table.arrow_types[name])
    goal = profiles[target]
    task, positive = _task(path, goal)
    for profile in profiles.values():
        if profile is not goal:
            _mark_id_like(profile)

    id_columns = [p.name for p in profiles.values() if p.id_like]
    timestamps = [p.name for p in profiles.values() if p.kind == "datetime" and p is not goal]
    protected = [
        p.name
        for p in profiles.values()
        if p is not goal and not p.id_like and p.kind != "datetime" and _is_protected(p.name)
    ]

    objective: dict[str, Any] = {"task": task, "target": target}
    if task == "binary_classification":
        objective["positive"] = positive

    data: dict[str, Any] = {"source": source if source is not None else path.as_posix()}
    if id_columns:
        data["id"] = id_columns[0]
    if timestamps:
        data["timestamp"] = timestamps[0]
    data["exclude"] = id_columns[1:]
    data["contract"] = {p.name: _contract_entry(p) for p in profiles.values()}
    data["protected"] = protected
    if timestamps:
        method = "time"
    elif task == "regression":
        method = "random"
    else:
        method = "stratified"
    data["split"] = {"method": method, "test": 0.2, "seed": 7}

    return {
        "project": {
            "name": _slug(path),
            "problem": _problem(task, target, positive),
            "owner": "you@example.com",
            "stakeholders": [],
        },
        "objective": objective,
        "data": data,
        "kpis": _kpis(task, goal, _parity_group([profiles[name] for name in protected])),
        "model": {
            "candidates": (
                ["linear_regression", "lightgbm"]
                if task == "regression"
                else ["logistic_regression", "lightgbm"]
            ),
            "budget": {"seconds": 60},
            "cv_folds": 5,
        },
    }


def _unknown_target(path: Path, target: str, names: list[str]) -> str:
    by_lower = {name.lower(): name for name in names}
    guesses = [by_lower[target.lower()]] if target.lower() in by_lower else []
    guesses = guesses or difflib.get_close_matches(target, names, n=1, cutoff=0.6)
    hint = f" Did you mean '{guesses[0]}'?" if guesses else ""
    shown = ", ".join(repr(name) for name in names[:12]) + (", ..." if len(names) > 12 else "")
    return f"The target must be a column of '{path}' ({shown}). Got '{target}' instead.{hint}"


# -- profiling ---------------------------------------------------------------------------


def _profile_text(name: str, column: pd.Series) -> _Profile:
    """Type a column of strings, setting aside the values that mark a missing cell."""
    rows = len(column)
    tally = column.value_counts(sort=False)
    keys = pd.Index(tally.index.astype(str), dtype="str")
    hits = tally.to_numpy(dtype=np.int64)
    stripped = keys.str.strip()
    lowered = stripped.str.lower()
    blank = np.asarray(stripped == "", dtype=bool)
    marker = blank | np.asarray(lowered.isin(CATEGORICAL_MISSING), dtype=bool)
    typed_marker = (
        marker
        | np.asarray(lowered.isin(TYPED_MISSING), dtype=bool)
        | np.asarray(stripped.str.fullmatch(_PUNCTUATION), dtype=bool)
    )

    present = ~typed_marker
    if present.any():
        parsed = _parse_typed(stripped[present])
        if parsed is not None:
            kind, values = parsed
            counts = pd.Series(hits[present]).groupby(values).sum().sort_index()
            ordered = None
            if kind == "int" and int(counts.max()) == 1 and not typed_marker.any():
                ordered = column.str.strip()
            return _Profile(
                name=name,
                kind=kind,
                rows=rows,
                missing=int(hits[typed_marker].sum()),
                counts=counts,
                markers=sorted(str(key) for key in keys[typed_marker]),
                ordered=ordered,
            )

    present = ~marker
    values = keys[present].astype(object)
    counts = pd.Series(hits[present], index=values, dtype=np.int64).sort_index()
    missing = int(hits[marker].sum())
    return _Profile(
        name=name,
        kind=_text_kind(len(counts), rows - missing),
        rows=rows,
        missing=missing,
        counts=counts,
        markers=sorted(str(key) for key in keys[marker]),
    )


def _text_kind(distinct: int, present_rows: int) -> str:
    if distinct == 0:
        return "string"
    if distinct <= CATEGORY_MAX_VALUES:
        return "category"
    if distinct <= CATEGORY_MAX_WITH_SHARE and distinct <= CATEGORY_SHARE * present_rows:
        return "category"
    return "string"


def _parse_typed(values: pd.Index) -> tuple[str, Any] | None:
    """(kind, typed values) when every value is a number, a boolean or a date; else None."""
    if bool(values.str.fullmatch(_NUMBER).all()) and not bool(
        values.str.fullmatch(_LEADING_ZERO).any()
    ):
        raw = values.to_numpy(dtype=object)
        if bool(values.str.fullmatch(_INTEGER).all()):
            numbers = pd.to_numeric(raw)
            if numbers.dtype.kind in "iu":
                return "int", numbers
            return "int", np.array([int(value) for value in raw], dtype=object)
        floats = pd.to_numeric(raw).astype(np.float64)
        if np.isfinite(floats).all():
            return "float", floats
        return None
    lowered = values.str.lower()
    if bool(lowered.isin(["true", "false"]).all()):
        return "bool", np.asarray(lowered == "true", dtype=bool)
    if _is_datetime(values):
        return "datetime", values.to_numpy(dtype=object)
    return None


def _is_datetime(values: pd.Index) -> bool:
    # Dates carry digits and separators; this rules out most text cheaply before parsing.
    if not bool(values.str.contains(r"\d").all()) or not bool(
        values.str.contains(r"[-/:.\s]").all()
    ):
        return False
    if int(values.str.len().min()) < 6:
        return False
    head = values[:_SHAPE_SAMPLE]
    for date_format in DATE_FORMATS:
        if _parses(head, date_format) and _parses(values, date_format):
            return True
    return False


def _parses(values: pd.Index, date_format: str) -> bool:
    with warnings.catch_warnings():
        # Mixed offsets and odd formats warn; a column that warns is simply not a date.
        warnings.simplefilter("ignore")
        try:
            parsed = pd.to_datetime(
                values.to_numpy(dtype=object), format=date_format, errors="coerce", utc=True
            )
        except (ValueError, TypeError, OverflowError):
            return False
    return bool(pd.notna(parsed).all())


def _profile_arrow(name: str, column: pd.Series, arrow_type: Any) -> _Profile:
    """Profile a Parquet column, typed by the file: no markers, nulls are the missing values."""
    import pyarrow as pa

    if pa.types.is_dictionary(arrow_type):
        column = column.astype(object)
        arrow_type = arrow_type.value_type
    rows = len(column)
    present = column.dropna()
    missing = rows - len(present)

    def profile(kind: str, counts: pd.Series, ordered: pd.Series | None = None) -> _Profile:
        return _Profile(name, kind, rows, missing, counts.sort_index(), ordered=ordered)

    if pa.types.is_boolean(arrow_type):
        return profile("bool", present.astype(bool).value_counts())
    if pa.types.is_integer(arrow_type):
        values = present.astype(object).map(int)
        counts = values.value_counts()
        distinct = len(counts) == len(values)
        return profile("int", counts, values if distinct else None)
    if pa.types.is_floating(arrow_type) or pa.types.is_decimal(arrow_type):
        return profile("float", present.astype(np.float64).value_counts())
    if pa.types.is_timestamp(arrow_type) or pa.types.is_date(arrow_type):
        return profile("datetime", present.value_counts())
    if _is_arrow_text(arrow_type):
        counts = present.astype(str).value_counts()
        counts.index = counts.index.astype(object)
        kind = _text_kind(len(counts), len(present))
        return _Profile(name, kind, rows, missing, counts.sort_index())
    # Binary, nested and time-of-day columns: kept, described only by their nulls.
    return _Profile(name, "string", rows, missing, pd.Series([], dtype=np.int64))


def _is_arrow_text(arrow_type: Any) -> bool:
    import pyarrow as pa

    is_view = getattr(pa.types, "is_string_view", None)  # pyarrow >= 16
    return bool(
        pa.types.is_string(arrow_type)
        or pa.types.is_large_string(arrow_type)
        or (is_view is not None and is_view(arrow_type))
    )


def _mark_id_like(profile: _Profile) -> None:
    """Mark a column whose every value is present and distinct, and looks like a key."""
    counts = profile.counts
    if profile.missing or profile.rows < 3 or len(counts) != profile.rows:
        return
    if profile.kind == "int":
        low, high = int(counts.index.min()), int(counts.index.max())
        ordered = profile.ordered
        increasing = ordered is not None and bool(
            pd.Series(pd.to_numeric(ordered.to_numpy(dtype=object))).is_monotonic_increasing
        )
        profile.id_like = high - low + 1 == profile.rows or increasing
        return
    if profile.kind not in ("category", "string"):
        return
    values = pd.Index(counts.index.astype(str), dtype="str")
    if bool(values.str.contains(r"\s").any()) or int(values.str.len().max()) > ID_MAX_LENGTH:
        return
    if len(values) > CATEGORY_MAX_VALUES or bool(values.str.contains(r"[0-9]").all()):
        profile.id_like = True
        profile.kind = "string"
        profile.regex = _infer_regex([str(value) for value in counts.index])


def _infer_regex(values: list[str]) -> str | None:
    """A pattern such as ^\\d{4}-[A-Z]{5}$ when every value has one shape, else None."""
    for exact in (True, False):
        shapes = {_shape(value, exact=exact) for value in values[:_SHAPE_SAMPLE]}
        if len(shapes) == 1:
            pattern = "^" + shapes.pop() + "$"
            compiled = re.compile(pattern)
            if all(compiled.fullmatch(value) for value in values):
                return pattern
    return None


_RUN = re.compile(r"[0-9]+|[A-Z]+|[a-z]+|.", re.DOTALL)
_REGEX_SPECIAL = frozenset(".^$*+?{}[]\\|()")


def _shape(value: str, *, exact: bool) -> str:
    parts = []
    for run in _RUN.findall(value):
        first = run[0]
        if "0" <= first <= "9":
            part = r"\d"
        elif "A" <= first <= "Z":
            part = "[A-Z]"
        elif "a" <= first <= "z":
            part = "[a-z]"
        else:
            # Only what the regex language reserves is escaped, so "-" reads as "-".
            parts.append("\\" + run if run in _REGEX_SPECIAL else run)
            continue
        if not exact:
            parts.append(part + "+")
        else:
            parts.append(part if len(run) == 1 else f"{part}{{{len(run)}}}")
    return "".join(parts)


# -- the charter's parts -----------------------------------------------------------------


def _task(path: Path, goal: _Profile) -> tuple[str, Any]:
    counts = goal.counts
    where = f"The target '{goal.name}' of '{path}'"
    if len(counts) == 0:
        raise DataError(f"{where} must hold values. Got only missing values instead.")
    if goal.kind == "datetime":
        raise DataError(f"{where} must hold classes or numbers. Got dates instead.")
    if len(counts) == 1:
        only = _plain(counts.index[0])
        raise DataError(f"{where} must hold at least two classes. Got only {only!r} instead.")
    if len(counts) == 2:
        # The rarer class is the one a business acts on; on a tie, the yes-like one, else
        # the later in sort order (1 before 0).
        classes = [(_plain(value), int(count)) for value, count in counts.items()]
        rank = {
            value: (count, str(value).lower() not in _YES_LIKE, -position)
            for position, (value, count) in enumerate(classes)
        }
        return "binary_classification", min(rank, key=rank.__getitem__)
    if goal.kind in ("int", "float"):
        numbers = np.asarray(counts.index, dtype=np.float64)
        fractional = bool((numbers != np.floor(numbers)).any())
        if fractional or len(counts) > REGRESSION_MIN_VALUES:
            return "regression", None
    return "multiclass_classification", None


def _contract_entry(profile: _Profile) -> dict[str, Any]:
    entry: dict[str, Any] = {"type": profile.kind}
    counts = profile.counts
    if profile.kind in ("int", "float") and len(counts) and not profile.id_like:
        low, high = _plain(counts.index.min()), _plain(counts.index.max())
        if profile.kind == "float":
            low, high = _round_float(float(low), up=False), _round_float(float(high), up=True)
        entry["min"], entry["max"] = low, high
    if profile.kind in ("category", "bool") or (
        profile.kind == "int" and not profile.id_like and 0 < len(counts) <= LOW_CARDINALITY_INT
    ):
        entry["values"] = [_plain(value) for value in counts.index]
    entry["nullable"] = profile.missing > 0
    if profile.id_like:
        entry["unique"] = True
        if profile.regex is not None:
            entry["regex"] = profile.regex
    if profile.markers:
        entry["missing"] = profile.markers
    return entry


def _round_float(value: float, *, up: bool) -> float:
    """A shorter bound that still includes `value`: six significant digits, floored or ceiled."""
    text = repr(value)
    if not math.isfinite(value) or len(text) <= 10:
        return value
    exact = Decimal(text)
    step = Decimal(1).scaleb(exact.adjusted() - 5)
    rounded = float(exact.quantize(step, rounding=ROUND_CEILING if up else ROUND_FLOOR))
    if (up and rounded < value) or (not up and rounded > value):
        return value
    return rounded


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value YAML can write."""
    if isinstance(value, np.generic):
        return value.item()
    return value


def _is_protected(name: str) -> bool:
    return any(
        token in _PROTECTED_WORDS or token.startswith(_PROTECTED_PREFIXES)
        for token in _tokens(name)
    )


def _tokens(name: str) -> list[str]:
    """The words of a column name: SeniorCitizen, native-country, marital_status."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    spaced = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1 \2", spaced)
    return [token for token in re.split(r"[^0-9a-z]+", spaced.lower()) if token]


def _parity_group(protected: list[_Profile]) -> str | None:
    """The protected column a parity KPI compares groups by: few groups, strongest first.

    Parity over a continuous column such as age compares dozens of tiny groups and fails
    on noise alone, so such a column is audited but not made a deploy gate.
    """
    groupable = [p for p in protected if 2 <= len(p.counts) <= PARITY_MAX_GROUPS]

    def strength(profile: _Profile) -> int:
        tokens = _tokens(profile.name)
        for rank, word in enumerate(_PARITY_PRIORITY):
            if any(token.startswith(word) for token in tokens):
                return rank
        return len(_PARITY_PRIORITY)

    return min(groupable, key=strength).name if groupable else None


def _kpis(task: str, goal: _Profile, parity_by: str | None) -> list[dict[str, Any]]:
    kpis: list[dict[str, Any]]
    if task == "binary_classification":
        kpis = [{"name": "auc", "metric": "roc_auc", "at_least": 0.75, "gate": "deploy"}]
    elif task == "multiclass_classification":
        # Halfway between chance (1/k) and perfect: a bar that means the model learned.
        chance = 1 / len(goal.counts)
        bar = round(chance + (1 - chance) / 2, 2)
        kpis = [
            {
                "name": "balanced_accuracy",
                "metric": "balanced_accuracy",
                "at_least": bar,
                "gate": "deploy",
            }
        ]
    else:
        kpis = [{"name": "r2", "metric": "r2", "at_least": 0.5, "gate": "deploy"}]
    if parity_by is not None and task != "regression":
        kpis.append(
            {
                "name": "parity",
                "metric": "demographic_parity_difference",
                "by": parity_by,
                "at_most": 0.1,
                "gate": "deploy",
            }
        )
    kpis.append({"name": "drift", "metric": "max_psi", "at_most": 0.2, "gate": "monitor"})
    return kpis


def _slug(path: Path) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", path.stem.lower()).strip("-")
    return slug or "project"


def _problem(task: str, target: str, positive: Any) -> str:
    if task == "binary_classification":
        goal = f"Predict whether {target} is {positive}"
    elif task == "multiclass_classification":
        goal = f"Predict the {target} of each row"
    else:
        goal = f"Estimate {target} for each row"
    return f"{goal} so that <who> can <act on it> (edit me: one sentence, in business terms)."
