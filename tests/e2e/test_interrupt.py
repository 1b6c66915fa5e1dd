"""Ctrl-C: stop launching, cancel what is in flight (ffmpeg included), keep nothing partial."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO

pytestmark = [pytest.mark.ffmpeg, pytest.mark.slow]


def _children_named(pid: int, name: str) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
                cmd = (d / "cmdline").read_bytes()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == pid and name.encode() in cmd:
                out.append(int(d.name))
    return out


def _start_until_ffmpeg_runs(cmd: list[str], cwd: Path, env: dict, sigint: Any) -> tuple[subprocess.Popen, list[int]]:
    """Start ``cmd`` with SIGINT at ``sigint`` and wait until it runs an ffmpeg (a segment encode)."""
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, sigint))
    deadline = time.monotonic() + 120
    ffmpeg: list[int] = []
    while time.monotonic() < deadline and not ffmpeg:
        ffmpeg = _children_named(proc.pid, "ffmpeg")
        time.sleep(0.05)
    assert ffmpeg, "no ffmpeg started"
    return proc, ffmpeg


def test_sigint_mid_encode_leaves_no_partial_cache_entry_and_resumes(tmp_path):
    shutil.copytree(REPO / "recipes", tmp_path / "recipes")
    shutil.copytree(REPO / "characters", tmp_path / "characters")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "vidflow", "run", "recipes/quickstart.yaml", "--plain"]
    # Ctrl-C as a person at a terminal sends it: with SIGINT at its default disposition. A suite
    # started in the background by a non-interactive shell inherits SIGINT *ignored*, and so
    # would vidflow (rightly: `nohup vidflow run &` must not stop on Ctrl-C).
    proc, ffmpeg = _start_until_ffmpeg_runs(cmd, tmp_path, env, signal.SIG_DFL)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-2000:]
    assert "interrupted" in err and "Traceback" not in err
    for pid in ffmpeg:  # the encode was cancelled, not left running
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()
    cache = tmp_path / "cache"
    assert not [p for p in cache.rglob("*") if ".tmp-" in p.name or p.name.endswith(".partial")]
    for manifest in (cache / "actions").glob("*.json"):
        for blob in json.loads(manifest.read_text())["blobs"].values():
            path = cache / "blobs" / "sha256" / blob["digest"][:2] / blob["digest"][2:]
            assert hashlib.sha256(path.read_bytes()).hexdigest() == blob["digest"]
    assert not list((tmp_path / "out").glob("*.mp4")) if (tmp_path / "out").exists() else True
    # the run record says it was interrupted
    [events] = list((tmp_path / "runs").glob("*/events.jsonl"))
    last = json.loads(events.read_text().splitlines()[-1])
    assert last["type"] == "run_finished" and last["data"]["interrupted"] is True
    # and the next run resumes: what was cached is reused, the rest is made
    again = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    assert len(list((tmp_path / "out").glob("*.mp4"))) == 2


@pytest.mark.parametrize("sigint", [signal.SIG_DFL, signal.SIG_IGN], ids=["terminal", "background-job"])
def test_sigterm_stops_a_run_as_ctrl_c_does(tmp_path, sigint):
    """`timeout`, CI systems and container runtimes stop a job with SIGTERM. It used to kill
    vidflow where it stood: no run_finished, ffmpeg work folders left behind. Also in a job
    started with `&` by a script, where Ctrl-C (SIGINT) is ignored and SIGTERM must still stop."""
    shutil.copytree(REPO / "recipes", tmp_path / "recipes")
    shutil.copytree(REPO / "characters", tmp_path / "characters")
    scratch = tmp_path / "scratch"
    env = {**os.environ, "PYTHONPATH": str(REPO), "VIDFLOW_SCRATCH_DIR": str(scratch)}
    proc, ffmpeg = _start_until_ffmpeg_runs([sys.executable, "-m", "vidflow", "run", "recipes/quickstart.yaml", "--plain"], tmp_path, env, sigint)
    helpers = _children_named(proc.pid, "atomicfile")
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-2000:]
    assert "interrupted" in err and "Traceback" not in err
    for pid in ffmpeg + helpers:  # the encode was cancelled and the cache writer stopped, not left running
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()
    assert not [p for p in scratch.iterdir()] if scratch.exists() else True  # no work folder left behind
    [events] = list((tmp_path / "runs").glob("*/events.jsonl"))
    last = json.loads(events.read_text().splitlines()[-1])
    assert last["type"] == "run_finished" and last["data"]["interrupted"] is True
