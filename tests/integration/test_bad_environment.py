"""A cache, runs folder or scratch folder that cannot be used is the user's setup to fix: one
message naming it and the variable or flag to change, exit 2, no traceback, before any work."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

RECIPE = """\
vidflow: 1
name: env
topics: ["Alpha"]
providers:
  w: {kind: text.offline}
steps:
  a: {uses: w, prompt: "Hello {{ topic }}"}
"""


def vidflow(cwd, *args, **env):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("VIDFLOW_", "AWS_"))}
    return subprocess.run([sys.executable, "-m", "vidflow", *args], cwd=cwd, capture_output=True, text=True, timeout=120, env={**clean, **env})


@pytest.fixture
def project(tmp_path):
    (tmp_path / "r.yaml").write_text(RECIPE)
    (tmp_path / "afile").write_text("not a folder")
    return tmp_path


@pytest.mark.parametrize("command", [["run", "r.yaml"], ["plan", "r.yaml"], ["cache", "stats"], ["show", "r.yaml", "alpha"]])
def test_a_cache_path_through_a_file(project, command):
    proc = vidflow(project, *command, VIDFLOW_CACHE=str(project / "afile" / "cache"))
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert f"cache {project / 'afile' / 'cache'}: cannot use it" in proc.stderr and "VIDFLOW_CACHE" in proc.stderr
    assert not (project / "runs").exists() or not any((project / "runs").iterdir())


def test_a_runs_folder_through_a_file(project):
    proc = vidflow(project, "run", "r.yaml", VIDFLOW_RUNS_DIR=str(project / "afile" / "runs"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "runs folder" in proc.stderr and "VIDFLOW_RUNS_DIR" in proc.stderr


def test_a_scratch_folder_through_a_file_is_refused_before_any_work(project):
    proc = vidflow(project, "run", "r.yaml", VIDFLOW_SCRATCH_DIR=str(project / "afile" / "tmp"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "scratch folder" in proc.stderr and "VIDFLOW_SCRATCH_DIR" in proc.stderr
    assert not (project / "cache" / "actions").exists()  # nothing was made


def test_an_unknown_cache_protocol(project):
    proc = vidflow(project, "run", "r.yaml", VIDFLOW_CACHE="nosuchproto://bucket/cache")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "cache nosuchproto://bucket/cache: cannot open it" in proc.stderr


def test_an_s3_cache_without_credentials_names_what_to_set(project):
    proc = vidflow(
        project, "plan", "r.yaml", VIDFLOW_CACHE="s3://bucket/cache", VIDFLOW_S3_ENDPOINT_URL="http://127.0.0.1:9",
        AWS_CONFIG_FILE=str(project / "none"), AWS_SHARED_CREDENTIALS_FILE=str(project / "none"), AWS_EC2_METADATA_DISABLED="true",
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "cache s3://bucket/cache: cannot use it" in proc.stderr and "AWS_ACCESS_KEY_ID" in proc.stderr


def test_a_dask_address_that_is_not_one(project):
    pytest.importorskip("distributed")
    proc = vidflow(project, "run", "r.yaml", "--executor", "dask", "--address", "bogus")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "--address bogus: cannot reach the Dask scheduler" in proc.stderr


@pytest.mark.parametrize(
    "name, value, said",
    [
        ("VIDFLOW_MAX_FFMPEG", "abc", "is not a whole number"),
        ("VIDFLOW_MAX_FFMPEG", "0", "must be at least 1"),
        # was an internal error (exit 3): the plan's time estimate made a list that long
        ("VIDFLOW_MAX_FFMPEG", "99999999999999999999", "must be at most 1024"),
        ("VIDFLOW_LEASE_TTL", "nan", "is not a whole number"),
        ("VIDFLOW_LEASE_TTL", "100000000", "must be at most 86400"),
    ],
)
def test_a_whole_number_setting_out_of_range(project, name, value, said):
    proc = vidflow(project, "plan", "r.yaml", **{name: value})
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert f"environment variable {name}=" in proc.stderr and said in proc.stderr, proc.stderr


def test_settings_made_in_python_are_checked_too():
    from vidflow.errors import ConfigError
    from vidflow.settings import Settings

    with pytest.raises(ConfigError, match="max_ffmpeg=100000: give a whole number from 1 to 1024"):
        Settings(max_ffmpeg=100_000)
    with pytest.raises(ConfigError, match="lease_ttl=0: give seconds above 0"):
        Settings(lease_ttl=0)
    assert Settings(max_ffmpeg=1, lease_ttl=0.5).max_ffmpeg == 1


def test_an_s3_cache_in_a_bucket_that_does_not_exist_is_refused_before_any_work(project, s3, s3_server):
    """The listing of a missing bucket looked like an empty cache; the run then failed at its
    first write with a traceback (exit 3)."""
    env = {"VIDFLOW_S3_ENDPOINT_URL": s3_server, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    proc = vidflow(project, "run", "r.yaml", VIDFLOW_CACHE="s3://no-such-bucket/cache", **env)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "cache s3://no-such-bucket/cache: cannot use it" in proc.stderr and "bucket" in proc.stderr, proc.stderr
    assert not (project / "runs").exists() or not any((project / "runs").iterdir())
    ok = vidflow(project, "run", "r.yaml", VIDFLOW_CACHE="s3://vidflow-test/cache", **env)  # the bucket the fixture made
    assert ok.returncode == 0, ok.stderr
