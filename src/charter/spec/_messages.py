"""Turn pydantic's validation errors into charter's one message shape, located in the file."""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from charter.errors import Problem
from charter.spec._yaml import Located, format_path

_NEEDS = {
    "float_parsing": "a number",
    "float_type": "a number",
    "finite_number": "a finite number",
    "int_parsing": "a whole number",
    "int_type": "a whole number",
    "int_from_float": "a whole number",
    "bool_parsing": "true or false",
    "bool_type": "true or false",
    "string_type": "text",
    "list_type": "a list",
    "tuple_type": "a list",
    "dict_type": "a mapping of keys to values",
    "model_type": "a mapping of keys to values",
    "model_attributes_type": "a mapping of keys to values",
    "date_parsing": "a date such as 2027-01-15",
    "date_type": "a date such as 2027-01-15",
    "date_from_datetime_parsing": "a date such as 2027-01-15",
    "date_from_datetime_inexact": "a date such as 2027-01-15",
    "missing": "given",
    "string_too_short": "non-empty text",
}


def did_you_mean(word: str, choices: typing.Iterable[str]) -> str:
    """' Did you mean 'x'?' when a choice is close to `word`, else ''."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" Did you mean '{close[0]}'?" if close else ""


def _quote_all(words: typing.Sequence[Any]) -> str:
    quoted = [f"'{w}'" for w in words]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


def _unwrap(annotation: Any) -> Any:
    """The model class behind Optional[...], tuple[X, ...], dict[str, X] and Annotated[...]."""
    while True:
        origin = get_origin(annotation)
        if origin is typing.Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            options = [a for a in get_args(annotation) if a is not type(None)]
            models = [a for a in options if isinstance(a, type) and issubclass(a, BaseModel)]
            annotation = models[0] if models else options[0]
        elif origin in (tuple, list):
            annotation = get_args(annotation)[0]  # tuple[X, ...] ends with an Ellipsis
        elif origin is dict:
            annotation = get_args(annotation)[-1]
        else:
            return annotation


def _strip_optional(annotation: Any) -> Any:
    while True:
        origin = get_origin(annotation)
        if origin is typing.Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            options = [a for a in get_args(annotation) if a is not type(None)]
            annotation = options[0]
        else:
            return annotation


def model_at(root: type[BaseModel], loc: typing.Sequence[int | str]) -> type[BaseModel] | None:
    """The model class that validates the mapping at `loc`, if any."""
    current: Any = root
    key_follows = False  # inside dict[str, Model] the next part is a user's key
    for part in loc:
        if key_follows or isinstance(part, int):
            key_follows = False
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(part)
        if field is None:
            return None
        annotation = _strip_optional(field.annotation)
        key_follows = get_origin(annotation) is dict
        current = _unwrap(annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _literal_choices(error: ErrorDetails) -> list[str]:
    expected = str(error.get("ctx", {}).get("expected", ""))
    return [part.strip().strip("'") for part in expected.replace(" or ", ",").split(",") if part]


def problems_from(exc: ValidationError, located: Located, root: type[BaseModel]) -> list[Problem]:
    """One Problem per pydantic error, in charter's message shape."""
    problems: list[Problem] = []
    seen: set[tuple[Any, ...]] = set()
    for error in exc.errors(include_url=False):
        loc = tuple(p for p in error["loc"] if not _is_internal(p))
        where = format_path(loc)
        kind = error["type"]
        value = error.get("input")
        file = located.name
        if kind == "extra_forbidden":
            parent = model_at(root, loc[:-1])
            known = list(parent.model_fields) if parent else []
            hint = did_you_mean(str(loc[-1]), known)
            if not hint and known:
                hint = f" Known keys: {', '.join(known)}."
            message = f"The '{where}' of {file} is not a known key.{hint}"
            problem = located.problem(loc, message, key=True)
        elif kind == "missing":
            message = f"The '{where}' of {file} must be given. Got nothing instead."
            problem = located.problem(loc[:-1], message)
        else:
            constraint = _constraint(error)
            if kind in ("literal_error", "enum"):
                constraint += (
                    did_you_mean(str(value), _literal_choices(error))
                    .replace(" Did you mean", " (did you mean")
                    .replace("?", "?)")
                )
            message = f"The '{where}' of {file} must be {constraint}. Got {_show(value)} instead."
            problem = located.problem(loc, message)
        key = (problem.path, problem.message)
        if key not in seen:
            seen.add(key)
            problems.append(problem)
    return problems


def _is_internal(part: int | str) -> bool:
    """pydantic adds union-member and validator names to locations; users never wrote them."""
    return isinstance(part, str) and (
        part.startswith("function-")
        or part in {"str", "int", "float", "bool", "tuple[...]"}
        or part.startswith("tuple[")
        or part.startswith("literal[")
    )


def _constraint(error: ErrorDetails) -> str:
    kind = error["type"]
    ctx = error.get("ctx", {}) or {}
    if kind in _NEEDS:
        return _NEEDS[kind]
    if kind in ("literal_error", "enum"):
        return "one of " + _quote_all(_literal_choices(error))
    if kind == "greater_than":
        return f"greater than {_number(ctx.get('gt'))}"
    if kind == "greater_than_equal":
        return f"at least {_number(ctx.get('ge'))}"
    if kind == "less_than":
        return f"less than {_number(ctx.get('lt'))}"
    if kind == "less_than_equal":
        return f"at most {_number(ctx.get('le'))}"
    if kind == "string_pattern_mismatch":
        return f"text matching {ctx.get('pattern')}"
    if kind == "string_too_long":
        return f"at most {ctx.get('max_length')} characters"
    if kind == "too_short":
        return f"a list of at least {ctx.get('min_length')} item(s)"
    if kind == "value_error":
        text = str(ctx.get("error", error.get("msg", "")))
        text = text.split(". Got")[0]
        return text.removeprefix("must be ").removeprefix("Value error, ")
    return str(error.get("msg", "valid")).lower()


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    if value is None:
        return "nothing"
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."
