"""A cache on a disk that fills up mid-run: nodes fail with a message naming the disk, nothing
half-written is left, no traceback. Runs where the test may mount a small tmpfs (root on Linux)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import REPO

pytestmark = [pytest.mark.ffmpeg, pytest.mark.slow]


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "small"
    mount.mkdir()
    if sys.platform != "linux" or os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root on Linux to mount a small tmpfs")
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_a_full_cache_disk_fails_nodes_naming_it(tmp_path, small_disk):
    shutil.copytree(REPO / "recipes", tmp_path / "recipes")
    shutil.copytree(REPO / "characters", tmp_path / "characters")
    env = {**os.environ, "PYTHONPATH": str(REPO), "VIDFLOW_CACHE": str(small_disk / "cache")}
    proc = subprocess.run([sys.executable, "-m", "vidflow", "run", "recipes/quickstart.yaml", "--plain"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    assert "DiskFullError: no space left on the disk holding small/cache/" in proc.stdout + proc.stderr  # (relative to where it runs)
    assert not [p for p in small_disk.rglob("*") if ".tmp-" in p.name]  # no temp file left behind
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").glob("*.mp4"))
