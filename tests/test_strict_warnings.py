"""The suite's own configuration fails a test that leaks (issue 9, must-show 6).

The README's plain ``pytest -q`` (what CI runs) has no ``-W`` flag: the strictness lives in
``filterwarnings`` of pyproject.toml, and the scratch-folder check in the ``session_tmpdir``
fixture of tests/conftest.py. Here throwaway test files that leak are run by pytest in a
subprocess under that very configuration and conftest: each leak must fail, and a clean test
beside them must pass (so a failure is the leak's, not the harness's).
"""

from __future__ import annotations

import re
import subprocess
import sys

from tests.conftest import REPO

LEAKS = '''
import asyncio
import threading


def test_clean(tmp_path):
    with open(tmp_path / "f", "w") as f:
        f.write("x")


def test_an_open_file_is_dropped(tmp_path):
    (tmp_path / "f").write_text("x")
    open(tmp_path / "f")  # never closed: ResourceWarning where it is dropped


def test_a_socket_transport_is_left_open():
    async def go():
        server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        _, writer = await asyncio.open_connection("127.0.0.1", port)  # never closed
        server.close()
        return writer

    asyncio.run(go())  # the transport's __del__ warns: an unraisable exception


def test_a_thread_dies_of_an_exception():
    t = threading.Thread(target=lambda: 1 / 0)
    t.start()
    t.join()
'''


def test_the_configured_suite_fails_each_kind_of_leak(tmp_path):
    (tmp_path / "test_leaks.py").write_text(LEAKS)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-c", str(REPO / "pyproject.toml"), "--rootdir", str(tmp_path),
         "-p", "no:cacheprovider", "-rA", "-q", str(tmp_path / "test_leaks.py")],
        cwd=tmp_path, capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    # a test may show twice (PASSED in its call, then ERROR in its teardown): keep every status
    outcomes: dict[str, set[str]] = {}
    for status, name in re.findall(r"^(PASSED|FAILED|ERROR) \S*::(\w+)", out, re.M):
        outcomes.setdefault(name, set()).add(status)
    assert outcomes.get("test_clean") == {"PASSED"}, out
    for leak in ("test_an_open_file_is_dropped", "test_a_socket_transport_is_left_open", "test_a_thread_dies_of_an_exception"):
        assert outcomes.get(leak, set()) & {"FAILED", "ERROR"}, f"{leak} leaked and still passed:\n{out}"
    assert proc.returncode == 1, out


SCRATCH_LEAK = '''
from vidflow.scratch import Scratch

KEPT = []


def test_a_scratch_folder_is_never_closed():
    KEPT.append(Scratch.open())  # held to the end of the session, never closed
'''

SCRATCH_CLEAN = '''
from vidflow.scratch import Scratch


def test_a_scratch_folder_is_closed():
    with Scratch.open() as s:
        s.mkdtemp()
'''


def _session(tmp_path, name: str, body: str) -> subprocess.CompletedProcess:
    folder = tmp_path / name
    (folder / "tests").mkdir(parents=True)
    (folder / "tests" / "conftest.py").write_text((REPO / "tests" / "conftest.py").read_text())
    (folder / "tests" / f"test_{name}.py").write_text(body)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-c", str(REPO / "pyproject.toml"), "--rootdir", str(folder),
         "-p", "no:cacheprovider", "-q", str(folder / "tests")],
        cwd=folder, capture_output=True, text=True, timeout=300)


def test_a_session_that_leaves_a_scratch_folder_fails(tmp_path):
    clean = _session(tmp_path, "clean", SCRATCH_CLEAN)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    leak = _session(tmp_path, "leak", SCRATCH_LEAK)
    out = leak.stdout + leak.stderr
    assert leak.returncode == 1 and "scratch folders still there after the session" in out, out
