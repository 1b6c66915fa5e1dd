"""A moto S3 server on 127.0.0.1 for the whole session, reset between tests."""

from __future__ import annotations

import logging

import pytest


@pytest.fixture(scope="session")
def s3_server():
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
