"""Write a charter as commented YAML, by hand, so that each comment sits above its section.

Sections are block mappings; a contract entry, a KPI and every list of scalars are one
flow-style line. A string is written plain only when it is unmistakably a string to any
YAML loader (letters, digits and a few safe marks, and not a word such as yes, no, null);
everything else is double-quoted with escapes, so that "Yes", "?", " ", "1" or ">50K" load
back as the strings they are.
"""

from __future__ import annotations

import math
import re
from typing import Any

_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_.()/+-]*(?: [A-Za-z0-9_.()/+-]+)*")
# Starting with a letter rules out numbers, dates and YAML's indicators; what is left that a
# YAML 1.1 loader would not read as a string is these words (in any case) and "y"/"n".
_RESERVED = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null", "none"})
_SAFE_QUOTED = re.compile(r"[ !#-\[\]-~]*")
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r", "\0": "\\0"}
# An implicit key must stay on one line and under 1024 characters; longer ones use "? ".
_MAX_KEY = 1000

_HEADER = [
    "charter.yaml: the whole project in one file, scaffolded by `charter init`.",
    "Everything below was inferred from the data or is a default to review: read each",
    "section, fix what is wrong, then run `charter check`.",
]
_COMMENTS: dict[tuple[str, ...], list[str]] = {
    ("project",): [
        "What the work is for and who answers for it. Write the problem the way the",
        "business would say it; it heads every report.",
    ],
    ("project", "stakeholders"): [
        "People kept informed at each gate, e.g.",
        "- {name: Retention, role: business owner, notify: console}",
    ],
    ("objective",): [
        "What the model predicts. The task was inferred from the target's values; for a",
        "binary task, `positive` is the class the model scores (inferred: the rarer one).",
    ],
    ("data",): [
        "Where the rows come from and what they must look like. `id` and `exclude` are",
        "identifier columns: kept for joins and lineage, never used as features.",
    ],
    ("data", "contract"): [
        "One entry per column, inferred from the rows read: type, observed range or",
        "categories, whether a value may be missing and which markers mean missing.",
        "The audit stops on rows that break it: widen a range a future batch may exceed.",
    ],
    ("data", "protected"): [
        "Columns audited for bias, guessed from their names: add or remove.",
        "They stay features unless you exclude them.",
    ],
    ("data", "split"): [
        "How the holdout is drawn: stratified by the target for classification, at",
        "random for regression, by time when there is a timestamp.",
    ],
    ("kpis",): [
        "What good enough means. `validate` gates must pass before a model is registered,",
        "`deploy` gates before it is promoted to champion, and `monitor` gates are checked",
        "on live traffic. The thresholds are starting points: agree them with stakeholders.",
    ],
    ("model",): [
        "Candidate pipelines searched within the budget, compared by cross-validation.",
    ],
}


def render_charter(charter: dict[str, Any], *, comments: bool = True) -> str:
    """The charter as YAML text; `yaml.safe_load` of it gives back `charter` exactly.

    With `comments`, each section is preceded by what it means and what to review, and
    the target, id and excluded columns of the contract are marked at the end of their line.
    """
    lines: list[str] = []
    if comments:
        lines.extend(f"# {line}" for line in _HEADER)
    notes = _column_notes(charter) if comments else {}
    for key, value in charter.items():
        if lines:
            lines.append("")
        _entry(lines, str(key), value, (str(key),), comments, notes)
    return "\n".join(lines) + "\n"


def _column_notes(charter: dict[str, Any]) -> dict[str, str]:
    """Column name -> end-of-line comment for the contract."""
    notes: dict[str, str] = {}
    data = charter.get("data")
    objective = charter.get("objective")
    if isinstance(data, dict):
        for name in data.get("exclude") or []:
            notes[str(name)] = "excluded: an identifier, not a feature"
        if isinstance(data.get("timestamp"), str):
            notes[data["timestamp"]] = "the timestamp: orders the rows and the split"
        if isinstance(data.get("id"), str):
            notes[data["id"]] = "the id: one per row, never a feature"
    if isinstance(objective, dict) and isinstance(objective.get("target"), str):
        notes[objective["target"]] = "the target"
    return notes


def _entry(
    lines: list[str],
    key: str,
    value: Any,
    path: tuple[str, ...],
    comments: bool,
    notes: dict[str, str],
) -> None:
    pad = "  " * (len(path) - 1)
    if comments and path in _COMMENTS:
        lines.extend(f"{pad}# {line}" for line in _COMMENTS[path])
    head = _key(key, pad)
    if isinstance(value, dict) and value and (len(path) == 1 or path == ("data", "contract")):
        lines.append(f"{head}:")
        for child, child_value in value.items():
            _entry(lines, str(child), child_value, (*path, str(child)), comments, notes)
        return
    if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
        lines.append(f"{head}:")
        lines.extend(f"{pad}  - {_flow(item)}" for item in value)
        return
    line = f"{head}: {_flow(value)}"
    if path[:2] == ("data", "contract") and len(path) == 3 and key in notes:
        line += f"  # {notes[key]}"
    lines.append(line)


def _key(key: str, pad: str) -> str:
    text = _scalar(key)
    if len(text) > _MAX_KEY:
        # An explicit key: "? key" then ": value" on the next line, built by the caller.
        return f"{pad}? {text}\n{pad}"
    return f"{pad}{text}"


def _flow(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_scalar(str(k))}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_flow(item) for item in value) + "]"
    return _scalar(value)


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float(value)
    text = str(value)
    if _is_plain(text):
        return text
    return _quote(text)


def _float(value: float) -> str:
    if math.isnan(value):
        return ".nan"
    if math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    text = repr(value)
    if "e" in text:
        # YAML 1.1 floats need a dot in the mantissa and a sign on the exponent.
        mantissa, exponent = text.split("e")
        if "." not in mantissa:
            mantissa += ".0"
        if exponent[0] not in "+-":
            exponent = "+" + exponent
        text = f"{mantissa}e{exponent}"
    return text


def _is_plain(text: str) -> bool:
    return _PLAIN.fullmatch(text) is not None and text.lower() not in _RESERVED


def _quote(text: str) -> str:
    if _SAFE_QUOTED.fullmatch(text):
        return f'"{text}"'
    return '"' + "".join(_escape(char) for char in text) + '"'


def _escape(char: str) -> str:
    if char in _ESCAPES:
        return _ESCAPES[char]
    code = ord(char)
    printable = (
        0x20 <= code <= 0x7E
        or (0xA0 <= code <= 0xD7FF and code not in (0x2028, 0x2029))
        or (0xE000 <= code <= 0xFFFD and code != 0xFEFF)
        or code >= 0x10000
    )
    if printable:
        return char
    if code <= 0xFF:
        return f"\\x{code:02X}"
    return f"\\u{code:04X}"
