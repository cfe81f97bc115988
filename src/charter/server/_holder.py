"""The model being served, loaded from the ledger (or a package bundle) and switched atomically.

A request reads `holder.current` once and uses that `Served` to the end, so a switch (one
attribute assignment) never changes the model under a request in flight. Loading and
compiling a new version runs in a worker thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from charter.errors import ArtifactIntegrityError, CharterError, NotFoundError
from charter.server._config import ServerConfig
from charter.serving import probability_key
from charter.serving._requests import RecordValidator, compile_validator

if TYPE_CHECKING:
    from charter.ledger import Ledger, ModelVersion
    from charter.modeling import FittedModel
    from charter.server._protocols import Predictor

logger = logging.getLogger("charter.server")

#: The files of a packaged model bundle, and the manifest that records their sha256.
BUNDLE_MODEL, BUNDLE_REFERENCE, BUNDLE_MANIFEST = "model.pkl", "reference.json", "manifest.json"
#: A predictor compiled (and parity-checked) ahead of time, loaded without recompiling.
BUNDLE_PREDICTOR = "predictor.bin"
_OTHER = "__other__"


@dataclass(frozen=True)
class Served:
    """One loaded model version, ready for requests: its predictor and request validator."""

    version: int
    predictor: Predictor
    validator: RecordValidator
    task: str
    classes: tuple[Any, ...]
    class_keys: tuple[str, ...]
    candidate: str
    loaded_at: float

    @property
    def is_classifier(self) -> bool:
        return self.task != "regression"


@dataclass(frozen=True)
class Loaded:
    """What a source hands over for one version: the model and what the validator needs."""

    version: int
    model: FittedModel
    known_categories: Mapping[str, frozenset[str]]
    holdout: Callable[[], Any] | None = None
    predictor_bytes: bytes | None = None

    def read_holdout(self) -> Any:
        """The holdout rows for a parity check (read only when a predictor is compiled)."""
        return None if self.holdout is None else self.holdout()


def known_categories(reference: Mapping[str, Any]) -> dict[str, frozenset[str]]:
    """The categories each categorical feature took in training, where the set is complete."""
    known: dict[str, frozenset[str]] = {}
    features = reference.get("features")
    if not isinstance(features, Mapping):
        return known
    for name, stats in features.items():
        if not isinstance(stats, Mapping) or stats.get("kind") != "categorical":
            continue
        counts = stats.get("counts")
        if isinstance(counts, Mapping) and not counts.get(_OTHER):
            known[str(name)] = frozenset(str(level) for level in counts if level != _OTHER)
    return known


class LedgerSource:
    """Model versions from the ledger: the alias's (followed) or one fixed version."""

    def __init__(
        self, ledger: Ledger, project: str, alias: str | None, version: int | None
    ) -> None:
        self.ledger = ledger
        self.project = project
        self.alias = alias
        self.version = version

    @property
    def follows(self) -> bool:
        return self.version is None and self.alias is not None

    def target(self) -> int:
        """The version that should be served now (a ledger read)."""
        if self.version is not None:
            return self.ledger.get_model_version(self.project, self.version).version
        assert self.alias is not None
        found = self.ledger.get_alias(self.project, self.alias)
        if found is None:
            raise NotFoundError(
                f"The alias '{self.alias}' of project '{self.project}' must point at a model "
                f"version to serve. Got no such alias instead; run `charter run` and "
                f"`charter promote` first."
            )
        return found.version

    def load(self, version: int) -> Loaded:
        from charter.modeling import FittedModel

        record = self.ledger.get_model_version(self.project, version)
        model_artifact = _named(record, ".pkl")
        if model_artifact is None:
            raise NotFoundError(
                f"The model version {version} of project '{self.project}' must hold a model "
                f"artifact. Got only {[a.name for a in record.artifacts]} instead."
            )
        # load_artifact checks the sha256 recorded at registration before we unpickle.
        model = FittedModel.from_bytes(self.ledger.load_artifact(model_artifact))
        known: dict[str, frozenset[str]] = {}
        reference = _named(record, "reference.json")
        if reference is not None:
            known = known_categories(json.loads(self.ledger.load_artifact(reference)))
        compiled = _named(record, BUNDLE_PREDICTOR)
        stored = self.ledger.load_artifact(compiled) if compiled is not None else None
        return Loaded(version, model, known, lambda: self._holdout(record), stored)

    def _holdout(self, record: ModelVersion) -> Any:
        """The holdout the version was validated on, for the predictor's parity check."""
        if record.run_id is None:
            return None
        try:
            for artifact in self.ledger.artifacts(self.project, run_id=record.run_id):
                if artifact.name == "test.parquet":
                    import pandas as pd

                    return pd.read_parquet(io.BytesIO(self.ledger.load_artifact(artifact)))
        except (CharterError, OSError, ValueError) as exc:
            logger.warning("The holdout of version %s could not be read: %s", record.version, exc)
        return None


def _named(record: ModelVersion, suffix: str) -> Any:
    for artifact in record.artifacts:
        if artifact.name.endswith(suffix):
            return artifact
    return None


class BundleSource:
    """One model version from a package bundle: model.pkl and reference.json, sha256-checked."""

    follows = False

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        manifest_path = self.folder / BUNDLE_MANIFEST
        try:
            self.manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CharterError(
                f"The model bundle must have a readable {BUNDLE_MANIFEST} at {manifest_path}. "
                f"Got {type(exc).__name__}: {exc} instead."
            ) from None

    def target(self) -> int:
        return int(self.manifest["version"])

    def verify(self) -> None:
        """Check every bundle file against the manifest (ArtifactIntegrityError if one changed)."""
        for name in self.manifest.get("files", {}):
            self._read(name)

    def _read(self, name: str) -> bytes:
        expected = self.manifest.get("files", {}).get(name)
        try:
            data = (self.folder / name).read_bytes()
        except OSError as exc:
            raise NotFoundError(
                f"The bundle file '{name}' must be readable in {self.folder}. "
                f"Got {type(exc).__name__}: {exc.strerror} instead."
            ) from None
        found = hashlib.sha256(data).hexdigest()
        if found != expected:
            raise ArtifactIntegrityError(
                f"The bundle file '{name}' must match its recorded sha256 {str(expected)[:12]}…. "
                f"Got {found[:12]}… instead; it was changed or corrupted after packaging."
            )
        return data

    def load(self, version: int) -> Loaded:
        from charter.modeling import FittedModel

        model = FittedModel.from_bytes(self._read(BUNDLE_MODEL))
        known: dict[str, frozenset[str]] = {}
        files = self.manifest.get("files", {})
        if BUNDLE_REFERENCE in files:
            known = known_categories(json.loads(self._read(BUNDLE_REFERENCE)))
        compiled = self._read(BUNDLE_PREDICTOR) if BUNDLE_PREDICTOR in files else None
        return Loaded(version, model, known, None, compiled)


def default_predictor_factory(model: FittedModel, holdout: Any) -> Predictor:
    """charter.serving's compiled predictor: the fastest path with parity on the holdout."""
    from charter.serving import compile_predictor

    return compile_predictor(model, holdout=holdout)


def stored_predictor(data: bytes, model: FittedModel) -> Predictor:
    """A predictor compiled ahead of time (its bytes hold no pickle), for `model`."""
    from charter.serving import Predictor as CompiledPredictor

    return CompiledPredictor.from_bytes(data, model)


class ModelHolder:
    """Holds the served model, and switches to the alias's new version when it moves."""

    def __init__(
        self,
        config: ServerConfig,
        source: LedgerSource | BundleSource,
        predictor_factory: Callable[[FittedModel, Any], Predictor] | None = None,
        after_switch: Callable[[Served | None, Served], Awaitable[None]] | None = None,
    ) -> None:
        self.config = config
        self.source = source
        self.factory = predictor_factory or config.predictor_factory or default_predictor_factory
        self.after_switch = after_switch
        self.current: Served | None = None
        self.failed_version: int | None = None
        self._lock = asyncio.Lock()
        self._thread_lock = threading.Lock()

    def compile(self, loaded: Loaded) -> Served:
        """A `Served` for a loaded version (sync: call it in a worker thread)."""
        model = loaded.model
        predictor: Predictor | None = None
        if loaded.predictor_bytes is not None and self.config.predictor_factory is None:
            try:
                predictor = stored_predictor(loaded.predictor_bytes, model)
            except CharterError as exc:
                logger.warning("The stored predictor cannot be used; compiling anew: %s", exc)
        if predictor is None:
            predictor = self.factory(model, loaded.read_holdout())
        features = list(getattr(predictor, "features", None) or model.features)
        validator = compile_validator(
            self.config.charter,
            features,
            kinds=dict(model.kinds),
            known_categories=loaded.known_categories,
        )
        classes = tuple(model.classes)
        return Served(
            version=loaded.version,
            predictor=predictor,
            validator=validator,
            task=model.task,
            classes=classes,
            class_keys=tuple(probability_key(c) for c in classes),
            candidate=model.candidate,
            loaded_at=time.time(),
        )

    def load_version(self, version: int) -> Served:
        """Load and compile `version` (sync, in a worker thread)."""
        return self.compile(self.source.load(version))

    def _swap(self, served: Served) -> Served | None:
        with self._thread_lock:
            previous = self.current
            self.current = served  # the switch: one assignment
        return previous

    async def start(self) -> Served:
        """Load the version to serve at startup; raises when it cannot be loaded."""
        version = await asyncio.to_thread(self.source.target)
        served = await asyncio.to_thread(self.load_version, version)
        self._swap(served)
        return served

    async def refresh(self) -> bool:
        """Switch when the alias moved; True when a switch happened. Never fails a request.

        A version that fails to load is logged and skipped until the alias moves again,
        so the server keeps serving the model it has.
        """
        if not self.source.follows:
            return False
        async with self._lock:
            target = await asyncio.to_thread(self.source.target)
            current = self.current
            if current is not None and target == current.version:
                return False
            if target == self.failed_version:
                return False
            try:
                served = await asyncio.to_thread(self.load_version, target)
            except Exception as exc:
                self.failed_version = target
                logger.error("Version %s could not be loaded; still serving: %s", target, exc)
                return False
            self.failed_version = None
            previous = self._swap(served)
            if self.after_switch is not None:
                await self.after_switch(previous, served)
            return True

    async def poll(self, seconds: float) -> None:
        """Refresh every `seconds` until cancelled; errors are logged, never raised."""
        while True:
            await asyncio.sleep(seconds)
            try:
                await self.refresh()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("The alias could not be checked: %s", exc)


def time_to_deploy(ledger: Ledger, project: str, now: datetime | None = None) -> float | None:
    """Seconds from the charter's first revision to now, when the ledger has one."""
    revisions = ledger.revisions(project)
    if not revisions:
        return None
    first = min(r.created_at for r in revisions)
    now = now or datetime.now(timezone.utc)
    if first.tzinfo is None:
        first = first.replace(tzinfo=timezone.utc)
    return max(0.0, (now - first).total_seconds())
