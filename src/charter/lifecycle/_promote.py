"""`charter promote`: move the champion alias, only when the deploy gates pass."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from charter.errors import CharterError, NotFoundError
from charter.gates import judge
from charter.spec import load_charter


class GateRefused(CharterError):
    """A promotion refused because a deploy gate fails (and no override was given)."""


@dataclass(frozen=True)
class PromoteOutcome:
    """The version now behind the alias, the previous one, and the deploy verdicts."""

    project: str
    alias: str
    version: int
    previous: int | None
    passed: bool
    override_reason: str | None
    verdicts: tuple[dict[str, Any], ...]

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {**self.__dict__, "verdicts": list(self.verdicts)}


def promote(
    path: Path, version: int | str, *, alias: str = "champion", override: str | None = None
) -> PromoteOutcome:
    """Point `alias` at `version` when its deploy gates pass under the current charter.

    `version` is a number, or the name of an alias ("candidate") standing for its version.

    The KPI values recorded at validation are judged against today's thresholds, so a
    tightened charter is honoured. `override` (a non-empty reason) is the only way past a
    failed gate; it is stored on the version and in the alias history.
    """
    from charter.ledger import open_ledger

    loaded = load_charter(path)
    charter = loaded.charter
    if override is not None and not override.strip():
        raise CharterError(
            "The '--override' reason must say why the gate is overridden. "
            "Got an empty reason instead."
        )
    with open_ledger(loaded.base_dir) as ledger:
        if isinstance(version, str) and not version.isdigit():
            named = ledger.get_alias(charter.project.name, version)
            if named is None:
                raise NotFoundError(
                    f"The 'version' to promote must be a version number or an alias of project "
                    f"'{charter.project.name}'. Got '{version}', which names no version."
                )
            version = named.version
        version = int(version)
        model = ledger.get_model_version(charter.project.name, version)
        values = dict(model.metrics.get("kpis", {}))
        report = judge(charter.kpis, values, "deploy")
        if not report.passed and override is None:
            raise GateRefused(
                f"Version {version} cannot become {alias}: {report.summary()} "
                'Use --override "reason" to promote it anyway; the reason is recorded.'
            )
        reason = None if report.passed else override
        moved = ledger.set_alias(
            charter.project.name,
            alias,
            version,
            reason=reason or "deploy gates pass",
            override_reason=reason,
        )
    return PromoteOutcome(
        project=charter.project.name,
        alias=alias,
        version=version,
        previous=moved.previous_version,
        passed=report.passed,
        override_reason=reason,
        verdicts=tuple(v.to_dict() for v in report.verdicts),
    )
