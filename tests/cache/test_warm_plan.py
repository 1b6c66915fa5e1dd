"""Issue 9, must-show 4: on a warm quickstart cache, `vidflow plan` reads no blob bytes.

The cache is built by running recipes/quickstart.yaml itself (real espeak and ffmpeg); the plan
then looks it up through ``countfile://``, a subclass of fsspec's local filesystem that counts
every byte read from a blob path. Verification comes from records, not from re-reading videos.
"""

from __future__ import annotations

import asyncio
import shutil

import pytest

from tests.cache import counting
from tests.conftest import REPO
from vidflow.api import load_recipe_file, plan, run
from vidflow.cache.store import CacheStore
from vidflow.settings import Settings

pytestmark = [pytest.mark.ffmpeg, pytest.mark.slow]


def test_a_warm_quickstart_plan_reads_no_blob_bytes(tmp_path, monkeypatch):
    shutil.copytree(REPO / "recipes", tmp_path / "recipes")
    shutil.copytree(REPO / "characters", tmp_path / "characters")
    monkeypatch.chdir(tmp_path)
    settings = Settings(cache_url=str(tmp_path / "cache"), runs_dir=str(tmp_path / "runs"), scratch_dir=str(tmp_path / "scratch"))
    loaded = load_recipe_file(tmp_path / "recipes" / "quickstart.yaml")
    result = asyncio.run(run(loaded, settings=settings, output_root=str(tmp_path)))
    assert result.exit_code == 0, result.summary.failures
    blobs = [p for p in (tmp_path / "cache" / "blobs").rglob("*") if p.is_file()]
    assert len(blobs) > 20 and any(p.stat().st_size > 100_000 for p in blobs)  # videos among them

    counting.register_local()
    counting.reset()
    with CacheStore(f"countfile://{tmp_path / 'cache'}") as store:
        report, graph = asyncio.run(plan(load_recipe_file(tmp_path / "recipes" / "quickstart.yaml"), settings=settings, store=store))
    assert report.to_run == 0 and report.cached == report.total_nodes == graph.number_of_nodes() > 20
    assert counting.READS["opens"] == 0 and counting.READS["bytes"] == 0

    # The counter is live: the same lookups without verification records hash every blob.
    shutil.rmtree(tmp_path / "cache" / "verified")
    with CacheStore(f"countfile://{tmp_path / 'cache'}") as store:
        asyncio.run(plan(load_recipe_file(tmp_path / "recipes" / "quickstart.yaml"), settings=settings, store=store))
    assert counting.READS["bytes"] > 100_000
    counting.reset()
