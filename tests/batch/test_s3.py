"""Cache and outputs on S3 (s3fs against a moto server on 127.0.0.1)."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from tests.conftest import REPO
from tests.engine.util import run_recipe

pytestmark = [pytest.mark.ffmpeg]

RECIPE = """
vidflow: 1
name: s3
topics: ["Why is the sky blue?", "How do bees make honey?"]
characters: [nova, pip]
providers:
  writer: {kind: text.offline}
  voice: {kind: speech.fake}
  painter: {kind: image.procedural}
steps:
  script: {uses: writer, output: dialogue, lines: 4, scenes: 2, prompt: "Explain {{ topic }}"}
  speech: {for_each: script.lines, uses: voice, text: "{{ item.text }}", voice: "{{ item.speaker }}"}
  art: {for_each: script.scenes, uses: painter, prompt: "{{ item.image_prompt }}", caption: "{{ item.caption }}"}
  video: {compose: vertical, width: 360, height: 640, preset: ultrafast}
  publish: {to: "s3://vidflow-test/videos/{{ topic | slug }}.mp4"}
"""


def _workdir(tmp_path, name):
    d = tmp_path / name
    d.mkdir()
    shutil.copytree(REPO / "characters", d / "characters")
    (d / "recipe.yaml").write_text(RECIPE)
    return d


def _run(d, registry):
    """Run from folder ``d`` with the cache on S3 (endpoint from VIDFLOW_S3_ENDPOINT_URL)."""
    from vidflow.settings import Settings

    os.chdir(d)
    settings = Settings.from_env().replace(cache_url="s3://vidflow-test/cache", runs_dir=str(d / "runs"))
    return run_recipe(d / "recipe.yaml", registry, d, settings=settings)


def test_second_run_from_another_folder_with_no_local_cache_is_free(tmp_path, s3, registry, calls, monkeypatch):
    first = _run(_workdir(tmp_path, "machine-a"), registry)
    assert first.exit_code == 0, first.summary.failures
    assert calls
    s3.invalidate_cache()
    videos = sorted(s3.find("vidflow-test/videos"))
    assert videos == [
        "vidflow-test/videos/how-do-bees-make-honey.json", "vidflow-test/videos/how-do-bees-make-honey.mp4",
        "vidflow-test/videos/why-is-the-sky-blue.json", "vidflow-test/videos/why-is-the-sky-blue.mp4",
    ]
    assert s3.info("vidflow-test/videos/why-is-the-sky-blue.mp4", refresh=True)["ContentType"] == "video/mp4"
    assert s3.info("vidflow-test/videos/why-is-the-sky-blue.json", refresh=True)["ContentType"] == "application/json"
    blob = next(p for p in s3.find("vidflow-test/cache/blobs"))
    assert s3.info(blob, refresh=True)["ContentType"] in ("audio/wav", "image/png", "video/mp4")
    mtimes = {v: s3.info(v)["LastModified"] for v in videos}
    calls.clear()
    b = _workdir(tmp_path, "machine-b")
    assert not (b / "cache").exists()
    second = _run(b, registry)
    assert second.exit_code == 0
    assert calls == []
    assert set(second.summary.nodes.values()) == {"cached"}
    s3.invalidate_cache()
    assert {v: s3.info(v)["LastModified"] for v in videos} == mtimes  # nothing published again
    assert not (b / "cache").exists()


def test_upload_killed_partway_leaves_no_object_at_the_final_key(tmp_path, s3, registry, calls, monkeypatch):
    import s3fs

    real_put = s3fs.S3FileSystem._put_file
    killed = []

    async def dying_put(self, lpath, rpath, *args, **kwargs):
        if rpath.endswith(".mp4") or ".mp4.tmp-" in rpath:
            # write half the bytes under the name it was given, then die like a killed process
            with open(lpath, "rb") as f:
                data = f.read()
            await self._pipe_file(rpath, data[: len(data) // 2])
            killed.append(rpath)
            raise ConnectionResetError("killed mid-upload")
        return await real_put(self, lpath, rpath, *args, **kwargs)

    monkeypatch.setattr(s3fs.S3FileSystem, "_put_file", dying_put)
    s3fs.S3FileSystem.clear_instance_cache()  # instances made earlier bound the real method
    d = _workdir(tmp_path, "a")
    first = _run(d, registry)
    assert killed and first.exit_code == 1
    s3.invalidate_cache()
    assert not s3.exists("vidflow-test/videos/why-is-the-sky-blue.mp4")
    assert not s3.exists("vidflow-test/videos/why-is-the-sky-blue.json")
    monkeypatch.setattr(s3fs.S3FileSystem, "_put_file", real_put)
    s3fs.S3FileSystem.clear_instance_cache()
    calls.clear()
    second = _run(d, registry)
    assert second.exit_code == 0
    s3.invalidate_cache()
    assert s3.exists("vidflow-test/videos/why-is-the-sky-blue.mp4")
    meta = json.loads(s3.cat_file("vidflow-test/videos/why-is-the-sky-blue.json"))
    assert s3.size("vidflow-test/videos/why-is-the-sky-blue.mp4") == meta["size"]
    # the rerun only published: everything upstream was cached
    assert {n.split("/")[1] for n, s in second.summary.nodes.items() if s == "ran"} == {"publish"}
