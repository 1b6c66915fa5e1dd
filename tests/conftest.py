"""Shared fixtures: a clean environment, a scratch project folder, test providers, and a session
check that vidflow leaves no temporary folder behind.

Test providers (tests/fakes.py) are adapters registered in a test Registry, the way a third
party's would be: vidflow's own code is never mocked.
"""

from __future__ import annotations

import gc
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# The machine's temp dir, read before the session moves TMPDIR (see session_tmpdir).
SYSTEM_TMP = os.path.realpath(tempfile.gettempdir())


def _vidflow_entries(folder: str) -> set[str]:
    try:
        return {n for n in os.listdir(folder) if n.startswith("vidflow")}
    except FileNotFoundError:
        return set()


class _SystemTmpWatch:
    """Audit hook: ``vidflow*`` names this process creates directly in the machine's temp dir.

    Other vidflow processes on a shared machine (other checkouts' test runs) write there too, so
    a before/after listing alone would blame this session for their folders; a new entry only
    counts when this process made it. Subprocesses of the session get TMPDIR instead.
    """

    EVENTS = {"os.mkdir": 0, "open": 0, "os.rename": 1, "os.replace": 1, "os.symlink": 1, "os.link": 1}

    def __init__(self) -> None:
        self.active = False
        self.made: set[str] = set()

    def __call__(self, event: str, args: tuple) -> None:
        at = self.EVENTS.get(event) if self.active else None
        if at is None:
            return
        try:  # an audit hook that raises would break the operation it watches
            path = args[at]
            if not isinstance(path, (str, bytes, os.PathLike)):
                return  # a file descriptor
            path = os.fsdecode(path)
            name = os.path.basename(path)
            if name.startswith("vidflow") and os.path.realpath(os.path.dirname(path) or ".") == SYSTEM_TMP:
                self.made.add(name)
        except Exception:
            pass


_WATCH = _SystemTmpWatch()
sys.addaudithook(_WATCH)  # hooks cannot be removed: it does nothing unless active


@pytest.fixture(scope="session", autouse=True)
def session_tmpdir(tmp_path_factory):
    """Every temporary file of the session goes under one folder, and vidflow must remove its own.

    TMPDIR (inherited by CLI subprocesses and Dask workers) and ``tempfile.tempdir`` point at a
    session folder, so vidflow's default scratch root is ``<it>/vidflow-scratch``. At the end:
    that root is empty (every run and store closed the scratch folder it opened, before the
    garbage collector had to), no other ``vidflow*`` entry is in the session folder, and this
    process created no ``vidflow*`` entry directly in the machine's temp dir.
    """
    before = _vidflow_entries(SYSTEM_TMP)
    root = tmp_path_factory.mktemp("tmpdir")
    mp = pytest.MonkeyPatch()
    mp.setenv("TMPDIR", str(root))
    mp.setattr(tempfile, "tempdir", str(root))
    _WATCH.active = True
    try:
        yield root
    finally:
        _WATCH.active = False
        mp.undo()
    from vidflow.scratch import DEFAULT_ROOT_NAME

    scratch = root / DEFAULT_ROOT_NAME
    open_at_end = sorted(os.listdir(scratch)) if scratch.is_dir() else []
    gc.collect()  # a Scratch nobody closed removes its folder when collected: tell the two apart
    still_open = sorted(os.listdir(scratch)) if scratch.is_dir() else []
    problems = []
    if still_open:
        problems.append(f"scratch folders still there after the session: {still_open}")
    if set(open_at_end) - set(still_open):
        problems.append(f"scratch folders only the garbage collector removed (a run or store was not closed): {sorted(set(open_at_end) - set(still_open))}")
    stray = sorted(_vidflow_entries(str(root)) - {DEFAULT_ROOT_NAME})
    if stray:
        problems.append(f"vidflow entries left in the session's temp dir {root}: {stray}")
    ours = sorted((_vidflow_entries(SYSTEM_TMP) - before) & _WATCH.made)
    if ours:
        problems.append(f"vidflow entries this session created directly in {SYSTEM_TMP}: {ours}")
    assert not problems, "\n".join(problems)

_SCRUB = ("OPENAI_API_KEY", "ELEVENLABS_API_KEY", "TOGETHER_API_KEY", "TOGETHERAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for k in list(os.environ):
        if k.startswith("VIDFLOW_") or k in _SCRUB:
            monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A scratch project: characters/ copied from the repo, cwd set to it."""
    shutil.copytree(REPO / "characters", tmp_path / "characters")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def calls():
    from tests import fakes

    fakes.CALLS.clear()
    return fakes.CALLS


@pytest.fixture
def registry(calls):
    from tests import fakes
    from vidflow.providers.registry import Registry

    reg = Registry(entry_point_group=None)
    for cls in (fakes.FakeText, fakes.FakeSpeech, fakes.FakeImage, fakes.FailingImage, fakes.SlowText, fakes.PaidSpeech, fakes.FlakySpeech):
        reg.register(cls.kind, cls)
    return reg


@pytest.fixture
async def adapters_closed():
    """Closes, on the test's own event loop, every adapter the test made through a factory that
    calls ``tests.closing.opened`` (see tests/closing.py)."""
    from tests import closing

    closing.reset()
    yield
    await closing.close_opened()


# --------------------------------------------------------------------------- S3 (moto on 127.0.0.1)


@pytest.fixture(scope="session")
def s3_server():
    """A moto S3 server on 127.0.0.1 for the whole session."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    srv = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    srv.start()
    host, port = srv.get_host_and_port()
    yield f"http://{host}:{port}"
    srv.stop()


@pytest.fixture
def s3(s3_server, monkeypatch):
    """A fresh bucket `vidflow-test` and the endpoint in vidflow's settings variable."""
    import urllib.request

    import fsspec

    urllib.request.urlopen(urllib.request.Request(f"{s3_server}/moto-api/reset", method="POST")).read()
    monkeypatch.setenv("VIDFLOW_S3_ENDPOINT_URL", s3_server)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")  # no LocationConstraint on create
    fs = fsspec.filesystem("s3", client_kwargs={"endpoint_url": s3_server}, skip_instance_cache=True)
    fs.mkdir("vidflow-test")
    fs.invalidate_cache()
    return fs
