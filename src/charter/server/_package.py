"""`charter package`: the files that build a container image serving one model version.

The image holds the charter (without its data), the model bundle (model.pkl and
reference.json with their sha256 in manifest.json, checked again at start), charter
installed from a wheel or from the package index under a constraints file, and an
entrypoint that runs `python -m charter.server` as a non-root user.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from charter.errors import CharterError, NotFoundError
from charter.server._config import STYLES, default_port
from charter.server._holder import (
    BUNDLE_MANIFEST,
    BUNDLE_MODEL,
    BUNDLE_PREDICTOR,
    BUNDLE_REFERENCE,
    LedgerSource,
)

#: Where the image keeps its files.
IMAGE_HOME = "/opt/charter"

_DOCKERFILE = """\
# The prediction server of project {project}, model version {version} ({style} style).
# Written by `charter package`; build it with:  docker build -t {image} .
{token_note}
FROM python:{python}-slim

ENV PYTHONDONTWRITEBYTECODE=1 \\
    PYTHONUNBUFFERED=1 \\
    PIP_NO_CACHE_DIR=1 \\
    PIP_DISABLE_PIP_VERSION_CHECK=1 \\
    CHARTER_HOME={home}

# charter and its dependencies, pinned by the constraints file.
COPY constraints.txt /tmp/charter/constraints.txt
{install}
# A user without privileges runs the server; only the log folder is writable.
RUN useradd --system --uid 10001 --no-create-home --home-dir {home} \\
        --shell /usr/sbin/nologin charter \\
    && mkdir -p {home}/serving \\
    && chown charter:charter {home}/serving

COPY project/ {home}/project/
COPY model/ {home}/model/
COPY entrypoint.sh {home}/entrypoint.sh
RUN chmod 0755 {home}/entrypoint.sh

USER charter
WORKDIR {home}
EXPOSE {port}
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \\
    CMD ["python", "-c", "{healthcheck}"]
ENTRYPOINT ["{home}/entrypoint.sh"]
"""

_ENTRYPOINT = """\
#!/bin/sh
# Runs the prediction server of project {project}, model version {version} ({style} style).
# Written by `charter package`. Environment (all optional):
#   {port_env:<16} the port (default {port})
#   CHARTER_HOST     the address to bind (default 0.0.0.0: the container's network)
#   CHARTER_HOME     where the image keeps the charter and the model (default {home})
#   CHARTER_LOG_DIR  the prediction log folder (default $CHARTER_HOME/serving)
#   CHARTER_PYTHON   the Python interpreter (default python)
#   CHARTER_ARGS     more options for `python -m charter.server` (e.g. --log-mode durable)
# SageMaker starts the image with the argument "serve": it is accepted and ignored.
set -eu
if [ "${{1:-}}" = "serve" ]; then
    shift
fi
CHARTER_HOME="${{CHARTER_HOME:-{home}}}"
# shellcheck disable=SC2086
exec "${{CHARTER_PYTHON:-python}}" -m charter.server \\
    --charter "$CHARTER_HOME/project/charter.yaml" \\
    --bundle "$CHARTER_HOME/model" \\
    --log-dir "${{CHARTER_LOG_DIR:-$CHARTER_HOME/serving}}" \\
    --style {style} \\
    --host "${{CHARTER_HOST:-0.0.0.0}}" \\
    --port "${{{port_env}:-{port}}}" \\
    ${{CHARTER_ARGS:-}} "$@"
"""


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def environment_constraints() -> str:
    """Every distribution installed here, pinned (charter itself excepted)."""
    pins: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if not name or name.lower() == "charter":
            continue
        pins.setdefault(name.lower().replace("_", "-"), dist.version)
    lines = [f"{name}=={version}" for name, version in sorted(pins.items())]
    return "# Pinned from the environment `charter package` ran in.\n" + "\n".join(lines) + "\n"


def write_package(
    charter_dir: Path | str,
    out_dir: Path | str,
    *,
    style: str = "default",
    version: int | None = None,
    alias: str = "champion",
    wheel: Path | str | None = None,
    constraints: Path | str | None = None,
    charter_file: str = "charter.yaml",
) -> list[Path]:
    """Write a Dockerfile, an entrypoint and the model bundle for one version; return the files.

    The version is `version`, else the one `alias` points at. `wheel` installs charter
    from that wheel (copied into the folder), else from the package index at this
    charter's version; `constraints` pins the dependencies (default: the versions
    installed here). The image serves on the style's port (SageMaker and Vertex 8080,
    Vertex's AIP_HTTP_PORT when set, Azure ML 5001, else serve.port). Existing files in
    `out_dir` are overwritten; nothing else there is touched.
    """
    from charter import __version__
    from charter.ledger import open_ledger
    from charter.serving import compile_predictor
    from charter.spec import load_charter

    if style not in STYLES:
        raise CharterError(
            f"The '--style' must be one of {', '.join(STYLES)}. Got {style!r} instead."
        )
    source_dir = Path(charter_dir)
    loaded = load_charter(source_dir / charter_file)
    charter = loaded.charter
    project = charter.project.name
    out = Path(out_dir)
    written: list[Path] = []

    def write(relative: str, data: bytes | str, mode: int | None = None) -> None:
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, str):
            path.write_text(data, encoding="utf-8", newline="\n")
        else:
            path.write_bytes(data)
        if mode is not None:
            path.chmod(mode)
        written.append(path)

    with open_ledger(loaded.base_dir, reap=False) as ledger:
        if version is None:
            record = ledger.get_alias(project, alias)
            if record is None:
                raise NotFoundError(
                    f"The alias '{alias}' of project '{project}' must point at a model version "
                    "to package. Got no such alias instead; run `charter promote` first."
                )
        else:
            record = ledger.get_model_version(project, version)
        files: dict[str, str] = {}
        for artifact in record.artifacts:
            name = BUNDLE_MODEL if artifact.name.endswith(".pkl") else artifact.name
            if name not in (BUNDLE_MODEL, BUNDLE_REFERENCE):
                continue
            data = ledger.load_artifact(artifact)  # sha256-checked against the ledger
            write(f"model/{name}", data)
            files[name] = _sha256(data)
        if BUNDLE_MODEL not in files:
            raise NotFoundError(
                f"The model version {record.version} of project '{project}' must hold a model "
                "artifact to package. Got none instead."
            )
        # Compile (and parity-check on the holdout) now: the image carries no data.
        loaded_version = LedgerSource(ledger, project, None, record.version).load(record.version)
        if loaded_version.predictor_bytes is not None:
            compiled = loaded_version.predictor_bytes
        else:
            predictor = compile_predictor(
                loaded_version.model, holdout=loaded_version.read_holdout()
            )
            compiled = predictor.to_bytes()
        write(f"model/{BUNDLE_PREDICTOR}", compiled)
        files[BUNDLE_PREDICTOR] = _sha256(compiled)
    manifest = {
        "project": project,
        "version": record.version,
        "alias": alias if version is None else None,
        "files": files,
        "charter_sha256": loaded.sha256,
        "charter_version": __version__,
        "lineage": record.lineage,
        "packaged_at": datetime.now(timezone.utc).isoformat(),
    }
    write(f"model/{BUNDLE_MANIFEST}", json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    write("project/charter.yaml", loaded.text)
    if constraints is not None:
        write("constraints.txt", Path(constraints).read_text(encoding="utf-8"))
    else:
        write("constraints.txt", environment_constraints())
    if wheel is not None:
        wheel_path = Path(wheel)
        if not wheel_path.is_file() or wheel_path.suffix != ".whl":
            raise CharterError(
                f"The '--wheel' must be a .whl file. Got {str(wheel_path)!r} instead."
            )
        target = out / "wheels" / wheel_path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(wheel_path, target)
        written.append(target)
        install = (
            f"COPY wheels/{wheel_path.name} /tmp/charter/\n"
            f"RUN pip install -c /tmp/charter/constraints.txt /tmp/charter/{wheel_path.name} \\\n"
            "    && rm -rf /tmp/charter\n"
        )
    else:
        install = (
            f'RUN pip install -c /tmp/charter/constraints.txt "charter=={__version__}" \\\n'
            "    && rm -rf /tmp/charter\n"
        )
    port = default_port(charter, style, environ={})
    port_env = "AIP_HTTP_PORT" if style == "vertex" else "PORT"
    token_env = charter.serve.token_env
    token_note = (
        f"# The bearer token comes from ${token_env} at run time (docker run -e {token_env}=...);\n"
        "# it is never baked into the image."
        if token_env
        else "# No serve.token_env: the prediction routes are open; put the service behind auth."
    )
    healthcheck = (
        f"import os, urllib.request; port = os.environ.get('{port_env}') or '{port}'; "
        "urllib.request.urlopen('http://127.0.0.1:' + port + '/health', timeout=4)"
    )
    values = {
        "healthcheck": healthcheck,
        "project": project,
        "version": record.version,
        "style": style,
        "image": f"{project.lower()}:{record.version}",
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
        "home": IMAGE_HOME,
        "install": install,
        "port": port,
        "port_env": port_env,
        "token_note": token_note,
    }
    write("Dockerfile", _DOCKERFILE.format(**values))
    write("entrypoint.sh", _ENTRYPOINT.format(**values), mode=0o755)
    return written
