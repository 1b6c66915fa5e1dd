"""Scratch space: one root, one locked folder per process, and a sweep that removes only the dead."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from tests.conftest import REPO
from vidflow.scratch import Scratch, default_root, sweep_stale
from vidflow.settings import Settings

CHILD = """
import sys
from vidflow.scratch import Scratch
s = Scratch.open(sys.argv[1])
work = s.mkdtemp("vidflow-seg-")
open(work + "/frame.png", "wb").write(b"x" * 1000)
print(s.path, flush=True)
sys.stdin.read()  # live until the test says otherwise
"""


def _close(p: subprocess.Popen) -> None:
    for pipe in (p.stdin, p.stdout):
        pipe.close()
    p.wait()


def _child(root):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    p = subprocess.Popen([sys.executable, "-c", CHILD, str(root)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True)
    path = p.stdout.readline().strip()
    assert path, "the child did not open its scratch folder"
    return p, path


def test_a_scratch_folder_lives_under_the_root_and_close_removes_it(tmp_path):
    root = tmp_path / "root"
    with Scratch.open(str(root)) as s:
        assert os.path.dirname(s.path) == str(root)
        assert os.path.basename(s.path).startswith(f"p{os.getpid()}-")
        d = s.mkdtemp("vidflow-audio-")
        assert os.path.isdir(d) and os.path.dirname(d) == s.path
    assert s.closed and not os.path.exists(s.path)
    assert os.listdir(root) == []
    s.close()  # idempotent
    with pytest.raises(ValueError):
        s.mkdtemp()


def test_a_sigkilled_process_folder_is_swept_and_a_live_one_is_not(tmp_path):
    root = tmp_path / "root"
    live, live_path = _child(root)
    doomed, doomed_path = _child(root)
    try:
        assert sweep_stale(str(root)) == []  # both alive: nothing touched
        assert os.path.isdir(live_path) and os.path.isdir(doomed_path)
        doomed.send_signal(signal.SIGKILL)
        doomed.wait()
        assert os.path.isdir(doomed_path)  # SIGKILL: no chance to clean up
        assert sweep_stale(str(root)) == [doomed_path]
        assert not os.path.exists(doomed_path)
        assert os.path.isdir(live_path) and os.listdir(live_path)
    finally:
        _close(live)  # stdin closed: the live child exits normally and removes its own folder
        _close(doomed)
    assert not os.path.exists(live_path)


def test_the_sweep_never_takes_this_process_own_folder(tmp_path):
    with Scratch.open(str(tmp_path)) as mine:
        assert sweep_stale(str(tmp_path)) == []
        assert os.path.isdir(mine.path)


def test_opening_a_scratch_sweeps_the_dead_first(tmp_path):
    doomed, doomed_path = _child(tmp_path)
    doomed.kill()
    _close(doomed)
    with Scratch.open(str(tmp_path)):
        assert not os.path.exists(doomed_path)


def test_a_folder_without_a_lock_file_is_stale_and_other_files_are_left_alone(tmp_path):
    orphan = tmp_path / "p12345-abcdef012345"
    (orphan / "x").mkdir(parents=True)
    (tmp_path / "not-ours").mkdir()
    (tmp_path / "p-not-a-scratch").mkdir()
    assert sweep_stale(str(tmp_path)) == [str(orphan)]
    assert sorted(os.listdir(tmp_path)) == ["not-ours", "p-not-a-scratch"]


def test_an_unfinished_init_folder_is_only_swept_when_old(tmp_path):
    init = tmp_path / ".init-0123456789abcdef"
    init.mkdir()
    assert sweep_stale(str(tmp_path)) == []
    os.utime(init, (0, 0))
    assert sweep_stale(str(tmp_path)) == [str(init)]


def test_the_root_comes_from_the_setting_or_tmpdir(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # recomputed from TMPDIR
    assert default_root() == str(tmp_path / "vidflow-scratch")
    settings = Settings.from_env({"VIDFLOW_SCRATCH_DIR": str(tmp_path / "mine")})
    assert settings.scratch_dir == str(tmp_path / "mine")
    assert default_root(settings.scratch_dir) == str(tmp_path / "mine")
    assert Settings.from_env({}).scratch_dir is None


def test_a_forgotten_scratch_is_removed_when_collected(tmp_path):
    import gc

    s = Scratch.open(str(tmp_path))
    path = s.path
    del s
    gc.collect()
    assert not os.path.exists(path)
