"""Bad cache entries are misses: `plan --check` never calls them cached, one run rebuilds them.

Runs use the library (`vidflow.api.run`) and the CLI (`vidflow plan --check`, `vidflow cache
verify`) on a recipe of offline providers (text.offline, real espeak, image.procedural).
"""

from __future__ import annotations

from pathlib import Path
import asyncio
import json
import os

import pytest

from tests.engine.util import project_settings, ran, run_recipe, write
from vidflow.api import load_recipe_file, plan
from vidflow.cache.store import CacheStore, LookupStatus
from vidflow.cli import main

RECIPE = """
vidflow: 1
name: integrity
topics: ["Why is the sky blue?"]
characters: [nova, pip]
providers:
  writer: {kind: text.offline}
  voice: {kind: speech.espeak}
  painter: {kind: image.procedural}
steps:
  script: {uses: writer, output: dialogue, lines: 4, scenes: 2, prompt: "Explain {{ topic }}"}
  speech: {for_each: script.lines, uses: voice, text: "{{ item.text }}", voice: "{{ item.speaker }}"}
  art: {for_each: script.scenes, uses: painter, prompt: "{{ item.image_prompt }}", caption: "{{ item.caption }}"}
"""

T = "why-is-the-sky-blue"


def _check(recipe, cache) -> int:
    return main(["plan", str(recipe), "--check", "--cache", str(cache)])


@pytest.fixture
def warm(project, registry):
    recipe = write(project, RECIPE)
    first = run_recipe(recipe, registry, project)
    assert first.exit_code == 0, first.summary.failures
    keys = {n: d["task"].key for n, d in first.graph.nodes(data=True)}
    assert _check(recipe, project / "cache") == 0
    return recipe, keys


def _manifest_path(project, key):
    return project / "cache" / "actions" / f"{key}.json"


def test_wrong_shape_manifests_are_misses_and_one_run_rebuilds_them(project, registry, warm, capsys):
    recipe, keys = warm

    def edit(node, change):
        path = _manifest_path(project, keys[node])
        body = json.loads(path.read_text())
        path.write_text(json.dumps(change(body)))

    edit(f"{T}/script", lambda b: [])
    edit(f"{T}/speech[0]", lambda b: {"blobs": []})
    edit(f"{T}/speech[1]", lambda b: {**b, "blobs": {"audio": {**b["blobs"]["audio"], "digest": 5}}})
    edit(f"{T}/art[0]", lambda b: None)
    edit(f"{T}/art[1]", lambda b: {**b, "blobs": {"image": {**b["blobs"]["image"], "size": "x"}}})
    # valid manifests whose value is not what the node makes: the dialogue's lines a string,
    # a voice line without its word timings
    edit(f"{T}/speech[2]", lambda b: {**b, "value": {**b["value"], "words": "x"}})
    broken = {f"{T}/script", f"{T}/speech[0]", f"{T}/speech[1]", f"{T}/art[0]", f"{T}/art[1]"}
    store = CacheStore(str(project / "cache"))
    for node in broken:
        assert store.lookup(keys[node]).status is LookupStatus.INVALID_MANIFEST
    broken.add(f"{T}/speech[2]")
    capsys.readouterr()
    assert _check(recipe, project / "cache") != 0  # never "all cached"
    second = run_recipe(recipe, registry, project)
    assert second.exit_code == 0, second.summary.failures
    assert ran(second) == broken  # the same script comes back: its lines stay cached
    rejected = [json.loads(line) for line in Path(second.events_path).read_text().splitlines() if '"cache_rejected"' in line]
    assert {e["node"] for e in rejected} == broken and all(e["data"]["status"] == "invalid_manifest" for e in rejected)
    for node in broken:
        assert CacheStore(str(project / "cache")).lookup(keys[node]).hit  # overwritten, valid
    assert _check(recipe, project / "cache") == 0


def test_a_same_size_corrupt_blob_is_not_cached_for_plan_and_one_run_rebuilds_it(project, registry, warm):
    recipe, keys = warm
    body = json.loads(_manifest_path(project, keys[f"{T}/speech[2]"]).read_text())
    digest = body["blobs"]["audio"]["digest"]
    blob = project / "cache" / "blobs" / "sha256" / digest[:2] / digest[2:]
    st = blob.stat()
    blob.write_bytes(b"\0" * st.st_size)
    os.utime(blob, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))  # a later write
    assert _check(recipe, project / "cache") != 0
    second = run_recipe(recipe, registry, project)
    assert second.exit_code == 0
    assert f"{T}/speech[2]" in ran(second)
    assert _check(recipe, project / "cache") == 0


def test_cache_verify_repair_then_one_run_restores_everything(project, registry, warm, capsys):
    recipe, keys = warm
    _manifest_path(project, keys[f"{T}/art[0]"]).write_text('{"blobs": []}')
    body = json.loads(_manifest_path(project, keys[f"{T}/speech[0]"]).read_text())
    digest = body["blobs"]["audio"]["digest"]
    blob = project / "cache" / "blobs" / "sha256" / digest[:2] / digest[2:]
    blob.write_bytes(b"X" * blob.stat().st_size)
    assert main(["cache", "verify", "--cache", str(project / "cache")]) == 1
    assert main(["cache", "verify", "--cache", str(project / "cache"), "--repair"]) == 0
    assert not blob.exists()
    second = run_recipe(recipe, registry, project)
    assert second.exit_code == 0
    assert {f"{T}/art[0]", f"{T}/speech[0]"} <= ran(second)
    capsys.readouterr()
    assert main(["cache", "verify", "--cache", str(project / "cache")]) == 0
    assert _check(recipe, project / "cache") == 0


def test_plan_check_reads_no_blob_bytes_on_a_warm_cache(project, registry, warm):
    from tests.cache import counting

    counting.register_local()
    counting.reset()
    recipe, _ = warm
    store = CacheStore(f"countfile://{project / 'cache'}")
    report, graph = asyncio.run(plan(load_recipe_file(recipe, registry=registry), settings=project_settings(project), store=store))
    assert report.cached == report.total_nodes == graph.number_of_nodes() > 0 and report.to_run == 0
    assert counting.READS["bytes"] == 0 and counting.READS["opens"] == 0


def test_a_dialogue_of_the_wrong_shape_in_a_valid_manifest_is_a_miss(project, registry, warm):
    recipe, keys = warm
    path = _manifest_path(project, keys[f"{T}/script"])
    body = json.loads(path.read_text())
    path.write_text(json.dumps({**body, "value": {**body["value"], "lines": "x"}}))
    assert _check(recipe, project / "cache") != 0
    second = run_recipe(recipe, registry, project)
    assert second.exit_code == 0 and f"{T}/script" in ran(second)
    assert _check(recipe, project / "cache") == 0
