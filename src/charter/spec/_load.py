"""Load a charter file: parse, validate, cross-check, and report every problem at once."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from charter.errors import Problem, SpecError
from charter.spec._crosscheck import cross_check
from charter.spec._messages import problems_from
from charter.spec._yaml import load_located
from charter.spec.schema import Charter

DEFAULT_FILE = "charter.yaml"


@dataclass(frozen=True)
class LoadedCharter:
    """A valid charter with the text it came from, its file and its sha256."""

    charter: Charter
    path: Path
    text: str
    sha256: str

    @property
    def base_dir(self) -> Path:
        """The folder relative paths in the charter are resolved against."""
        return self.path.parent

    def resolve(self, relative: str) -> Path:
        """A path from the charter, resolved against the charter's folder."""
        candidate = Path(relative).expanduser()
        return candidate if candidate.is_absolute() else self.base_dir / candidate


def validate_text(
    text: str, file: str = DEFAULT_FILE, base_dir: Path | None = None
) -> tuple[Charter | None, list[Problem]]:
    """Validate charter text; return the charter (when valid) and every problem found."""
    located, problems = load_located(text, file)
    if problems and located.data is None:
        return None, problems
    if not isinstance(located.data, dict):
        return None, [
            *problems,
            located.problem(
                (),
                f"The top level of {located.name} must be a mapping of sections (project, "
                f"objective, data, kpis, ...). Got {type(located.data).__name__} instead.",
            ),
        ]
    charter: Charter | None = None
    try:
        charter = Charter.model_validate(located.data)
    except ValidationError as exc:
        problems.extend(problems_from(exc, located, Charter))
    problems.extend(cross_check(located, base_dir))
    problems.sort(key=lambda p: (p.line, p.column, p.message))
    return (charter if not problems else None), problems


def load_charter(path: str | Path = DEFAULT_FILE) -> LoadedCharter:
    """Read and validate the charter at `path`; raise SpecError listing every problem."""
    path = Path(path)
    shown = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        hint = (
            " Create one with `charter init --data FILE --target COLUMN`."
            if path.name == DEFAULT_FILE
            else ""
        )
        raise SpecError([Problem(shown, 1, 1, "", f"No charter at {shown}.{hint}")]) from None
    except IsADirectoryError:
        raise SpecError(
            [
                Problem(
                    shown,
                    1,
                    1,
                    "",
                    f"{shown} is a folder; give the charter file (or the folder's charter.yaml).",
                )
            ]
        ) from None
    except OSError as exc:
        raise SpecError(
            [Problem(shown, 1, 1, "", f"Cannot read {shown}: {exc.strerror}.")]
        ) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SpecError(
            [
                Problem(
                    shown,
                    1,
                    1,
                    "",
                    f"{shown} must be UTF-8 text. Got a byte that is not (at offset {exc.start}).",
                )
            ]
        ) from None
    charter, problems = validate_text(text, shown, path.parent)
    if problems or charter is None:
        raise SpecError(problems)
    return LoadedCharter(charter, path, text, hashlib.sha256(raw).hexdigest())


def find_charter(path: str | Path | None) -> Path:
    """The charter file for a --charter option: a file, or a folder holding charter.yaml."""
    candidate = Path(path) if path is not None else Path(DEFAULT_FILE)
    return candidate / DEFAULT_FILE if candidate.is_dir() else candidate


def dump_charter(charter: Charter) -> str:
    """The charter as YAML text that loads back to an equal charter."""
    data = charter.model_dump(mode="json", exclude_defaults=True)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of charter.yaml, for editors' completion and validation."""
    schema = Charter.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "charter.schema.json"
    return schema


def json_schema_text() -> str:
    """The JSON Schema as indented text."""
    return json.dumps(json_schema(), indent=2, sort_keys=False)
