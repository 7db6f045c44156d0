"""``faultline serve`` stops cleanly on SIGTERM (Kubernetes, systemd) exactly as on SIGINT (Ctrl-C): the temporary
folder it built the bundled demo in is removed either way."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_removes_the_demo_folder(start_faultline, tmp_path: Path, signum: signal.Signals) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    server = start_faultline(use_demo_case_dir=False, TMPDIR=str(scratch))  # no case given: serve builds the demo
    demo = list(scratch.glob("faultline-demo-*"))
    assert len(demo) == 1 and (demo[0] / "case" / "topology.json").exists(), "the demo was built in TMPDIR"
    with server.client() as c:
        assert c.get("/healthz").status_code == 200

    process = server.process
    assert process is not None
    process.send_signal(signum)
    code = process.wait(timeout=30)
    server.process = None

    assert not demo[0].exists(), f"{demo[0]} left behind after {signum.name}"
    assert code in (0, 130, 128 + signal.SIGTERM), code
    assert "Traceback" not in server.log()
