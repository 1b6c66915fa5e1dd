"""`vidflow cache stats` and `cache gc` with the cache on S3 (s3fs against moto on 127.0.0.1)."""

from __future__ import annotations

import json
import time

from tests.cache.gcutil import TOPICS, cli, write_recipe
from vidflow.cache.gc import CLOCK_MARGIN

CACHE = "s3://vidflow-test/cache"


def _keys(s3, folder: str) -> set[str]:  # noqa: F811
    s3.invalidate_cache()
    return set(s3.find(f"vidflow-test/cache/{folder}"))


def test_gc_on_s3_keeps_the_latest_run_and_frees_the_rest(project, s3):  # noqa: F811
    recipes = [write_recipe(project, TOPICS[i:i + 2], f"run{i}.yaml") for i in range(3)]
    for r in recipes:
        rc, _, err = cli("run", r, "--cache", CACHE, "--plain")
        assert rc == 0, err
    rc, out, err = cli("cache", "stats", "--cache", CACHE, "--json")
    assert rc == 0, err
    stats = json.loads(out)
    assert stats["manifests"] == len(_keys(s3, "actions")) and stats["bytes"] > 0
    assert set(stats["by_kind"]) == {"text.offline", "speech.espeak", "image.procedural"}
    assert [r["hits"] > 0 for r in stats["runs"]] == [False, True, True]  # topics overlap run to run
    blobs_before = _keys(s3, "blobs")
    time.sleep(CLOCK_MARGIN + 1.2)  # S3 stamps whole seconds: what the runs wrote is now older than gc's margin
    rc, out, err = cli("cache", "gc", "--cache", CACHE, "--keep-runs", "1", "--json")
    assert rc == 0, err
    report = json.loads(out)
    assert report["manifests_removed"] > 0 and report["blobs_removed"] > 0 and report["bytes_freed"] > 0
    assert len(_keys(s3, "blobs")) == len(blobs_before) - report["blobs_removed"]
    assert cli("plan", recipes[2], "--cache", CACHE, "--check")[0] == 0
    assert cli("plan", recipes[0], "--cache", CACHE, "--check")[0] == 1
    rc, out, err = cli("cache", "verify", "--cache", CACHE)
    assert rc == 0, out + err
