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


# ---------------------------------------------------------------------------- cache integrity

OFFLINE = """
vidflow: 1
name: s3-integrity
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
S3_CACHE = "s3://vidflow-test/cache"


def _store(s3_server, url=S3_CACHE):
    from vidflow.cache.store import CacheStore

    return CacheStore(url, storage_options={"client_kwargs": {"endpoint_url": s3_server}})


def _blob_key(digest):
    return f"vidflow-test/cache/blobs/sha256/{digest[:2]}/{digest[2:]}"


def test_cache_blobs_carry_their_sha256_as_an_s3_checksum(tmp_path, s3, s3_server):
    from vidflow.storage import stored_sha256

    store = _store(s3_server)
    a = store.put_blob(b"piped bytes" * 100, media_type="audio/wav", ext="wav")
    local = tmp_path / "segment.mp4"
    local.write_bytes(b"uploaded file" * 1000)
    b = store.put_blob_file(str(local), media_type="video/mp4", ext="mp4")  # temp key, then copy
    s3.invalidate_cache()
    for ref in (a, b):
        assert stored_sha256(s3, _blob_key(ref.digest)) == ref.digest
    assert not [k for k in s3.find("vidflow-test/cache") if ".tmp-" in k]
    assert s3.info(_blob_key(b.digest), refresh=True)["ContentType"] == "video/mp4"


def test_a_multipart_composite_checksum_is_not_taken_for_the_object_sha256(s3):
    import os as _os

    from vidflow.storage import object_state, stored_sha256

    data = _os.urandom(11 * 2**20)
    s3.pipe_file("vidflow-test/big", data, chunksize=5 * 2**20, ChecksumAlgorithm="SHA256")  # 3 parts
    assert s3.info("vidflow-test/big", refresh=True)["ETag"].strip('"').endswith("-3")
    assert stored_sha256(s3, "vidflow-test/big") is None
    assert object_state(s3, "vidflow-test/big").token is not None  # a record can still vouch for it


def test_a_warm_s3_lookup_reads_no_blob_bytes(s3, s3_server):
    from tests.cache import counting
    from vidflow.cache.store import Artifact

    store = _store(s3_server)
    ref = store.put_blob(b"voice" * 1000, media_type="audio/wav", ext="wav")
    store.save("k" * 64, Artifact(value={"x": 1}, blobs={"audio": ref}))
    counting.register_s3()
    counting.reset()
    found = _store(s3_server, "counts3://vidflow-test/cache").lookup("k" * 64)
    assert found.hit
    assert counting.READS["bytes"] == 0 and counting.READS["opens"] == 0


def test_a_blob_without_checksum_is_hashed_once_then_trusted_until_it_changes(s3, s3_server):
    """Blobs written before checksums (or by other tools): verify on first read, remember it."""
    import hashlib

    from tests.cache import counting
    from vidflow.cache.store import Artifact, BlobRef, LookupStatus

    data = b"legacy blob" * 500
    digest = hashlib.sha256(data).hexdigest()
    s3.pipe_file(_blob_key(digest), data)  # no SHA-256 checksum (botocore adds only a CRC32)
    ref = BlobRef(digest, len(data), "audio/wav", "wav")
    manifest = Artifact(blobs={"audio": ref}).to_json("l" * 64)
    s3.pipe_file("vidflow-test/cache/actions/" + "l" * 64 + ".json", json.dumps(manifest).encode())
    counting.register_s3()
    counting.reset()
    assert _store(s3_server, "counts3://vidflow-test/cache").lookup("l" * 64).hit
    assert counting.READS["bytes"] == len(data)  # read and hashed once
    counting.reset()
    assert _store(s3_server, "counts3://vidflow-test/cache").lookup("l" * 64).hit
    assert counting.READS["bytes"] == 0  # the verification record vouches for it
    s3.pipe_file(_blob_key(digest), b"L" * len(data))  # same size, new ETag
    assert _store(s3_server).lookup("l" * 64).status is LookupStatus.CORRUPT_BLOB


def _offline_project(tmp_path):
    d = tmp_path / "proj"
    d.mkdir()
    shutil.copytree(REPO / "characters", d / "characters")
    (d / "recipe.yaml").write_text(OFFLINE)
    return d


def _run_offline(d, registry):
    from vidflow.settings import Settings

    os.chdir(d)
    settings = Settings.from_env().replace(cache_url=S3_CACHE, runs_dir=str(d / "runs"))
    return run_recipe(d / "recipe.yaml", registry, d, settings=settings)


def _plan_check(d) -> int:
    from vidflow.cli import main

    return main(["plan", str(d / "recipe.yaml"), "--check", "--cache", S3_CACHE])


def test_same_size_corrupt_s3_blobs_are_never_cached_and_one_run_rebuilds_them(tmp_path, s3, s3_server, registry, calls):
    from tests.engine.util import ran
    from vidflow.cache.store import LookupStatus

    d = _offline_project(tmp_path)
    first = _run_offline(d, registry)
    assert first.exit_code == 0, first.summary.failures
    assert _plan_check(d) == 0
    keys = {n: data["task"].key for n, data in first.graph.nodes(data=True)}
    t = "why-is-the-sky-blue"
    store = _store(s3_server)
    victims = {f"{t}/speech[1]": "audio", f"{t}/art[0]": "image"}
    for node, name in victims.items():
        ref = store.lookup(keys[node]).artifact.blobs[name]
        bad = b"\0" * ref.size
        if name == "audio":  # overwritten by a tool that adds no SHA-256
            s3.pipe_file(_blob_key(ref.digest), bad)
        else:  # ... or by one that does: S3's checksum is of the wrong bytes
            s3.pipe_file(_blob_key(ref.digest), bad, ChecksumAlgorithm="SHA256")
    for node in victims:
        found = _store(s3_server).lookup(keys[node])
        assert found.status is LookupStatus.CORRUPT_BLOB, found
    assert _plan_check(d) != 0  # plan --check never calls them cached
    second = _run_offline(d, registry)
    assert second.exit_code == 0, second.summary.failures
    assert ran(second) == set(victims)
    assert _plan_check(d) == 0
    for node in victims:
        assert _store(s3_server).lookup(keys[node]).hit


def test_cache_verify_on_s3_finds_and_repairs_corruption(s3, s3_server, capsys):
    from vidflow.cache.store import Artifact, LookupStatus
    from vidflow.cli import main

    store = _store(s3_server)
    good = store.put_blob(b"good" * 300, media_type="audio/wav", ext="wav")
    bad = store.put_blob(b"bad!" * 300, media_type="audio/wav", ext="wav")
    store.save("g" * 64, Artifact(blobs={"audio": good}))
    store.save("b" * 64, Artifact(blobs={"audio": bad}))
    s3.pipe_file("vidflow-test/cache/actions/" + "i" * 64 + ".json", b'{"blobs": []}')
    s3.pipe_file(_blob_key(bad.digest), b"X" * bad.size)
    s3.pipe_file(f"vidflow-test/cache/blobs/sha256/ab/{'c' * 62}.tmp-{'0' * 32}", b"half")
    assert main(["cache", "verify", "--cache", S3_CACHE]) == 1
    out = capsys.readouterr().out
    assert "corrupt_blob: blobs/sha256/" in out and "invalid_manifest: actions/" in out
    from vidflow.cache.verify import verify_cache

    report = verify_cache(_store(s3_server), repair=True, min_temp_age=0)  # the CLI keeps young temp files
    assert report.ok and {p.kind for p in report.problems} == {"corrupt_blob", "invalid_manifest", "orphan_temp"}
    s3.invalidate_cache()
    assert not s3.exists(_blob_key(bad.digest))
    assert not [k for k in s3.find("vidflow-test/cache") if ".tmp-" in k]
    assert _store(s3_server).lookup("g" * 64).hit
    assert _store(s3_server).lookup("b" * 64).status is LookupStatus.MISSING
    assert main(["cache", "verify", "--cache", S3_CACHE]) == 0
