"""Serving: compiled predictors, batch scoring (and, beside them, the prediction log).

    predictor = compile_predictor(model, holdout=test)        # parity-checked fast path
    batch = predictor.predict_records([{"tenure": 3, "Contract": "One year", ...}])
    batch.labels, batch.probabilities                          # or batch.values (regression)
    predictor.explain_records(records)                         # LightGBM: contributions
    data = predictor.to_bytes(); Predictor.from_bytes(data, model)
    summary = score_file(model, predictor, check, Path("in.csv"), Path("out.parquet"),
                         id_column="customerID")
    summary = score_spark(session, {"model.pkl": (data, sha256), ...}, load,
                          "in.parquet", Path("out.parquet"), id_column="customerID")

`model` is charter.modeling's `FittedModel`, or anything with the `ModelLike` shape (this
package does not import modeling). `predictor.kind` says which path serves: "onnx",
"linear", "lightgbm" or "native"; `predictor.parity` says why, with the differences
measured on the holdout. Errors are `ServingError`s (a `CharterError`); unreadable score
files are `DataError`s.

The prediction log and the feedback (every answered prediction, and its delayed label):

    log = PredictionLog(folder, mode="durable")     # or "fast": buffered, written every 100 ms
    await asyncio.wrap_future(log.submit(records))  # durable: fsynced when it resolves
    feedback = FeedbackStore(folder, log=log)       # record(id, label) -> "created",
                                                    #   "duplicate", "conflict", "unknown", ...
    chunks, cursor = LogReader(folder).read(since)  # incremental; the cursor is plain JSON
    log.close()                                     # on shutdown: write, fsync, close
"""

from charter.serving._feedback import Feedback, FeedbackOutcome, FeedbackStats, FeedbackStore
from charter.serving._log import (
    FLUSH_INTERVAL_S,
    SEGMENT_MAX_BYTES,
    Cursor,
    LogChunk,
    LogMode,
    LogReader,
    LogStats,
    PredictionLog,
    PredictionLogError,
    SegmentInfo,
    Skipped,
    compact,
    probability_key,
    record_problem,
)
from charter.serving._predictor import (
    BIAS,
    PARITY_ROWS,
    PARITY_TOLERANCE,
    PREDICTOR_FORMAT_VERSION,
    FrameScores,
    ModelLike,
    ParityReport,
    PathCheck,
    PredictionBatch,
    Predictor,
    PredictorFormatError,
    ServingError,
    compile_predictor,
)
from charter.serving._score import (
    ContractCheck,
    ScoreProgress,
    ScoreSummary,
    score_file,
)
from charter.serving._score_spark import (
    Artifacts,
    LoadPredictor,
    checked_artifacts,
    loaded_predictor,
    score_spark,
)

__all__ = [
    "BIAS",
    "FLUSH_INTERVAL_S",
    "PARITY_ROWS",
    "PARITY_TOLERANCE",
    "PREDICTOR_FORMAT_VERSION",
    "SEGMENT_MAX_BYTES",
    "Artifacts",
    "ContractCheck",
    "Cursor",
    "Feedback",
    "FeedbackOutcome",
    "FeedbackStats",
    "FeedbackStore",
    "FrameScores",
    "LoadPredictor",
    "LogChunk",
    "LogMode",
    "LogReader",
    "LogStats",
    "ModelLike",
    "ParityReport",
    "PathCheck",
    "PredictionBatch",
    "PredictionLog",
    "PredictionLogError",
    "Predictor",
    "PredictorFormatError",
    "ScoreProgress",
    "ScoreSummary",
    "SegmentInfo",
    "ServingError",
    "Skipped",
    "checked_artifacts",
    "compact",
    "compile_predictor",
    "loaded_predictor",
    "probability_key",
    "record_problem",
    "score_file",
    "score_spark",
]
