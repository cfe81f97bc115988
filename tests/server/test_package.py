"""`charter package`: the Dockerfile and entrypoint, and the entrypoint really serving the model."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import sys
from pathlib import Path

import httpx
import pytest

from charter.errors import NotFoundError
from charter.server import write_package
from tests.server.conftest import TOKEN, Output, free_port, spawn, stop_process
from tests.server.test_requests import RECORD


@pytest.fixture
def package(project: Path, tmp_path: Path) -> Path:
    out = tmp_path / "image"
    write_package(project, out, style="sagemaker")
    return out


def test_the_package_holds_what_the_image_needs_and_no_data(package: Path, project: Path) -> None:
    names = sorted(str(p.relative_to(package)) for p in package.rglob("*") if p.is_file())
    assert names == [
        "Dockerfile",
        "constraints.txt",
        "entrypoint.sh",
        "model/manifest.json",
        "model/model.pkl",
        "model/predictor.bin",
        "model/reference.json",
        "project/charter.yaml",
    ]
    assert (package / "project" / "charter.yaml").read_text() == (
        project / "charter.yaml"
    ).read_text()
    manifest = json.loads((package / "model" / "manifest.json").read_text())
    assert (manifest["project"], manifest["version"], manifest["alias"]) == (
        "telco-churn",
        1,
        "champion",
    )
    for name, sha in manifest["files"].items():
        assert hashlib.sha256((package / "model" / name).read_bytes()).hexdigest() == sha
    constraints = (package / "constraints.txt").read_text()
    assert "fastapi==" in constraints
    assert "\ncharter==" not in constraints


def test_the_dockerfile(package: Path) -> None:
    text = (package / "Dockerfile").read_text()
    major, minor = sys.version_info[:2]
    assert f"FROM python:{major}.{minor}-slim\n" in text
    assert 'RUN pip install -c /tmp/charter/constraints.txt "charter==' in text
    assert "useradd --system --uid 10001" in text
    assert "\nUSER charter\n" in text
    assert text.index("USER charter") < text.index("ENTRYPOINT")
    assert "\nEXPOSE 8080\n" in text
    assert "HEALTHCHECK --interval=30s" in text
    assert "/health" in text
    assert 'ENTRYPOINT ["/opt/charter/entrypoint.sh"]' in text
    assert "COPY model/ /opt/charter/model/" in text
    assert "chown charter:charter /opt/charter/serving" in text
    assert "CHARTER_TOKEN" in text  # says where the token comes from
    assert TOKEN not in text


def test_the_entrypoint_script(package: Path) -> None:
    path = package / "entrypoint.sh"
    assert path.stat().st_mode & stat.S_IXUSR
    text = path.read_text()
    assert text.startswith("#!/bin/sh\n")
    assert "-m charter.server" in text
    assert "--style sagemaker" in text
    assert '--port "${PORT:-8080}"' in text
    assert '--bundle "$CHARTER_HOME/model"' in text


@pytest.mark.parametrize(
    ("style", "port", "variable"),
    [("vertex", 8080, "AIP_HTTP_PORT"), ("azure", 5001, "PORT"), ("default", 8000, "PORT")],
)
def test_each_style_listens_where_its_platform_expects(
    project: Path, tmp_path: Path, style: str, port: int, variable: str
) -> None:
    out = tmp_path / style
    write_package(project, out, style=style)
    assert f"\nEXPOSE {port}\n" in (out / "Dockerfile").read_text()
    assert f'--port "${{{variable}:-{port}}}"' in (out / "entrypoint.sh").read_text()


def test_a_wheel_is_copied_and_installed(project: Path, tmp_path: Path) -> None:
    wheel = tmp_path / "charter-0.1.0-py3-none-any.whl"
    wheel.write_bytes(b"not really a wheel")
    constraints = tmp_path / "pins.txt"
    constraints.write_text("numpy==2.0.0\n")
    out = tmp_path / "image"
    written = write_package(project, out, style="azure", wheel=wheel, constraints=constraints)
    assert out / "wheels" / wheel.name in written
    text = (out / "Dockerfile").read_text()
    assert f"COPY wheels/{wheel.name} /tmp/charter/" in text
    assert f"pip install -c /tmp/charter/constraints.txt /tmp/charter/{wheel.name}" in text
    assert (out / "constraints.txt").read_text() == "numpy==2.0.0\n"


def test_nothing_to_package_is_a_clear_error(project: Path, tmp_path: Path) -> None:
    with pytest.raises(
        NotFoundError, match=r"The alias 'production' of project 'telco-churn' must point"
    ):
        write_package(project, tmp_path / "image", alias="production")


def run_entrypoint(package: Path, tmp_path: Path) -> tuple[Output, str]:
    port = free_port()
    env = {
        "CHARTER_HOME": str(package),
        "CHARTER_PYTHON": sys.executable,
        "CHARTER_HOST": "127.0.0.1",
        "CHARTER_LOG_DIR": str(tmp_path / "logs"),
        "PORT": str(port),
        "CHARTER_TOKEN": TOKEN,
    }
    # A folder without the project's data or ledger: the bundle is all the server has.
    process = spawn(["/bin/sh", str(package / "entrypoint.sh"), "serve"], env, cwd=tmp_path)
    return Output(process), f"http://127.0.0.1:{port}"


def test_the_entrypoint_starts_the_server_on_the_bundle(
    package: Path, tmp_path: Path, kind: str
) -> None:
    output, url = run_entrypoint(package, tmp_path)
    try:
        output.wait_ready()
        with httpx.Client(base_url=url, timeout=30) as client:
            assert client.get("/health").json() == {"status": "ok"}
            assert client.get("/ping").json()["predictor"] == kind
            headers = {"authorization": f"Bearer {TOKEN}"}
            answer = client.post("/invocations", json={"instances": [RECORD]}, headers=headers)
            assert answer.status_code == 200, answer.text
            assert answer.json()["predictions"][0]["model_version"] == 1
            assert client.post("/invocations", json=RECORD).status_code == 401
    finally:
        text = stop_process(output.process, output)
    assert "Uvicorn running on http://127.0.0.1:" in text
    assert TOKEN not in text
    assert any((tmp_path / "logs").glob("segment-*"))


def test_a_tampered_bundle_refuses_to_start(package: Path, tmp_path: Path) -> None:
    model = package / "model" / "model.pkl"
    model.write_bytes(model.read_bytes() + b"tampered")
    output, _url = run_entrypoint(package, tmp_path)
    output.process.wait(timeout=60)
    text = output.finish()
    assert output.process.returncode == 1
    assert "error: The bundle file 'model.pkl' must match its recorded sha256" in text
    assert not os.path.exists(tmp_path / "logs" / "feedback.sqlite")
