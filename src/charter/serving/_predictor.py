"""The compiled predictor: a fitted model made fast, and checked against itself.

`compile_predictor(model, holdout=...)` reads the fitted pipeline's encoder into plain
numbers once, then tries the fast paths on the holdout against the model itself:

- "onnx": the estimator converted to ONNX (skl2onnx, or onnxmltools for LightGBM) and run
  by onnxruntime on the encoded rows;
- "linear" / "lightgbm" (asked for as "fast"): a hand-written kernel, a dot product with a
  sigmoid or softmax, or LightGBM's booster on the encoded rows (one thread);
- "native": the model's own `predict_proba` on a DataFrame, the reference (slow: a few
  milliseconds a row).

A fast path is accepted only when, on up to 2000 holdout rows plus probe rows (each
feature missing, each category unseen), its probabilities are within 1e-5 of the model's
(regression: values within 1e-5 relative) and the predicted class is the same everywhere,
through both the record path and the frame path. `prefer` orders the attempts: "onnx"
serves ONNX when parity holds, "fast" the hand-written kernel, and "auto" (the default)
measures every path that passes on 200 single-record calls and serves the fastest (the
hand-written kernel unless ONNX is clearly faster, by more than 20%). When nothing
passes, or without a holdout, it serves natively; `parity` says why.

A fast path's class could differ from the model's only where a probability sits within
the tolerance of the decision threshold (or of a tie between classes): such rows, rare
except for models with coarse probabilities like a forest's votes, are handed to the model
itself, so the class served is always the model's. Otherwise serving never builds a
DataFrame per request, except on the native path. A predictor loaded from bytes without
its model decides those rows on the fast path.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import platform
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Literal, Protocol, cast

import numpy as np
import pandas as pd

from charter.errors import CharterError
from charter.framing import unframe
from charter.serving._fastpath import (
    PARALLEL_ROWS,
    BoosterKernel,
    Encoder,
    LinearKernel,
    UnsupportedPipeline,
    booster_string,
    inner_estimator,
    linear_kernel,
    pipeline_parts,
    read_encoder,
)
from charter.serving._onnx import OnnxKernel, convert, dtypes_for

#: The version of the bytes `Predictor.to_bytes` writes; `from_bytes` reads only this one.
PREDICTOR_FORMAT_VERSION = 1
#: The first line of every predictor's bytes.
MAGIC = b"CHARTER-PREDICTOR\n"
#: Largest difference a fast path may show: probabilities (absolute) or values (relative).
PARITY_TOLERANCE = 1e-5
#: Holdout rows the parity check uses at most (probe rows come on top).
PARITY_ROWS = 2000
#: Single-record calls timed per path when `prefer="auto"` chooses.
TIMING_ROWS = 200
#: The key of the bias term (the expected raw score) in an explanation.
BIAS = "(bias)"

Prefer = Literal["auto", "onnx", "fast", "native"]
Kind = Literal["onnx", "linear", "lightgbm", "native"]
PREFERENCES = ("auto", "onnx", "fast", "native")

#: Holdout rows copied into probes: each with one feature missing, or one category unseen.
_PROBE_ROWS = 10
_UNSEEN = "\x00charter-unseen-category"
#: Native calls timed for the record, at most.
_NATIVE_TIMING_ROWS = 20
#: Timing one path stops after this long (a slow native model needs no more to be known slow).
_TIMING_SECONDS = 0.25
#: ONNX must beat the hand-written kernel by this factor for "auto" to pick it.
_ONNX_MARGIN = 0.8
_VERSIONED = ("numpy", "onnxruntime", "lightgbm", "scikit-learn", "skl2onnx", "onnxmltools")


class ServingError(CharterError):
    """A predictor cannot be compiled, loaded or used as asked."""


class PredictorFormatError(ServingError):
    """Bytes that are not a charter predictor, or one saved in another format version."""


class ModelLike(Protocol):
    """What a predictor needs from a fitted model (charter.modeling's `FittedModel`)."""

    @property
    def task(self) -> str: ...

    @property
    def classes(self) -> tuple[Any, ...]: ...

    @property
    def features(self) -> tuple[str, ...]: ...

    @property
    def kinds(self) -> Mapping[str, str]: ...

    @property
    def threshold(self) -> float | None: ...

    @property
    def pipeline(self) -> Any: ...

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray: ...

    def predict(self, frame: pd.DataFrame) -> np.ndarray: ...


# --- results -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PredictionBatch:
    """Predictions for a list of records, as plain Python data.

    `labels`: the prediction per record, a class label in its original value (binary:
    positive when its probability reaches the model's threshold), or the value
    (regression). `probabilities`: per record, one float per class in `classes` order
    (classification; None for regression). `values`: the predicted values (regression;
    None for classification).
    """

    labels: list[Any]
    probabilities: list[list[float]] | None
    values: list[float] | None


@dataclass(frozen=True)
class FrameScores:
    """Predictions for a frame, as numpy arrays (the shapes of `PredictionBatch`)."""

    labels: np.ndarray
    probabilities: np.ndarray | None
    values: np.ndarray | None


@dataclass(frozen=True)
class PathCheck:
    """One path tried at compile time: did it match the model, and how fast was it.

    `max_abs_diff` is over probabilities (classification) or values; `max_rel_diff`
    (regression) is |difference| / max(1, |value|). `seconds_per_row` is the mean time of
    a single-record call, None when not measured. `reason` says why it was rejected.
    `native_rows` counts the rows so close to the decision boundary that the model
    itself decided them (see `Predictor`).
    """

    kind: str
    passed: bool
    max_abs_diff: float | None = None
    max_rel_diff: float | None = None
    same_class: bool | None = None
    seconds_per_row: float | None = None
    reason: str = ""
    native_rows: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


@dataclass(frozen=True)
class ParityReport:
    """How the served path was chosen: parity on the holdout and why others were not.

    `passed` is True when a fast path is served because it matched the model on `rows`
    rows (holdout rows plus probes); False when the model serves natively (it is the
    reference: nothing to check). The differences are the served path's.
    `reason` is one sentence for people; `tried` holds every path looked at.
    """

    kind: str
    rows: int
    passed: bool
    max_abs_diff: float | None
    max_rel_diff: float | None
    same_class: bool | None
    reason: str
    tried: tuple[PathCheck, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data = {key: value for key, value in vars(self).items() if key != "tried"}
        data["tried"] = [check.to_dict() for check in self.tried]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ParityReport:
        values = dict(data)
        tried = tuple(PathCheck(**check) for check in values.pop("tried", ()))
        return cls(**values, tried=tried)


# --- the predictor -------------------------------------------------------------------------


Kernel = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class _Labels:
    task: str
    classes: tuple[Any, ...]
    threshold: float | None

    def codes(self, scores: np.ndarray) -> np.ndarray:
        """Class codes from probabilities, as FittedModel.predict_codes decides them."""
        if self.task == "binary_classification":
            threshold = 0.5 if self.threshold is None else self.threshold
            return (scores[:, 1] >= threshold).astype(np.int64)
        return np.asarray(scores.argmax(axis=1), dtype=np.int64)

    def decide(self, rows: list[list[float]]) -> tuple[list[int], list[int]]:
        """`codes` and the positions `near_boundary` marks, in plain Python, for a few rows."""
        codes: list[int] = []
        near: list[int] = []
        if self.task == "binary_classification":
            threshold = 0.5 if self.threshold is None else self.threshold
            for i, row in enumerate(rows):
                codes.append(1 if row[1] >= threshold else 0)
                if abs(row[1] - threshold) <= PARITY_TOLERANCE:
                    near.append(i)
            return codes, near
        for i, row in enumerate(rows):
            best = max(row)
            codes.append(row.index(best))  # the first maximum, as numpy's argmax
            ranked = sorted(row)
            if len(row) < 2 or ranked[-1] - ranked[-2] <= PARITY_TOLERANCE:
                near.append(i)
        return codes, near

    def near_boundary(self, scores: np.ndarray) -> np.ndarray:
        """Rows whose class a difference of `PARITY_TOLERANCE` could change."""
        if self.task == "binary_classification":
            threshold = 0.5 if self.threshold is None else self.threshold
            return np.asarray(np.abs(scores[:, 1] - threshold) <= PARITY_TOLERANCE)
        top = np.partition(scores, -2, axis=1)[:, -2:] if scores.shape[1] > 1 else scores
        return np.asarray(top[:, -1] - top[:, 0] <= PARITY_TOLERANCE)


class Predictor:
    """A compiled model: records or frames in, predictions out, on the path `kind` names.

    Build one with `compile_predictor` or `Predictor.from_bytes`. Thread-safe: it holds
    no per-call state. `explainable` says whether `explain_records` gives contributions.
    """

    def __init__(
        self,
        *,
        kind: Kind,
        task: str,
        classes: tuple[Any, ...],
        threshold: float | None,
        features: tuple[str, ...],
        kinds: Mapping[str, str],
        parity: ParityReport,
        encoder: Encoder | None = None,
        kernel: LinearKernel | BoosterKernel | OnnxKernel | None = None,
        booster: BoosterKernel | None = None,
        model: ModelLike | None = None,
    ) -> None:
        if kind != "native" and (encoder is None or kernel is None):
            raise ServingError(f"The {kind} predictor must have an encoder and a kernel.")
        if kind == "native" and model is None:
            raise ServingError("The native predictor must have the fitted model.")
        self.kind: Kind = kind
        self.task = task
        self.classes = classes
        self.threshold = threshold
        self.features = features
        self.kinds = dict(kinds)
        self.parity = parity
        self._labels = _Labels(task, classes, threshold)
        self._encoder = encoder
        self._kernel = kernel
        self._booster = booster if booster is not None and encoder is not None else None
        self._model = model

    def __repr__(self) -> str:
        return f"Predictor(kind={self.kind!r}, task={self.task!r}, features={len(self.features)})"

    @property
    def explainable(self) -> bool:
        """Whether `explain_records` gives contributions (LightGBM models)."""
        return self._booster is not None or (
            self._model is not None and _is_lightgbm(self._model.pipeline)
        )

    # --- predictions -----------------------------------------------------------------------

    def predict_records(self, records: Sequence[Mapping[str, Any]]) -> PredictionBatch:
        """Predictions for validated, coerced records (dicts keyed by column name).

        Numbers are int or float, categories text, datetimes ISO text; None (or a missing
        key) is a missing value; an unseen category never fails. No DataFrame is built,
        except on the native path.
        """
        regression = self.task == "regression"
        if not records:
            return PredictionBatch([], None if regression else [], [] if regression else None)
        kernel = self._kernel
        fast = kernel is not None
        out = (
            self._native(self._frame(records)) if kernel is None else kernel(self._encode(records))
        )
        if regression:
            values = out.reshape(-1).tolist()
            return PredictionBatch(values, None, values)
        # Plain Python from here: on a request's few rows, numpy's per-call cost dominates.
        rows = out.tolist()
        codes, near = self._labels.decide(rows)
        if near and fast and self._model is not None:
            settled = self._native(self._frame([records[i] for i in near])).tolist()
            for i, row in zip(near, settled, strict=True):
                rows[i] = row
            codes, _ = self._labels.decide(rows)
        classes = self.classes
        return PredictionBatch([classes[code] for code in codes], rows, None)

    def score_frame(self, frame: pd.DataFrame) -> FrameScores:
        """Predictions for a whole frame at once (the batch-scoring path)."""
        _check_columns(frame, self.features, "the frame handed to the predictor")
        out = self._run_frame(frame)
        if self.task == "regression":
            return FrameScores(out, None, out)
        codes = self._labels.codes(out)
        labels = np.empty(len(self.classes), dtype=object)
        labels[:] = list(self.classes)
        return FrameScores(labels[codes], out, None)

    def explain_records(
        self, records: Sequence[Mapping[str, Any]]
    ) -> list[dict[str, float]] | None:
        """Per-feature contributions to each record's raw score, or None for this model.

        For LightGBM models: SHAP values from the booster (`pred_contrib`), summed back to
        the charter's features (a datetime's parts into the datetime), plus `BIAS`, the
        expected raw score: they add up to the log-odds (binary), the predicted class's
        raw score (multiclass) or the value (regression). None for other models.
        """
        if not self.explainable:
            return None
        if not records:
            return []
        if self._booster is not None and self._encoder is not None:
            encoded = self._encode(records)
            return self._explained(self._booster.contributions(encoded), self._encoder.sources)
        model = cast(ModelLike, self._model)
        prep, _, estimator = pipeline_parts(model.pipeline)
        prepared = model.pipeline[:-1].transform(self._frame(records))
        contributions = inner_estimator(estimator).predict(prepared, pred_contrib=True)
        sources = tuple(str(source) for source in prep.sources_)
        return self._explained(np.asarray(contributions, dtype=np.float64), sources)

    def _run_frame(self, frame: pd.DataFrame) -> np.ndarray:
        if self._kernel is None or self._encoder is None:
            return self._native(frame)
        out = self._kernel(self._encoder.encode_frame(frame))
        return self._settle(out, lambda rows: frame.iloc[rows])

    def _settle(self, out: np.ndarray, frame_of: Callable[[list[int]], pd.DataFrame]) -> np.ndarray:
        """Let the model itself decide the rows a fast path leaves too close to call.

        A fast path is within `PARITY_TOLERANCE` of the model, so only a row that close to
        the decision threshold (or to a tie between classes) could get another class.
        Models with coarse probabilities (a forest's votes) put many rows exactly on a
        threshold chosen among those values; those rows are rare otherwise.
        `predict_records` does the same in plain Python.
        """
        if self.task == "regression" or self._model is None:
            return out
        near = self._labels.near_boundary(out)
        if near.any():
            rows = np.flatnonzero(near).tolist()
            out = np.array(out, dtype=np.float64)
            out[rows] = self._native(frame_of(rows))
        return out

    def _encode(self, records: Sequence[Mapping[str, Any]]) -> np.ndarray:
        encoder = cast(Encoder, self._encoder)
        try:
            return encoder.encode_records(records)
        except AttributeError:
            bad = next((r for r in records if not isinstance(r, Mapping)), None)
            if bad is None:
                raise
            raise ServingError(
                "Each record handed to the predictor must be a mapping of column name to "
                f"value. Got a {type(bad).__name__} instead."
            ) from None

    def _frame(self, records: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
        bad = next((r for r in records if not isinstance(r, Mapping)), None)
        if bad is not None:
            raise ServingError(
                "Each record handed to the predictor must be a mapping of column name to "
                f"value. Got a {type(bad).__name__} instead."
            )
        columns = {name: [record.get(name) for record in records] for name in self.features}
        return pd.DataFrame(columns, index=pd.RangeIndex(len(records)))

    def _native(self, frame: pd.DataFrame) -> np.ndarray:
        model = cast(ModelLike, self._model)
        # A few rows on an OpenMP model (HistGradientBoosting): spinning up its threads
        # costs more than the work, and on a busy machine ten times more.
        with contextlib.ExitStack() as stack:
            if len(frame) < PARALLEL_ROWS:
                stack.enter_context(_openmp().limit(limits=1, user_api="openmp"))
            if self.task == "regression":
                return np.asarray(model.predict(frame), dtype=np.float64)
            return np.asarray(model.predict_proba(frame), dtype=np.float64)

    def _explained(
        self, contributions: np.ndarray, sources: Sequence[str]
    ) -> list[dict[str, float]]:
        width = len(sources)
        rows = contributions.shape[0]
        if self.task == "multiclass_classification":
            blocks = contributions.reshape(rows, len(self.classes), width + 1)
            chosen = blocks[np.arange(rows), blocks.sum(axis=2).argmax(axis=1)]
        else:
            chosen = contributions.reshape(rows, width + 1)
        membership = np.zeros((width, len(self.features)))
        position = {name: j for j, name in enumerate(self.features)}
        for column, source in enumerate(sources):
            membership[column, position[source]] = 1.0
        per_feature = chosen[:, :width] @ membership
        explained = []
        for values, bias in zip(per_feature.tolist(), chosen[:, width].tolist(), strict=True):
            item = dict(zip(self.features, values, strict=True))
            item[BIAS] = bias
            explained.append(item)
        return explained

    # --- description and bytes -------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        """The predictor as JSON data: kind, task, classes, features, parity."""
        return {
            "kind": self.kind,
            "task": self.task,
            "classes": _plain(list(self.classes)),
            "threshold": self.threshold,
            "features": list(self.features),
            "explainable": self.explainable,
            "parity": self.parity.to_dict(),
        }

    def to_bytes(self) -> bytes:
        """The predictor as bytes: a magic line, a JSON header line, then its sections.

        Sections: the spec (JSON: encoder, kernel numbers, labels, parity), the ONNX graph
        and the LightGBM model string, each present when used. No pickle: loading runs
        no code. A native predictor's bytes hold no model: `from_bytes` takes it.
        """
        kernel: dict[str, Any] = {"type": self.kind}
        onnx = b""
        if isinstance(self._kernel, OnnxKernel):
            onnx = self._kernel.model
            kernel.update(dtype=self._kernel.dtype, output=self._kernel.output)
        elif isinstance(self._kernel, LinearKernel):
            kernel.update(self._kernel.to_dict())
        booster = self._booster or (
            self._kernel if isinstance(self._kernel, BoosterKernel) else None
        )
        spec = {
            **self.describe(),
            "kinds": self.kinds,
            "encoder": None if self._encoder is None else self._encoder.to_dict(),
            "kernel": kernel,
            "booster": self._booster is not None,
        }
        sections = [
            ("spec", json.dumps(spec, sort_keys=True).encode("utf-8")),
            ("onnx", onnx),
            ("booster", b"" if booster is None else booster.model_string.encode("utf-8")),
        ]
        header = {
            "format": PREDICTOR_FORMAT_VERSION,
            "kind": self.kind,
            "task": self.task,
            "versions": _versions(),
            "sections": [[name, len(data)] for name, data in sections],
        }
        line = json.dumps(header, sort_keys=True).encode("utf-8") + b"\n"
        return MAGIC + line + b"".join(data for _, data in sections)

    @classmethod
    def from_bytes(cls, data: bytes, model: ModelLike | None = None) -> Predictor:
        """A predictor from `to_bytes` output; PredictorFormatError for anything else.

        `model` is required for a native predictor; when given, its features and task
        must be the predictor's.
        """
        _, sections = _read(data)
        spec = json.loads(sections["spec"].decode("utf-8"))
        kind = spec["kind"]
        if model is not None and (
            tuple(model.features) != tuple(spec["features"]) or model.task != spec["task"]
        ):
            raise PredictorFormatError(
                "The model handed to Predictor.from_bytes must be the one the predictor was "
                f"compiled from ({spec['task']}, {len(spec['features'])} features). Got a "
                f"{model.task} model with features {list(model.features)[:5]} instead."
            )
        if kind == "native" and model is None:
            raise PredictorFormatError(
                "The 'model' of Predictor.from_bytes must be given for a native predictor "
                "(its bytes hold no model). Got None instead."
            )
        encoder = None if spec["encoder"] is None else Encoder.from_dict(spec["encoder"])
        booster_text = sections["booster"].decode("utf-8")
        booster = BoosterKernel(booster_text, spec["task"]) if booster_text else None
        described = spec["kernel"]
        kernel: LinearKernel | BoosterKernel | OnnxKernel | None = None
        if kind == "onnx":
            kernel = OnnxKernel(
                sections["onnx"], described["dtype"], described["output"], spec["task"]
            )
        elif kind == "linear":
            kernel = LinearKernel.from_dict(described)
        elif kind == "lightgbm":
            kernel = booster
        return cls(
            kind=kind,
            task=spec["task"],
            classes=tuple(spec["classes"]),
            threshold=spec["threshold"],
            features=tuple(spec["features"]),
            kinds=spec["kinds"],
            parity=ParityReport.from_dict(spec["parity"]),
            encoder=encoder,
            kernel=kernel,
            booster=booster if spec["booster"] else None,
            model=model,
        )


def _read(data: bytes) -> tuple[dict[str, Any], dict[str, bytes]]:
    header, rest = unframe(data, MAGIC, what="a charter predictor", error=PredictorFormatError)
    version = header.get("format")
    if version != PREDICTOR_FORMAT_VERSION:
        raise PredictorFormatError(
            f"The predictor's format version must be {PREDICTOR_FORMAT_VERSION}, the one this "
            f"charter reads. Got {version!r} instead; compile the predictor again."
        )
    sections: dict[str, bytes] = {}
    offset = 0
    for name, size in header.get("sections", []):
        sections[str(name)] = rest[offset : offset + int(size)]
        offset += int(size)
    if offset != len(rest) or set(sections) != {"spec", "onnx", "booster"}:
        raise PredictorFormatError(
            f"The predictor's sections must fill its bytes exactly. Got {len(rest) - offset} "
            "bytes more or less than the header lists instead; the bytes are truncated or "
            "changed."
        )
    return header, sections


@functools.cache
def _openmp() -> Any:
    """The process's thread-pool controller, made once the model libraries are loaded."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def _versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _plain(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _is_lightgbm(pipeline: Any) -> bool:
    steps = getattr(pipeline, "steps", None)
    if not steps:
        return False
    return type(inner_estimator(steps[-1][1])).__module__.startswith("lightgbm")


def _check_columns(frame: Any, features: Sequence[str], what: str) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise ServingError(
            f"The {what} must be a pandas DataFrame. Got a {type(frame).__name__} instead."
        )
    present = {str(column) for column in frame.columns}
    lacking = [name for name in features if name not in present]
    if lacking:
        raise ServingError(
            f"The {what} must have the feature columns the model was trained on. Got a frame "
            f"without {', '.join(repr(name) for name in lacking)} instead."
        )


# --- compiling -----------------------------------------------------------------------------


@dataclass
class _Path:
    """A candidate fast path being checked."""

    kind: Kind
    kernel: LinearKernel | BoosterKernel | OnnxKernel | None
    check: PathCheck = field(default_factory=lambda: PathCheck("", False))


def compile_predictor(
    model: ModelLike,
    *,
    holdout: pd.DataFrame | None,
    prefer: Prefer = "auto",
    parity_rows: int = PARITY_ROWS,
) -> Predictor:
    """The fastest path for `model` that matches it on `holdout`, else the native one.

    `prefer`: "onnx" serves ONNX when parity holds, else the hand-written kernel, else
    native; "fast" tries the hand-written kernel first; "native" skips the fast paths;
    "auto" times every path that passes and serves the fastest (see the module doc).
    Without a holdout (None or empty) nothing can be checked, so it serves natively.
    Raises ServingError for an unknown `prefer` or a holdout lacking feature columns.
    """
    if prefer not in PREFERENCES:
        raise ServingError(
            f"The 'prefer' of compile_predictor must be one of {', '.join(PREFERENCES)}. "
            f"Got {prefer!r} instead."
        )
    task = str(model.task)
    classes = tuple(model.classes)
    features = tuple(str(name) for name in model.features)
    kinds = {str(name): str(kind) for name, kind in dict(model.kinds).items()}
    common: dict[str, Any] = {
        "task": task,
        "classes": classes,
        "threshold": model.threshold,
        "features": features,
        "kinds": kinds,
    }
    if holdout is not None:
        _check_columns(holdout, features, "holdout handed to compile_predictor")
    if holdout is None or len(holdout) == 0:
        reason = "Serving natively: there are no holdout rows to check a fast path's parity on."
        parity = ParityReport("native", 0, False, None, None, None, reason)
        return Predictor(kind="native", parity=parity, model=model, **common)

    labels = _Labels(task, classes, model.threshold)
    sample = _parity_frame(holdout, features, kinds, max(1, parity_rows))
    records = sample.to_dict("records")
    native = Predictor(
        kind="native",
        parity=ParityReport("native", 0, False, None, None, None, ""),
        model=model,
        **common,
    )
    reference = native._run_frame(sample)
    native_seconds = _seconds_per_row(native, records[:_NATIVE_TIMING_ROWS])
    native_check = PathCheck(
        "native",
        True,
        0.0,
        0.0 if task == "regression" else None,
        True,
        native_seconds,
        "the reference",
    )

    try:
        encoder: Encoder | None = read_encoder(model.pipeline, features, kinds)
        unsupported = ""
    except UnsupportedPipeline as exc:
        encoder, unsupported = None, str(exc)
    estimator = model.pipeline.steps[-1][1] if encoder is not None else None

    def check(path: _Path) -> _Path:
        assert encoder is not None, "only called once the encoder is read"
        assert path.kernel is not None, "a path to check has a kernel"
        path.check = _parity(path.kind, path.kernel, encoder, sample, records, reference, labels)
        return path

    def onnx_path() -> _Path | PathCheck:
        if encoder is None:
            return PathCheck("onnx", False, reason=unsupported)
        reasons = []
        for dtype in dtypes_for(estimator):
            try:
                path = check(_Path("onnx", convert(estimator, task, encoder.width, dtype)))
            except UnsupportedPipeline as exc:
                reasons.append(str(exc))
                continue
            if path.check.passed:
                return path
            reasons.append(f"{dtype}: {path.check.reason}")
        return PathCheck("onnx", False, reason="; ".join(reasons))

    fast_outcomes: list[_Path | PathCheck] = []

    def fast_path() -> _Path | PathCheck:
        if fast_outcomes:  # asked twice when explanations need the booster
            return fast_outcomes[0]
        outcome: _Path | PathCheck
        if encoder is None:
            outcome = PathCheck("fast", False, reason=unsupported)
        else:
            try:
                if _is_lightgbm(model.pipeline):
                    text = booster_string(estimator, len(classes))
                    outcome = check(_Path("lightgbm", BoosterKernel(text, task)))
                else:
                    kernel = linear_kernel(estimator, task, len(classes))
                    outcome = check(_Path("linear", kernel))
            except UnsupportedPipeline as exc:
                outcome = PathCheck("fast", False, reason=str(exc))
        fast_outcomes.append(outcome)
        return outcome

    order = {"onnx": (onnx_path, fast_path), "fast": (fast_path, onnx_path)}.get(
        prefer, (onnx_path, fast_path)
    )
    tried: list[PathCheck] = []
    passing: list[_Path] = []
    booster: BoosterKernel | None = None
    if prefer != "native":
        for attempt in order:
            outcome = attempt()
            if isinstance(outcome, PathCheck):
                tried.append(outcome)
                continue
            if isinstance(outcome.kernel, BoosterKernel) and outcome.check.passed:
                booster = outcome.kernel
            if outcome.check.passed:
                timed = _timed(outcome, encoder, common, records)
                tried.append(timed.check)
                passing.append(timed)
                if prefer != "auto":
                    break
            else:
                tried.append(outcome.check)
    if booster is None and encoder is not None and _is_lightgbm(model.pipeline):
        # Explanations come from the booster on the encoded rows: check it even when it
        # is not the path served.
        explainer = fast_path()
        if isinstance(explainer, _Path) and explainer.check.passed:
            booster = cast(BoosterKernel, explainer.kernel)
    tried.append(native_check)

    chosen = _choose(passing, prefer)
    if chosen is None:
        rejected = [f"{c.kind}: {c.reason}" for c in tried if c.kind != "native" and c.reason]
        why = "native was asked for" if prefer == "native" else "; ".join(rejected)
        reason = f"Serving natively (slow, {_duration(native_seconds)} a row): {why}."
        parity = ParityReport("native", len(sample), False, None, None, None, reason, tuple(tried))
        return Predictor(
            kind="native", parity=parity, model=model, booster=booster, encoder=encoder, **common
        )
    summary = chosen.check
    timings = ", ".join(f"{path.kind} {_duration(path.check.seconds_per_row)}" for path in passing)
    if task == "regression":
        matched = f"max relative difference {summary.max_rel_diff:.1e}"
    else:
        matched = f"max difference {summary.max_abs_diff:.1e}, the same class everywhere"
        if summary.native_rows:
            matched += (
                f"; {summary.native_rows} rows at the decision threshold left to the model itself"
            )
    reason = (
        f"Serving {chosen.kind}: it matches the native model on {len(sample):,} rows "
        f"({matched}); per row {timings}, native {_duration(native_seconds)}."
    )
    parity = ParityReport(
        chosen.kind,
        len(sample),
        True,
        summary.max_abs_diff,
        summary.max_rel_diff,
        summary.same_class,
        reason,
        tuple(tried),
    )
    return Predictor(
        kind=chosen.kind,
        parity=parity,
        encoder=encoder,
        kernel=chosen.kernel,
        booster=booster,
        model=model,
        **common,
    )


def _choose(passing: list[_Path], prefer: str) -> _Path | None:
    if not passing:
        return None
    if prefer != "auto" or len(passing) == 1:
        return passing[0]
    onnx = next((path for path in passing if path.kind == "onnx"), None)
    kernel = next((path for path in passing if path.kind != "onnx"), None)
    if onnx is None or kernel is None:
        return passing[0]
    onnx_seconds = onnx.check.seconds_per_row or math.inf
    kernel_seconds = kernel.check.seconds_per_row or math.inf
    return onnx if onnx_seconds < _ONNX_MARGIN * kernel_seconds else kernel


def _timed(
    path: _Path, encoder: Encoder | None, common: dict[str, Any], records: list[Any]
) -> _Path:
    probe = Predictor(
        kind=path.kind,
        parity=ParityReport(path.kind, 0, False, None, None, None, ""),
        encoder=encoder,
        kernel=path.kernel,
        **common,
    )
    seconds = _seconds_per_row(probe, records[:TIMING_ROWS])
    path.check = PathCheck(**{**path.check.to_dict(), "seconds_per_row": seconds})
    return path


def _seconds_per_row(predictor: Predictor, records: list[Any]) -> float | None:
    """Mean seconds of a single-record call, over `records` or `_TIMING_SECONDS` at most."""
    if not records:
        return None
    predictor.predict_records(records[:1])  # first-call costs (lazy imports, caches) aside
    start = time.perf_counter()
    deadline = start + _TIMING_SECONDS
    calls = 0
    for record in records:
        predictor.predict_records([record])
        calls += 1
        if time.perf_counter() > deadline:
            break
    return (time.perf_counter() - start) / calls


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "unmeasured"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds * 1e6:.0f} µs"


def _parity_frame(
    holdout: pd.DataFrame, features: tuple[str, ...], kinds: Mapping[str, str], rows: int
) -> pd.DataFrame:
    """Up to `rows` holdout rows, then probes: each feature missing, each category unseen."""
    base = holdout.loc[:, list(features)].iloc[:rows].reset_index(drop=True)
    head = base.iloc[:_PROBE_ROWS]
    probes = []
    nothing = np.zeros(len(head), dtype=bool)
    for name in features:
        missing = head.copy()
        missing[name] = head[name].where(nothing)
        probes.append(missing)
        if kinds.get(name) == "categorical":
            unseen = head.copy()
            unseen[name] = pd.Series([_UNSEEN] * len(head), index=head.index, dtype=object)
            probes.append(unseen)
    return pd.concat([base, *probes], ignore_index=True)


def _parity(
    kind: str,
    kernel: Kernel,
    encoder: Encoder,
    sample: pd.DataFrame,
    records: list[Any],
    reference: np.ndarray,
    labels: _Labels,
) -> PathCheck:
    """Compare a path with the native model on the sample, by records and by frame."""
    try:
        outputs = [kernel(encoder.encode_records(records)), kernel(encoder.encode_frame(sample))]
    except Exception as exc:
        text = " ".join(f"{type(exc).__name__}: {exc}".split())[:160]
        return PathCheck(kind, False, reason=f"it failed on the holdout ({text})")
    regression = labels.task == "regression"
    worst = 0.0
    worst_relative = 0.0
    differing = 0
    native_rows = 0
    for out in outputs:
        if out.shape != reference.shape or not np.isfinite(out).all():
            return PathCheck(
                kind,
                False,
                reason=f"it gave shape {out.shape} or non-finite numbers, not {reference.shape}",
            )
        gap = np.abs(out - reference)
        worst = max(worst, float(gap.max(initial=0.0)))
        if regression:
            relative = gap / np.maximum(1.0, np.abs(reference))
            worst_relative = max(worst_relative, float(relative.max(initial=0.0)))
        else:
            # As the predictor does: rows too close to call are the model's own.
            near = labels.near_boundary(out)
            native_rows = max(native_rows, int(near.sum()))
            settled = np.where(near[:, None], reference, out)
            differing = max(
                differing, int((labels.codes(settled) != labels.codes(reference)).sum())
            )
    measured = worst_relative if regression else worst
    same = None if regression else differing == 0
    passed = measured <= PARITY_TOLERANCE and differing == 0
    reason = ""
    if measured > PARITY_TOLERANCE:
        what = "relative difference of values" if regression else "difference of probabilities"
        reason = f"its largest {what} is {measured:.1e}, above {PARITY_TOLERANCE:.0e}"
    elif differing:
        reason = f"it predicts another class on {differing} of {len(reference):,} rows"
    return PathCheck(
        kind,
        passed,
        max_abs_diff=worst,
        max_rel_diff=worst_relative if regression else None,
        same_class=same,
        reason=reason,
        native_rows=native_rows,
    )
