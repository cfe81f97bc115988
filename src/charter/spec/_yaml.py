"""Read YAML keeping where every key and value sits, so errors can name file:line:column."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from charter.errors import Problem

PathPart = str | int
Path_ = tuple[PathPart, ...]


@dataclass(frozen=True)
class Position:
    """A 1-based line and column in the source text."""

    line: int
    column: int


@dataclass
class Located:
    """Plain Python data from a YAML text plus the position of every key and value in it."""

    data: Any
    file: str
    values: dict[Path_, Position] = field(default_factory=dict)
    keys: dict[Path_, Position] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The file's base name, as messages quote it ("The 'x' of charter.yaml ...")."""
        return self.file.replace("\\", "/").rsplit("/", 1)[-1]

    def position(self, path: Path_, *, key: bool = False) -> Position:
        """The position of `path`, or of its nearest ancestor that has one."""
        table = self.keys if key else self.values
        probe = tuple(path)
        while probe:
            if probe in table:
                return table[probe]
            if probe in self.values:
                return self.values[probe]
            probe = probe[:-1]
        return self.values.get((), Position(1, 1))

    def problem(self, path: Path_, message: str, *, key: bool = False) -> Problem:
        """A Problem located at `path`."""
        pos = self.position(path, key=key)
        return Problem(self.file, pos.line, pos.column, format_path(path), message)


def format_path(path: Path_) -> str:
    """Render ('kpis', 2, 'at_least') as kpis[2].at_least; odd keys are bracket-quoted."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.isidentifier():
            out += f".{part}" if out else part
        else:
            out += f"[{part!r}]"
    return out


def _pos(mark: yaml.Mark) -> Position:
    return Position(mark.line + 1, mark.column + 1)


class _Builder:
    def __init__(self, loader: yaml.SafeLoader, located: Located) -> None:
        self.loader = loader
        self.located = located
        self.problems: list[Problem] = []

    def build(self, node: yaml.Node, path: Path_) -> Any:
        self.located.values[path] = _pos(node.start_mark)
        if isinstance(node, yaml.MappingNode):
            self.loader.flatten_mapping(node)
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = self.loader.construct_object(key_node, deep=True)
                if not isinstance(key, str | int | float | bool) or key is None:
                    pos = _pos(key_node.start_mark)
                    self.problems.append(
                        Problem(
                            self.located.file,
                            pos.line,
                            pos.column,
                            format_path(path),
                            f"The keys of {format_path(path) or 'the charter'} must be plain "
                            f"names. Got {key!r} instead.",
                        )
                    )
                    continue
                key = str(key) if not isinstance(key, str) else key
                child = (*path, key)
                if key in result:
                    pos = _pos(key_node.start_mark)
                    first = self.located.keys[child]
                    self.problems.append(
                        Problem(
                            self.located.file,
                            pos.line,
                            pos.column,
                            format_path(child),
                            f"The '{format_path(child)}' of {self.located.name} must appear "
                            f"once. Got it again here (first on line {first.line}).",
                        )
                    )
                    continue
                self.located.keys[child] = _pos(key_node.start_mark)
                result[key] = self.build(value_node, child)
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        return self.loader.construct_object(node, deep=True)


def load_located(text: str, file: str) -> tuple[Located, list[Problem]]:
    """Parse `text`; return the data with positions and any problems (syntax, duplicate keys)."""
    located = Located(data=None, file=file)
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return located, [
                Problem(
                    file,
                    1,
                    1,
                    "",
                    f"{file} is empty: a charter needs at least "
                    "the 'project', 'objective' and 'data' sections.",
                )
            ]
        builder = _Builder(loader, located)
        located.data = builder.build(node, ())
        return located, builder.problems
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        what = exc.problem or "malformed YAML"
        return located, [Problem(file, line, column, "", f"{file} is not valid YAML: {what}.")]
    except yaml.YAMLError as exc:  # scanner errors without marks
        return located, [Problem(file, 1, 1, "", f"{file} is not valid YAML: {exc}.")]
    finally:
        loader.dispose()
