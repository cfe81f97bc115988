"""Plain JSON values from numpy and pandas ones: no numpy scalars, NaN and infinities as None."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np


def jsonable(value: Any) -> Any:
    """`value` as JSON data: dicts with text keys, lists, str, int, float, bool and None.

    Numpy scalars and arrays become Python numbers and lists, tuples become lists, and
    NaN or infinite floats become None (PostgreSQL's JSON and strict parsers refuse them).
    """
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, np.ndarray):
        return [jsonable(item) for item in value.tolist()]
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value]
    if isinstance(value, np.generic):
        return jsonable(value.item())
    return str(value)


def plain(value: Any) -> Any:
    """A label or parameter as a plain Python value (numpy scalars unwrapped), else unchanged."""
    if isinstance(value, np.generic):
        return value.item()
    return value
