"""Prediction requests checked against the charter's data contract, without pandas.

    validator = compile_validator(charter, features, kinds=kinds, known_categories=known)
    batch = validator.validate(parse_json(body))          # raises RequestRejected
    batch.records   # one plain dict per record, features only, coerced for the predictor
    batch.inputs    # the same plus the id and timestamp columns, for the prediction log

A record is a JSON object keyed by column name. The model's features are the inputs; a
feature is required unless its contract says `nullable: true` (a nullable feature may be
omitted or null). The id and timestamp columns may be passed (they are checked against
their contract, echoed and logged, never fed to the model); the target and the
`data.exclude` columns may be passed and are dropped. Any other field is refused
(`serve.extra_fields: refuse`, the default) or dropped (`ignore`).

Coercion, the way training typed the data: `int` takes integral numbers (|x| <= 2**53),
`float` any finite number, both within `min`/`max` and `values`; `category` and `string`
take text (numbers too when the contract's `values` are numbers), within `values` and
matching `regex` (searched, as JSON Schema's `pattern` is); `bool` takes true/false, 0/1
or the words true/false/yes/no/t/f/y/n; `datetime` takes ISO-8601 text. A declared
`missing` marker (and, for text, the empty string) stands for null. Text never stands
for a number: "42" for an int is refused. What the predictor gets: numeric features as
int or float, categorical ones as text (bool as "1"/"0", as in training), datetimes as
their ISO text; None where missing.

A category the contract allows but training never saw is "unseen": it is passed through
(`serve.unseen_categories: accept`, the model handles it) or refused (`refuse`); a
category outside the contract's `values` is always refused. Every fault of every record
is reported at once, each as {"loc": [record index, field], "msg": ..., "type": ...}.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

import orjson

from charter.spec.schema import Charter, Column

#: The largest integer a float64 holds exactly; training reads integers as float64.
EXACT_INT = 2**53
#: At most this many faults are listed in one answer; the last entry says how many more.
MAX_ERRORS = 1000
_TRUE = frozenset({"true", "t", "yes", "y", "1", "1.0"})
_FALSE = frozenset({"false", "f", "no", "n", "0", "0.0"})

Role = Literal["feature", "id", "timestamp", "target", "excluded"]
FeatureKind = Literal["numeric", "categorical", "datetime"]
_CONTRACT_KINDS: Mapping[str, FeatureKind] = {
    "int": "numeric",
    "float": "numeric",
    "bool": "categorical",
    "category": "categorical",
    "string": "categorical",
    "datetime": "datetime",
}


# --- faults ---------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldError:
    """One fault: where (record index and field), a sentence, and a machine-readable type."""

    loc: tuple[int | str, ...]
    msg: str
    type: str

    def as_dict(self) -> dict[str, Any]:
        return {"loc": list(self.loc), "msg": self.msg, "type": self.type}


class RequestRejected(Exception):
    """A request that cannot be answered: 422 (its content) or 413 (its size), with the faults."""

    def __init__(self, errors: Sequence[FieldError], status: int = 422) -> None:
        self.errors = tuple(errors)
        self.status = status
        super().__init__(self.errors[0].msg if self.errors else "invalid request")

    def detail(self) -> list[dict[str, Any]]:
        """The faults as the JSON `detail` list of a 4xx answer."""
        return [error.as_dict() for error in self.errors]


def _reject(
    msg: str, kind: str, loc: tuple[int | str, ...] = ("body",), status: int = 422
) -> RequestRejected:
    return RequestRejected([FieldError(loc, msg, kind)], status)


def _shown(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def parse_json(body: bytes) -> Any:
    """The JSON value of a request body; RequestRejected (422) when it is not JSON.

    NaN, Infinity and numbers too large for a float64 are not JSON and are refused here.
    """
    if not body.strip():
        raise _reject("The request body must be JSON. Got an empty body instead.", "json_invalid")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise _reject(
            f"The request body must be valid JSON. Got a parse error instead: {exc}.",
            "json_invalid",
        ) from None


# --- one field ------------------------------------------------------------------------


Coerce = Callable[[Any], Any]


class _Fault(Exception):
    """A value that does not fit its field (internal: becomes a FieldError)."""

    def __init__(self, msg: str, kind: str) -> None:
        super().__init__(msg)
        self.msg = msg
        self.kind = kind


_MISSING = object()


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _number_words(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f" from {low:g} to {high:g}"
    if low is not None:
        return f" of at least {low:g}"
    if high is not None:
        return f" of at most {high:g}"
    return ""


@dataclass(frozen=True)
class FieldSpec:
    """What one input field may hold, from the contract (and the model, for features)."""

    name: str
    role: Role
    type: str | None
    kind: FeatureKind | None
    required: bool
    nullable: bool
    min: float | None = None
    max: float | None = None
    values: tuple[Any, ...] | None = None
    regex: str | None = None
    missing: tuple[str, ...] = ()
    known: frozenset[str] | None = None

    def describe(self) -> dict[str, Any]:
        """The field as plain JSON data, for GET /schema."""
        described: dict[str, Any] = {
            "role": self.role,
            "type": self.type or ("float" if self.kind == "numeric" else "string"),
            "required": self.required,
            "nullable": self.nullable,
        }
        for key in ("min", "max", "regex"):
            if getattr(self, key) is not None:
                described[key] = getattr(self, key)
        if self.values is not None:
            described["values"] = list(self.values)
        if self.missing:
            described["missing"] = list(self.missing)
        return described

    def json_schema(self) -> dict[str, Any]:
        """The JSON Schema of the field's values (what `coerce` accepts)."""
        kind = self.type or ("float" if self.kind == "numeric" else "string")
        options: list[dict[str, Any]] = []
        if kind in ("int", "float"):
            base: dict[str, Any] = {"type": "integer" if kind == "int" else "number"}
            if self.min is not None:
                base["minimum"] = self.min
            if self.max is not None:
                base["maximum"] = self.max
            if self.values is not None:
                base = {"enum": [v for v in self.values if _is_plain_number(v)]}
            elif kind == "int":
                base.setdefault("minimum", -EXACT_INT)
                base.setdefault("maximum", EXACT_INT)
            options.append(base)
        elif kind == "bool":
            options.append({"type": "boolean"})
            options.append({"enum": [0, 1, *sorted(_TRUE | _FALSE)]})
        elif kind == "datetime":
            options.append({"type": "string", "format": "date-time"})
            options.append({"type": "string", "format": "date"})
        else:
            if self.values is not None:
                options.append({"enum": list(self.values)})
            else:
                text: dict[str, Any] = {"type": "string", "minLength": 1}
                if self.regex is not None:
                    text["pattern"] = self.regex
                options.append(text)
        if self.nullable:
            options.append({"type": "null"})
            if self.missing:
                options.append({"enum": list(self.missing)})
        schema: dict[str, Any] = options[0] if len(options) == 1 else {"anyOf": options}
        if self.role != "feature":
            schema = {**schema, "description": f"The {self.role} column; not fed to the model."}
        return schema


def _is_plain_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _compile_field(spec: FieldSpec, unseen: str) -> Coerce:
    """A function from a JSON value to the coerced value, raising _Fault when it does not fit."""
    markers = frozenset(spec.missing)
    kind = spec.type or ("float" if spec.kind == "numeric" else "string")
    if spec.kind == "datetime" and spec.type is None:
        kind = "datetime"
    nullable = spec.nullable

    def null() -> None:
        if not nullable:
            raise _Fault("must not be null or missing", "null_not_allowed")
        return None

    if kind in ("int", "float"):
        return _numeric(spec, kind == "int", markers, null)
    if kind == "bool":
        categorical = spec.kind != "numeric"

        def coerce_bool(value: Any) -> Any:
            if value is None or (isinstance(value, str) and value in markers):
                return null()
            flag: bool | None = None
            if isinstance(value, bool):
                flag = value
            elif _is_plain_number(value) and value in (0, 1):
                flag = bool(value)
            elif isinstance(value, str):
                word = value.strip().lower()
                flag = True if word in _TRUE else False if word in _FALSE else None
            if flag is None:
                raise _Fault(f"must be true or false. Got {_shown(value)} instead", "bool_type")
            if categorical:
                return "1" if flag else "0"
            return 1.0 if flag else 0.0

        return coerce_bool
    if kind == "datetime":

        def coerce_datetime(value: Any) -> Any:
            if value is None or (isinstance(value, str) and (value in markers or not value)):
                return null()
            if isinstance(value, str) and _is_datetime(value.strip()):
                return value.strip()
            raise _Fault(
                f"must be an ISO-8601 date or time as text. Got {_shown(value)} instead",
                "datetime_type",
            )

        return coerce_datetime
    return _textual(spec, markers, null, unseen)


def _numeric(
    spec: FieldSpec, integral: bool, markers: frozenset[str], null: Callable[[], None]
) -> Coerce:
    low, high = spec.min, spec.max
    allowed = None
    if spec.values is not None:
        allowed = frozenset(float(v) for v in spec.values if _is_plain_number(v))
    what = "an integer" if integral else "a number"
    words = _number_words(low, high)
    categorical = spec.kind == "categorical"

    def coerce(value: Any) -> Any:
        if value is None or (isinstance(value, str) and value in markers):
            return null()
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _Fault(
                f"must be {what}{words}. Got {_shown(value)} instead",
                f"{'int' if integral else 'float'}_type",
            )
        if isinstance(value, float) and not math.isfinite(value):
            raise _Fault(f"must be a finite number. Got {value!r} instead", "finite_number")
        if integral:
            if isinstance(value, float) and not value.is_integer():
                raise _Fault(f"must be {what}{words}. Got {_shown(value)} instead", "int_type")
            if abs(value) > EXACT_INT:
                raise _Fault(
                    f"must be an integer from -2**53 to 2**53. Got {_shown(value)} instead",
                    "int_range",
                )
            value = int(value)
        else:
            value = float(value)
        if (low is not None and value < low) or (high is not None and value > high):
            raise _Fault(f"must be {what}{words}. Got {_shown(value)} instead", "out_of_range")
        if allowed is not None and float(value) not in allowed:
            shown = ", ".join(_as_text(v) for v in spec.values or ())
            raise _Fault(f"must be one of {shown}. Got {_shown(value)} instead", "not_allowed")
        return _as_text(value) if categorical else value

    return coerce


def _textual(
    spec: FieldSpec, markers: frozenset[str], null: Callable[[], None], unseen: str
) -> Coerce:
    numbers_ok = spec.values is not None and any(_is_plain_number(v) for v in spec.values)
    allowed = None if spec.values is None else frozenset(_as_text(v) for v in spec.values)
    shown_values = ", ".join(repr(_as_text(v)) for v in spec.values or ())
    pattern = re.compile(spec.regex) if spec.regex is not None else None
    known = spec.known if unseen == "refuse" and spec.role == "feature" else None

    def coerce(value: Any) -> Any:
        if value is None or (isinstance(value, str) and (not value or value in markers)):
            return null()
        if isinstance(value, str):
            text = value
        elif numbers_ok and _is_plain_number(value) and math.isfinite(value):
            text = _as_text(value)
        else:
            raise _Fault(f"must be text. Got {_shown(value)} instead", "string_type")
        if allowed is not None and text not in allowed:
            raise _Fault(
                f"must be one of {shown_values}. Got {_shown(value)} instead", "not_allowed"
            )
        if pattern is not None and pattern.search(text) is None:
            raise _Fault(
                f"must match {spec.regex!r}. Got {_shown(value)} instead", "pattern_mismatch"
            )
        if known is not None and text not in known:
            raise _Fault(
                f"must be a category the model saw in training. Got {_shown(value)} instead "
                "(serve.unseen_categories is 'refuse')",
                "unseen_category",
            )
        return text

    return coerce


def _is_datetime(text: str) -> bool:
    candidates = (text, text.upper(), text.replace(" ", "T"))
    for candidate in candidates:
        try:
            datetime.fromisoformat(candidate)
            return True
        except ValueError:
            pass
        try:
            date.fromisoformat(candidate)
            return True
        except ValueError:
            pass
    return False


# --- records --------------------------------------------------------------------------


@dataclass(frozen=True)
class Batch:
    """Validated records: what the predictor gets, and what the log keeps.

    `records[i]` holds the features only; `inputs[i]` adds the id and timestamp columns
    when they were given; `ids[i]` is the id (None when not given). `single` says the
    request held one record rather than a list.
    """

    records: list[dict[str, Any]]
    inputs: list[dict[str, Any]]
    ids: list[Any]
    single: bool


@dataclass
class RecordValidator:
    """Checks and coerces prediction requests against one model's input contract.

    Build it once per served model with `compile_validator`; `validate` is cheap enough
    for the request path (no pandas, one precompiled function per field).
    """

    fields: tuple[FieldSpec, ...]
    extra_fields: Literal["refuse", "ignore"]
    unseen_categories: Literal["accept", "refuse"]
    max_batch: int
    id_column: str | None = None
    _features: list[tuple[str, Coerce, bool]] = field(init=False, repr=False)
    _passed: list[tuple[str, Coerce]] = field(init=False, repr=False)
    _dropped: frozenset[str] = field(init=False, repr=False)
    _known_names: frozenset[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._features = [
            (spec.name, _compile_field(spec, self.unseen_categories), spec.required)
            for spec in self.fields
            if spec.role == "feature"
        ]
        self._passed = [
            (spec.name, _compile_field(spec, self.unseen_categories))
            for spec in self.fields
            if spec.role in ("id", "timestamp")
        ]
        self._dropped = frozenset(s.name for s in self.fields if s.role in ("target", "excluded"))
        self._known_names = frozenset(spec.name for spec in self.fields)

    @property
    def features(self) -> list[str]:
        """The model's input columns, in order: the column order of CSV rows and arrays."""
        return [name for name, _, _ in self._features]

    # -- shapes ---------------------------------------------------------------------------

    def validate(self, payload: Any) -> Batch:
        """One record (an object) or a non-empty list of them, checked; RequestRejected else."""
        if isinstance(payload, dict):
            return self.validate_records([payload], single=True)
        if isinstance(payload, list):
            return self.validate_records(payload)
        raise _reject(
            f"The request body must be a JSON object (one record) or an array of objects. "
            f"Got {_shown(payload)} instead.",
            "body_type",
        )

    def validate_records(self, items: Sequence[Any], *, single: bool = False) -> Batch:
        """A list of records (objects, or arrays in feature order), checked all at once."""
        if not items:
            raise _reject(
                "The request must hold at least one record. Got an empty list instead.",
                "empty_batch",
            )
        if len(items) > self.max_batch:
            raise _reject(
                f"The request must hold at most {self.max_batch} records (serve.max_batch). "
                f"Got {len(items)} instead.",
                "too_many_records",
                status=413,
            )
        records: list[dict[str, Any]] = []
        inputs: list[dict[str, Any]] = []
        ids: list[Any] = []
        errors: list[FieldError] = []
        for index, item in enumerate(items):
            if isinstance(item, list):
                item = self._from_row(item, index, errors)
                if item is None:
                    continue
            if not isinstance(item, dict):
                errors.append(
                    FieldError(
                        (index,),
                        f"The record {index} must be a JSON object keyed by column name. "
                        f"Got {_shown(item)} instead.",
                        "record_type",
                    )
                )
                continue
            record, passed = self._record(item, index, errors)
            records.append(record)
            inputs.append({**record, **passed} if passed else record)
            ids.append(passed.get(self.id_column) if passed and self.id_column else None)
            if len(errors) > MAX_ERRORS:
                break
        if errors:
            if len(errors) > MAX_ERRORS:
                errors = errors[:MAX_ERRORS]
                errors.append(
                    FieldError(
                        ("body",), "More faults were found and are not listed.", "too_many_errors"
                    )
                )
            raise RequestRejected(errors)
        return Batch(records, inputs, ids, single)

    def _record(
        self, item: Mapping[str, Any], index: int, errors: list[FieldError]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        record: dict[str, Any] = {}
        for name, coerce, required in self._features:
            value = item.get(name, _MISSING)
            if value is _MISSING:
                if required:
                    errors.append(
                        FieldError(
                            (index, name),
                            f"The '{name}' of record {index} is required. Got nothing instead.",
                            "missing",
                        )
                    )
                    continue
                value = None
            try:
                record[name] = coerce(value)
            except _Fault as fault:
                errors.append(
                    FieldError(
                        (index, name), f"The '{name}' of record {index} {fault.msg}.", fault.kind
                    )
                )
        passed: dict[str, Any] = {}
        for name, coerce in self._passed:
            value = item.get(name, _MISSING)
            if value is _MISSING or value is None:
                continue
            try:
                passed[name] = coerce(value)
            except _Fault as fault:
                errors.append(
                    FieldError(
                        (index, name), f"The '{name}' of record {index} {fault.msg}.", fault.kind
                    )
                )
        if len(item) > len(record) + len(passed) and self.extra_fields == "refuse":
            for name in item:
                if name not in self._known_names:
                    errors.append(
                        FieldError(
                            (index, name),
                            f"The field '{name}' of record {index} must be one of the model's "
                            f"inputs; unknown fields are refused (serve.extra_fields). "
                            "Got an unknown field instead."
                            + _did_you_mean(name, self._known_names),
                            "extra_forbidden",
                        )
                    )
        return record, passed

    def _from_row(
        self, row: list[Any], index: int, errors: list[FieldError]
    ) -> dict[str, Any] | None:
        names = self.features
        if len(row) != len(names):
            errors.append(
                FieldError(
                    (index,),
                    f"The record {index} given as an array must hold {len(names)} values, one "
                    f"per feature in the order GET /schema lists them. Got {len(row)} instead.",
                    "row_length",
                )
            )
            return None
        return dict(zip(names, row, strict=True))

    # -- CSV ------------------------------------------------------------------------------

    def parse_csv(self, text: str) -> list[dict[str, Any]]:
        """CSV rows (no header; the features in order) as records; empty cells are null.

        Each cell is read as its field's type: numbers for int and float fields (a cell
        that is not a number is left as text, so the check names it), text otherwise.
        """
        names = self.features
        kinds = {spec.name: spec for spec in self.fields}
        readers: list[Callable[[str], Any]] = [_cell_reader(kinds[name]) for name in names]
        records: list[dict[str, Any]] = []
        errors: list[FieldError] = []
        try:
            rows = list(csv.reader(io.StringIO(text)))
        except csv.Error as exc:
            raise _reject(
                f"The request body must be valid CSV. Got an error instead: {exc}.", "csv_invalid"
            ) from None
        rows = [row for row in rows if row and any(cell.strip() for cell in row)]
        if len(rows) > self.max_batch:
            raise _reject(
                f"The request must hold at most {self.max_batch} records (serve.max_batch). "
                f"Got {len(rows)} instead.",
                "too_many_records",
                status=413,
            )
        for index, row in enumerate(rows):
            if len(row) != len(names):
                errors.append(
                    FieldError(
                        (index,),
                        f"The CSV row {index} must hold {len(names)} cells, one per feature in "
                        f"the order GET /schema lists them, without a header. "
                        f"Got {len(row)} instead.",
                        "row_length",
                    )
                )
                continue
            records.append(
                {name: read(cell) for name, read, cell in zip(names, readers, row, strict=True)}
            )
        if errors:
            raise RequestRejected(errors[:MAX_ERRORS])
        return records

    # -- descriptions ---------------------------------------------------------------------

    def record_schema(self) -> dict[str, Any]:
        """The JSON Schema of one record."""
        properties = {spec.name: spec.json_schema() for spec in self.fields}
        schema: dict[str, Any] = {
            "type": "object",
            "properties": properties,
            "required": [spec.name for spec in self.fields if spec.required],
        }
        if self.extra_fields == "refuse":
            schema["additionalProperties"] = False
        return schema

    def describe(self) -> dict[str, Any]:
        """The input contract as plain JSON data (GET /schema)."""
        return {
            "features": self.features,
            "fields": {spec.name: spec.describe() for spec in self.fields},
            "id": self.id_column,
            "extra_fields": self.extra_fields,
            "unseen_categories": self.unseen_categories,
            "max_batch": self.max_batch,
            "csv_columns": self.features,
            "json_schema": self.record_schema(),
        }


def _cell_reader(spec: FieldSpec) -> Callable[[str], Any]:
    kind = spec.type or ("float" if spec.kind == "numeric" else "string")
    markers = frozenset(spec.missing)

    def read(cell: str) -> Any:
        if cell == "" or cell in markers:
            return None
        if kind in ("int", "float"):
            try:
                number = float(cell)
            except ValueError:
                return cell
            if kind == "int" and number.is_integer() and abs(number) <= EXACT_INT:
                return int(number)
            return number
        return cell

    return read


def _did_you_mean(name: str, names: Iterable[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, sorted(names), n=1)
    return f" Did you mean '{close[0]}'?" if close else ""


def compile_validator(
    charter: Charter,
    features: Sequence[str] | None = None,
    *,
    kinds: Mapping[str, str] | None = None,
    known_categories: Mapping[str, Collection[str]] | None = None,
) -> RecordValidator:
    """The validator of prediction requests for a model with `features` under `charter`.

    `features` default to the contract's columns less the target, id, timestamp and
    excluded ones; `kinds` are the model's feature kinds (numeric, categorical,
    datetime) where they differ from the contract's; `known_categories` the categories
    each categorical feature took in training (complete sets only), for
    `serve.unseen_categories: refuse`.
    """
    data = charter.data
    contract = data.contract
    roles: dict[str, Role] = {charter.objective.target: "target"}
    roles.update(dict.fromkeys(data.exclude, "excluded"))
    if data.timestamp:
        roles[data.timestamp] = "timestamp"
    if data.id:
        roles[data.id] = "id"
    if features is None:
        features = [name for name in contract if name not in roles]
    known = known_categories or {}
    specs: list[FieldSpec] = []
    for name in features:
        column = contract.get(name)
        declared = column.type if column is not None else None
        kind = _kind(name, declared, kinds)
        known_set = frozenset(str(v) for v in known[name]) if name in known else None
        specs.append(_spec(name, "feature", column, kind, known_set))
    for name, role in roles.items():
        if name in features:
            continue
        specs.append(_spec(name, role, contract.get(name), None, None))
    return RecordValidator(
        fields=tuple(specs),
        extra_fields=charter.serve.extra_fields,
        unseen_categories=charter.serve.unseen_categories,
        max_batch=charter.serve.max_batch,
        id_column=data.id if data.id and data.id not in features else None,
    )


def _kind(name: str, declared: str | None, kinds: Mapping[str, str] | None) -> FeatureKind:
    given = (kinds or {}).get(name)
    if given in ("numeric", "categorical", "datetime"):
        return given  # type: ignore[return-value]
    if declared is not None:
        return _CONTRACT_KINDS[declared]
    return "categorical"


def _spec(
    name: str,
    role: Role,
    column: Column | None,
    kind: FeatureKind | None,
    known: frozenset[str] | None,
) -> FieldSpec:
    if column is None:
        # Outside the contract: a feature takes what its kind reads, missing allowed (the
        # model imputes); other roles take anything plain.
        return FieldSpec(
            name=name,
            role=role,
            type=None,
            kind=kind or "categorical",
            required=False,
            nullable=True,
            known=known,
        )
    optional = role != "feature"
    return FieldSpec(
        name=name,
        role=role,
        type=column.type,
        kind=kind,
        required=not optional and not column.nullable,
        nullable=column.nullable or optional,
        min=column.min,
        max=column.max,
        values=column.values,
        regex=column.regex,
        missing=column.missing,
        known=known,
    )


# --- labels ---------------------------------------------------------------------------


def check_label(label: Any, task: str, classes: Sequence[Any], loc: tuple[int | str, ...]) -> Any:
    """The label in the model's own form (a class, or a float); RequestRejected (422) else."""
    if task == "regression":
        if _is_plain_number(label) and math.isfinite(label):
            return float(label)
        raise _reject(
            f"The 'label' of feedback {loc[0]} must be a finite number. "
            f"Got {_shown(label)} instead.",
            "label_type",
            loc,
        )
    if isinstance(label, str | int | float | bool) and label is not None:
        wanted = _as_text(label)
        for known in classes:
            if _as_text(known) == wanted:
                return known
    shown = ", ".join(repr(c) for c in classes)
    raise _reject(
        f"The 'label' of feedback {loc[0]} must be one of the target's classes ({shown}). "
        f"Got {_shown(label)} instead.",
        "label_not_allowed",
        loc,
    )


__all__ = [
    "Batch",
    "FieldError",
    "FieldSpec",
    "RecordValidator",
    "RequestRejected",
    "check_label",
    "compile_validator",
    "parse_json",
]
