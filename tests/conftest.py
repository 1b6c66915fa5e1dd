"""Shared fixtures: a clean environment, a scratch project folder, test providers.

Test providers (tests/fakes.py) are adapters registered in a test Registry, the way a third
party's would be: vidflow's own code is never mocked.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

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
