"""`RunReport`: everything one run's HTML report shows, as plain JSON-ready data.

The report never sees the objects of the stages that produced it, only the dicts they left
in the ledger as evidence. `RunReport.from_evidence` is the one place that maps evidence onto
the report's fields, so a change in what a stage records is absorbed there.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Data = Mapping[str, Any]

# Stage names as recorded in run evidence, and the report section each one feeds.
_ALIASES = {
    "train": "training",
    "validate": "validation",
    "register": "model_version",
    "kpis": "kpi_targets",
}
_SOON = dt.timedelta(days=7)
_PASSED = frozenset({"passed", "succeeded", "success", "completed", "ok"})


@dataclass(frozen=True)
class RunReport:
    """One run, ready to render: project context, the run, its verdicts and each stage's evidence.

    Every stage part may be None when that stage did not run or failed; the report then
    says so. Lists are tuples of plain dicts; nothing here is a live object.
    """

    project: Data = field(default_factory=dict)
    objective: Data = field(default_factory=dict)
    kpi_targets: tuple[Data, ...] = ()
    risks: tuple[Data, ...] = ()
    milestones: tuple[Data, ...] = ()
    run: Data = field(default_factory=dict)
    verdicts: tuple[Data, ...] = ()
    gates: Data = field(default_factory=dict)
    audit: Data | None = None
    training: Data | None = None
    validation: Data | None = None
    model_version: Data | None = None
    lineage: Data | None = None

    @classmethod
    def from_evidence(cls, **parts: Any) -> RunReport:
        """Build a report from evidence dicts, keyed by field name or by stage name.

        Accepts every field of `RunReport` plus `charter` (the charter as plain data, which
        supplies project, objective, kpi_targets, risks and milestones when those are not
        given) and the stage names `train`, `validate`, `register` as aliases. Verdicts,
        gates and lineage are looked up inside the validation and training evidence when
        not given on their own. Risk and milestone states missing from the data are derived
        from this run: a risk is open until its `check` KPI is measured, then mitigated or
        triggered; a milestone is met when this run passed its stage's gate, otherwise late,
        at risk (due within 7 days) or on track, judged on the run's date (never today's,
        so that a report renders the same every time).
        """
        known = set(cls.__dataclass_fields__) | {"charter"}
        values: dict[str, Any] = {}
        for key, value in parts.items():
            name = _ALIASES.get(key, key)
            if name not in known:
                raise TypeError(
                    f"RunReport.from_evidence() got an unknown part {key!r}; "
                    f"expected one of {sorted(known | set(_ALIASES))}"
                )
            values[name] = value
        charter = _mapping(values.pop("charter", None))
        for name, section in (
            ("project", "project"),
            ("objective", "objective"),
            ("kpi_targets", "kpis"),
            ("risks", "risks"),
            ("milestones", "milestones"),
        ):
            if values.get(name) is None and charter.get(section) is not None:
                values[name] = charter[section]
        training = _mapping_or_none(values.get("training"))
        validation = _mapping_or_none(values.get("validation"))
        if values.get("verdicts") is None and validation is not None:
            values["verdicts"] = validation.get("verdicts")
        if values.get("gates") is None and validation is not None:
            values["gates"] = validation.get("gates")
        if values.get("lineage") is None:
            for source in (training, validation):
                if source is not None and isinstance(source.get("lineage"), Mapping):
                    values["lineage"] = source["lineage"]
                    break
        run = _mapping(values.get("run"))
        verdicts = _records(values.get("verdicts"))
        gates = _mapping(values.get("gates"))
        return cls(
            project=_mapping(values.get("project")),
            objective=_mapping(values.get("objective")),
            kpi_targets=_records(values.get("kpi_targets")),
            risks=tuple(_risk_state(r, verdicts) for r in _records(values.get("risks"))),
            milestones=tuple(
                _milestone_state(m, gates, run) for m in _records(values.get("milestones"))
            ),
            run=run,
            verdicts=verdicts,
            gates=gates,
            audit=_mapping_or_none(values.get("audit")),
            training=training,
            validation=validation,
            model_version=_mapping_or_none(values.get("model_version")),
            lineage=_mapping_or_none(values.get("lineage")),
        )


def _mapping(value: object) -> Data:
    return value if isinstance(value, Mapping) else {}


def _mapping_or_none(value: object) -> Data | None:
    return value if isinstance(value, Mapping) else None


def _records(value: object) -> tuple[Data, ...]:
    if isinstance(value, Mapping):  # {name: record} is accepted as well as [record]
        return tuple(
            {"name": k, **v} if isinstance(v, Mapping) else {"name": k, "value": v}
            for k, v in value.items()
        )
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return tuple(v for v in value if isinstance(v, Mapping))
    return ()


def _risk_state(risk: Data, verdicts: Sequence[Data]) -> Data:
    if risk.get("state"):
        return risk
    check = risk.get("check")
    verdict = next((v for v in verdicts if check is not None and v.get("kpi") == check), None)
    passed = verdict.get("passed") if verdict is not None else None
    state = "open" if passed is None else ("mitigated" if passed else "triggered")
    return {**risk, "state": state}


def _milestone_state(milestone: Data, gates: Data, run: Data) -> Data:
    if milestone.get("state"):
        return milestone
    stage = milestone.get("stage")
    when = _date(run.get("finished_at")) or _date(run.get("started_at"))
    stages = run.get("stages")
    passed = any(
        isinstance(record, Mapping)
        and record.get("stage") == stage
        and str(record.get("status")).lower() in _PASSED
        for record in (stages if isinstance(stages, Sequence) else ())
    )
    if passed and gates.get(str(stage)) is not False:
        met_at = milestone.get("met_at") or (when.isoformat() if when else None)
        return {**milestone, "state": "met", "met_at": met_at}
    due = _date(milestone.get("due"))
    if due is None or when is None:
        return milestone
    if due < when:
        state = "late"
    elif due - when <= _SOON:
        state = "at risk"
    else:
        state = "on track"
    return {**milestone, "state": state}


def _date(value: object) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and len(value) >= 10:
        try:
            return dt.date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None
