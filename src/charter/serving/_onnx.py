"""The estimator as an ONNX graph, run by onnxruntime on the encoded matrix.

Only the estimator is converted (skl2onnx for scikit-learn, onnxmltools for LightGBM);
the encoding in front of it is charter's own `Encoder`. Converting the whole pipeline is
not possible (its first step, charter's FramePrep, has no converter), and one float
tensor is cheaper to feed onnxruntime than one tensor per column.

Tree models take float32 input, the precision scikit-learn's trees and ONNX's tree
ensembles compare in; other models take float64 where the converter allows it, so that
their arithmetic matches scikit-learn's. The parity check decides whether a graph is used.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from charter.serving._fastpath import UnsupportedPipeline, inner_estimator

DType = Literal["float32", "float64"]
#: The name of the graph's one input.
INPUT = "input"
#: Longest converter message kept in a reason.
_REASON_CHARS = 160


class OnnxKernel:
    """An ONNX graph of the estimator: encoded rows in, probabilities or values out."""

    def __init__(self, model: bytes, dtype: DType, output: str, task: str) -> None:
        import onnxruntime

        self.model = model
        self.dtype: DType = dtype
        self.output = output
        self.task = task
        options = onnxruntime.SessionOptions()
        # One request is one small matrix: a thread pool costs more than it saves.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only: shape notes would go to stderr per run
        self.session = onnxruntime.InferenceSession(
            model, options, providers=["CPUExecutionProvider"]
        )
        self._numpy = np.float32 if dtype == "float32" else np.float64

    def __call__(self, encoded: np.ndarray) -> np.ndarray:
        feed = {INPUT: np.ascontiguousarray(encoded, dtype=self._numpy)}
        result = np.asarray(self.session.run([self.output], feed)[0], dtype=np.float64)
        if self.task == "regression":
            return result.reshape(-1)
        return result


def dtypes_for(estimator: Any) -> tuple[DType, ...]:
    """The input types to try for `estimator`, in order."""
    module = type(inner_estimator(estimator)).__module__
    if module.startswith(("lightgbm", "sklearn.ensemble", "sklearn.tree")):
        return ("float32",)
    return ("float64", "float32")


def convert(estimator: Any, task: str, width: int, dtype: DType) -> OnnxKernel:
    """`estimator` as an `OnnxKernel` taking `width` columns; `UnsupportedPipeline` if it fails."""
    estimator = inner_estimator(estimator)
    name = type(estimator).__name__
    classifier = task != "regression"
    try:
        if type(estimator).__module__.startswith("lightgbm"):
            graph = _lightgbm(estimator, width, dtype, classifier)
            tool = "onnxmltools"
        else:
            graph = _sklearn(estimator, width, dtype, classifier)
            tool = "skl2onnx"
    except Exception as exc:
        converter = (
            "onnxmltools" if type(estimator).__module__.startswith("lightgbm") else "skl2onnx"
        )
        raise UnsupportedPipeline(
            f"{converter} cannot convert {name} ({dtype}): {_short(exc)}"
        ) from None
    outputs = [output.name for output in graph.graph.output]
    if classifier:
        output = "probabilities" if "probabilities" in outputs else outputs[-1]
    else:
        output = outputs[0]
    try:
        return OnnxKernel(graph.SerializeToString(), dtype, output, task)
    except Exception as exc:
        raise UnsupportedPipeline(
            f"onnxruntime cannot load the {tool} graph of {name}: {_short(exc)}"
        ) from None


def _sklearn(estimator: Any, width: int, dtype: DType, classifier: bool) -> Any:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType

    tensor = FloatTensorType if dtype == "float32" else DoubleTensorType
    options = {id(estimator): {"zipmap": False}} if classifier else None
    return convert_sklearn(
        estimator, initial_types=[(INPUT, tensor([None, width]))], options=options
    )


def _lightgbm(estimator: Any, width: int, dtype: DType, classifier: bool) -> Any:
    if dtype != "float32":
        raise ValueError("LightGBM graphs take float32 input only")
    from onnxmltools import convert_lightgbm
    from onnxmltools.convert.common.data_types import FloatTensorType

    types = [(INPUT, FloatTensorType([None, width]))]
    if classifier:
        return convert_lightgbm(estimator, initial_types=types, zipmap=False)
    return convert_lightgbm(estimator, initial_types=types)


def _short(exc: BaseException) -> str:
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= _REASON_CHARS else text[: _REASON_CHARS - 1] + "…"
