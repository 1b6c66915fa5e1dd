"""A published video is verified, not trusted: :func:`vidflow.outputs.already_published`.

The manifest beside a video must name its digest and size, and the bytes there must hash to it
(on S3: the object's SHA-256 checksum, or its bytes). A video corrupted in place, even keeping
its size, is not called published by the plan and is written again by one run, locally and on
S3 (moto).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.engine.util import plan_recipe, run_recipe
from vidflow.outputs import already_published, sidecar_path

def _corrupt_same_size(data: bytes) -> bytes:
    mid = len(data) // 2
    return data[:mid] + bytes(b ^ 0xFF for b in data[mid : mid + 64]) + data[mid + 64 :]


# --------------------------------------------------------------------------- already_published, unit


def _published(tmp_path: Path, data: bytes = b"\x00\x01video bytes" * 1000) -> tuple[str, str, str]:
    dest = str(tmp_path / "out" / "why.mp4")
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    Path(dest).write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    Path(sidecar_path(dest)).write_text(json.dumps({"video_digest": digest, "size": len(data)}))
    return dest, sidecar_path(dest), digest


def test_already_published_only_when_the_bytes_hash_to_the_digest(tmp_path):
    dest, side, digest = _published(tmp_path)
    assert already_published(dest, side, digest)
    assert not already_published(dest, side, "0" * 64)  # another video was made since
    data = bytearray(Path(dest).read_bytes())
    data[len(data) // 2] ^= 0xFF  # corrupt in place, same size
    Path(dest).write_bytes(bytes(data))
    assert not already_published(dest, side, digest)


@pytest.mark.parametrize("sidecar", [None, "not json", "[]", "null", '{"video_digest": 5}', '{"video_digest": "%s"}'])
def test_a_missing_or_wrong_manifest_is_not_published(tmp_path, sidecar):
    dest, side, digest = _published(tmp_path)
    if sidecar is None:
        os.unlink(side)
    else:
        Path(side).write_text(sidecar.replace("%s", digest))  # the last: the digest, but no size
    assert not already_published(dest, side, digest)


def test_a_destination_that_is_a_link_or_missing_is_not_published(tmp_path):
    dest, side, digest = _published(tmp_path)
    elsewhere = tmp_path / "elsewhere.mp4"
    shutil.move(dest, elsewhere)
    assert not already_published(dest, side, digest)
    os.symlink(elsewhere, dest)  # the right bytes, but through a link: write a real file instead
    assert not already_published(dest, side, digest)


def test_already_published_on_s3_by_its_checksum_or_its_bytes(tmp_path, s3):
    """An object with S3's SHA-256 checksum is judged by it (S3 computed it from what it holds);
    one without is hashed. Either way a same-size corruption is not "published"."""
    from vidflow.settings import Settings
    from vidflow.storage import pipe_with_checksum, put_file_with_checksum, stored_sha256

    data = b"\x00\x01video bytes" * 1000
    bad = _corrupt_same_size(data)
    digest = hashlib.sha256(data).hexdigest()
    dest, side = "s3://vidflow-test/videos/why.mp4", "s3://vidflow-test/videos/why.json"
    (tmp_path / "v.mp4").write_bytes(data)
    put_file_with_checksum(s3, str(tmp_path / "v.mp4"), dest)
    s3.pipe_file(side, json.dumps({"video_digest": digest, "size": len(data)}).encode())
    s3.invalidate_cache()
    opts = Settings.from_env().storage_options(dest)  # the moto endpoint, as a run passes it
    assert stored_sha256(s3, dest) == digest
    assert already_published(dest, side, digest, opts)
    pipe_with_checksum(s3, dest, bad)  # other bytes, with their own checksum
    assert not already_published(dest, side, digest, opts)
    s3.pipe_file(dest, bad)  # other bytes, no SHA-256 checksum: hashed
    s3.invalidate_cache()
    assert stored_sha256(s3, dest) is None
    assert not already_published(dest, side, digest, opts)
    s3.pipe_file(dest, data)  # the right bytes, no SHA-256 checksum: hashed
    assert already_published(dest, side, digest, opts)


# --------------------------------------------------------------------------- whole runs

PUBLISH_RECIPE = """\
vidflow: 1
name: republish
topics: ["Why is the sky blue?"]
characters: [nova, pip]
providers:
  writer: {kind: text.offline}
  voice: {kind: speech.fake}
steps:
  script: {uses: writer, output: dialogue, lines: 2, scenes: 1, prompt: "Say {{ topic }}"}
  speech: {for_each: script.lines, uses: voice, text: "{{ item.text }}", voice: "{{ item.speaker }}"}
  video: {compose: vertical, width: 180, height: 320, preset: ultrafast, subtitles: none, qa: false}  # the fake voice is silent
  publish: {to: "TO"}
"""


@pytest.mark.ffmpeg
def test_a_published_video_corrupted_in_place_is_republished_in_one_run(project, registry, calls):
    (project / "recipe.yaml").write_text(PUBLISH_RECIPE.replace("TO", "out/{{ topic | slug }}.mp4"))
    first = run_recipe(project / "recipe.yaml", registry, project)
    assert first.exit_code == 0, first.summary.failures
    video = project / "out" / "why-is-the-sky-blue.mp4"
    meta = json.loads(video.with_suffix(".json").read_text())
    good = video.read_bytes()
    assert hashlib.sha256(good).hexdigest() == meta["video_digest"]

    again = run_recipe(project / "recipe.yaml", registry, project)  # intact: nothing is written
    assert again.summary.nodes["why-is-the-sky-blue/publish"] == "cached"
    report, _ = plan_recipe(project / "recipe.yaml", registry, project)
    assert report.nodes == [] and report.cached == report.total_nodes

    video.write_bytes(_corrupt_same_size(good))
    assert video.stat().st_size == len(good) and video.read_bytes() != good
    # the plan (what `plan --check` exits on) does not call it published: publish would run
    report, _ = plan_recipe(project / "recipe.yaml", registry, project)
    assert {n["id"] for n in report.nodes} == {"why-is-the-sky-blue/publish"} and report.cached == report.total_nodes - 1
    third = run_recipe(project / "recipe.yaml", registry, project)
    assert third.exit_code == 0, third.summary.failures
    assert third.summary.nodes["why-is-the-sky-blue/publish"] == "ran"
    assert {n for n, s in third.summary.nodes.items() if s == "ran"} == {"why-is-the-sky-blue/publish"}
    blob = project / "cache" / "blobs" / "sha256" / meta["video_digest"][:2] / meta["video_digest"][2:]
    assert video.read_bytes() == blob.read_bytes() == good


@pytest.mark.ffmpeg
def test_a_video_corrupted_on_s3_is_republished_in_one_run(tmp_path, s3, registry, calls, monkeypatch):
    from vidflow.settings import Settings

    d = tmp_path / "work"
    shutil.copytree(REPO / "characters", d / "characters")
    (d / "recipe.yaml").write_text(PUBLISH_RECIPE.replace("TO", "s3://vidflow-test/videos/{{ topic | slug }}.mp4"))
    monkeypatch.chdir(d)
    settings = Settings.from_env().replace(cache_url=str(d / "cache"), runs_dir=str(d / "runs"))
    first = run_recipe(d / "recipe.yaml", registry, d, settings=settings)
    assert first.exit_code == 0, first.summary.failures
    key = "vidflow-test/videos/why-is-the-sky-blue.mp4"
    s3.invalidate_cache()
    good = s3.cat_file(key)
    meta = json.loads(s3.cat_file("vidflow-test/videos/why-is-the-sky-blue.json"))
    assert hashlib.sha256(good).hexdigest() == meta["video_digest"]

    again = run_recipe(d / "recipe.yaml", registry, d, settings=settings)
    assert again.summary.nodes["why-is-the-sky-blue/publish"] == "cached"

    s3.pipe_file(key, _corrupt_same_size(good))
    s3.invalidate_cache()
    assert s3.size(key) == len(good) and s3.cat_file(key) != good
    report, _ = plan_recipe(d / "recipe.yaml", registry, d, settings=settings)
    assert {n["id"] for n in report.nodes} == {"why-is-the-sky-blue/publish"}
    third = run_recipe(d / "recipe.yaml", registry, d, settings=settings)
    assert third.exit_code == 0, third.summary.failures
    assert third.summary.nodes["why-is-the-sky-blue/publish"] == "ran"
    s3.invalidate_cache()
    assert s3.cat_file(key) == good
