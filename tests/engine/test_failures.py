"""Failures stay where they happen, and never leave a half-written cache entry."""

from __future__ import annotations

import asyncio
import errno
import json
from typing import ClassVar

import fsspec
import pytest
from fsspec.implementations.memory import MemoryFileSystem

from tests.engine.util import BASE, ran, run_recipe, write
from tests.fakes import CALLS, PaidSpeech
from vidflow.cache.store import CacheStore

RECIPE = """
vidflow: 1
name: isolation
topics: ["Good one", "Please FAIL this", "Good two"]
characters: [nova, pip]
providers:
  writer: {kind: text.fake}
  voice: {kind: speech.fake}
steps:
  intro:
    uses: voice
    text: "Hello from {{ topic }}"
    voice: nova
  script:
    uses: writer
    output: dialogue
    lines: 4
    prompt: "Explain {{ topic }}"
  speech:
    for_each: script.lines
    uses: voice
    text: "{{ item.text }}"
    voice: "{{ item.speaker }}"
"""


def test_a_failed_node_fails_its_dependents_only(project, registry, calls):
    recipe = write(project, RECIPE)
    result = run_recipe(recipe, registry, project)
    assert result.exit_code == 1
    nodes = result.summary.nodes
    assert nodes["please-fail-this/script"] == "failed"
    # the failing topic's independent node still ran; other topics finished completely
    assert nodes["please-fail-this/intro"] == "ran"
    for topic in ("good-one", "good-two"):
        assert nodes[f"{topic}/script"] == "ran"
        assert sum(1 for n, s in nodes.items() if n.startswith(f"{topic}/speech[") and s == "ran") == 4
    assert not any(n.startswith("please-fail-this/speech[") for n in nodes)
    [failure] = result.summary.failures
    assert failure["node"] == "please-fail-this/script" and failure["error"] == "BadRequestError"
    # permanent errors are not retried
    assert sum(1 for k, r in calls if k == "text.fake" and "FAIL" in r.prompt) == 1


class RefusingFS(MemoryFileSystem):
    """A memory filesystem whose writes to paths holding ``part`` fail with ``error(path)`` while
    ``armed`` (how a store refuses: a full disk, an endpoint gone; fault injection at fsspec)."""

    part = "/"
    armed = True
    refused = 0  # writes refused so far

    @staticmethod
    def error(path: str) -> Exception:
        return OSError(errno.EIO, "Input/output error", path)

    @classmethod
    def _strip_protocol(cls, path):
        return MemoryFileSystem._strip_protocol(path.split("://", 1)[-1])

    def pipe_file(self, path, value, **kwargs):
        if self.armed and self.part in path:
            type(self).refused += 1
            raise self.error(path)
        return super().pipe_file(path, value, **kwargs)


@pytest.fixture
def refusing():
    """``refusing(protocol, part, error)`` -> a RefusingFS class registered under ``protocol``."""

    def make(protocol: str, part: str, error=RefusingFS.error) -> type[RefusingFS]:
        cls = type(f"Refusing_{protocol}", (RefusingFS,), {"protocol": protocol, "part": part, "error": staticmethod(error)})
        fsspec.register_implementation(protocol, cls, clobber=True)
        return cls

    MemoryFileSystem.store.clear()
    MemoryFileSystem.pseudo_dirs[:] = [""]
    yield make
    MemoryFileSystem.store.clear()


def test_failure_between_blob_and_manifest_leaves_no_manifest_and_reruns(project, registry, calls, refusing):
    failing_fs = refusing("actionsfail", "/actions/", lambda path: OSError("injected: the disk went away before the manifest was written"))
    recipe = write(project, BASE.format(topics='["Only topic"]'))
    store = CacheStore("actionsfail://vfcache")
    first = run_recipe(recipe, registry, project, store=store)
    assert first.exit_code == 1
    assert first.summary.nodes["only-topic/script"] == "failed"
    fs = fsspec.filesystem("actionsfail")
    blobs = fs.find("/vfcache/blobs") if fs.exists("/vfcache/blobs") else []
    assert not fs.exists("/vfcache/actions") or fs.find("/vfcache/actions") == []
    failing_fs.armed = False
    calls.clear()
    second = run_recipe(recipe, registry, project, store=CacheStore("actionsfail://vfcache"))
    assert second.exit_code == 0
    assert "only-topic/script" in ran(second)
    assert len(fs.find("/vfcache/actions")) == len(second.summary.nodes)
    # blobs written during the failed run were reused by digest, not duplicated
    assert set(blobs) <= set(fs.find("/vfcache/blobs"))


def test_corrupt_blob_is_a_miss_and_is_rebuilt(project, registry, calls):
    recipe = write(project, BASE.format(topics='["Only topic"]'))
    first = run_recipe(recipe, registry, project)
    key = first.graph.nodes["only-topic/speech[0]"]["task"].key
    manifest = json.loads((project / "cache" / "actions" / f"{key}.json").read_text())
    digest = manifest["blobs"]["audio"]["digest"]
    blob = project / "cache" / "blobs" / "sha256" / digest[:2] / digest[2:]
    blob.write_bytes(b"X" * blob.stat().st_size)  # same size, wrong content
    # every node whose output is that blob (identical audio is stored once) is rebuilt
    sharing = {
        n for n, d in first.graph.nodes(data=True)
        if digest in (project / "cache" / "actions" / f"{d['task'].key}.json").read_text()
    }
    assert "only-topic/speech[0]" in sharing
    calls.clear()
    second = run_recipe(recipe, registry, project)
    assert ran(second) == sharing
    assert [k for k, _ in calls] == ["speech.fake"] * len(sharing)
    from vidflow.cache.store import CacheStore

    assert len(CacheStore(str(project / "cache")).read_blob(digest)) == blob.stat().st_size


def test_reading_a_corrupt_blob_raises_and_removes_it(project):
    from vidflow.errors import CacheCorruptError

    store = CacheStore(str(project / "cache"))
    ref = store.put_blob(b"hello world", media_type="text/plain", ext="txt")
    path = project / "cache" / "blobs" / "sha256" / ref.digest[:2] / ref.digest[2:]
    path.write_bytes(b"HELLO WORLD")
    fresh = CacheStore(str(project / "cache"))
    with pytest.raises(CacheCorruptError):
        fresh.read_blob(ref)
    assert not path.exists()


def test_a_manifest_write_that_fails_on_local_disk_fails_its_node_not_the_run(project, registry, calls):
    """Local manifests are written by the run's helper process (run/writer.py): a write the OS
    refuses there (here: a folder stands where the manifest goes) still fails the node that
    wrote, with the OS's reason, and a rerun recovers once the obstacle is gone."""
    import shutil

    recipe = write(project, BASE.format(topics='["Only topic"]'))
    made = run_recipe(recipe, registry, project)
    key = made.graph.nodes["only-topic/script"]["task"].key
    manifest = project / "cache" / "actions" / f"{key}.json"
    manifest.unlink()
    (manifest / "in-the-way").mkdir(parents=True)  # os.replace(temp, manifest) fails: EISDIR
    calls.clear()
    first = run_recipe(recipe, registry, project)
    assert first.exit_code == 1  # failed nodes, not an internal error (3)
    assert first.summary.nodes["only-topic/script"] == "failed"
    [failure] = [f for f in first.summary.failures if f["node"] == "only-topic/script"]
    assert failure["error"] == "IsADirectoryError" and "Is a directory" in failure["message"]
    assert not [p for p in (project / "cache" / "actions").iterdir() if ".tmp-" in p.name]  # no temp file left
    shutil.rmtree(manifest)
    calls.clear()
    second = run_recipe(recipe, registry, project)
    assert second.exit_code == 0
    assert "only-topic/script" in ran(second)
    assert manifest.is_file()


def test_without_a_helper_process_writes_go_through_a_thread_and_fail_the_same(project, registry, calls, monkeypatch):
    """Where no helper process can be started, a thread writes; a refused write still fails its
    node with the OS's reason, and leaves neither a manifest nor a temp file."""
    import os
    import sys

    monkeypatch.setattr(sys, "executable", str(project / "no-such-python"))  # the OS cannot start it
    real_replace = os.replace

    def full_disk(src, dst, *a, **kw):  # the OS boundary: renaming a manifest into place fails
        if "/actions/" in str(dst):
            raise OSError(28, "No space left on device")
        return real_replace(src, dst, *a, **kw)

    recipe = write(project, BASE.format(topics='["Only topic"]'))
    monkeypatch.setattr(os, "replace", full_disk)
    first = run_recipe(recipe, registry, project)
    assert first.exit_code == 1
    assert first.summary.nodes["only-topic/script"] == "failed"
    [failure] = [f for f in first.summary.failures if f["node"] == "only-topic/script"]
    assert failure["error"] == "DiskFullError" and "no space left on the disk holding" in failure["message"] and "actions" in failure["message"], failure
    assert not list((project / "cache" / "actions").glob("*"))  # no manifest, no temp file left
    monkeypatch.setattr(os, "replace", real_replace)
    calls.clear()
    second = run_recipe(recipe, registry, project)
    assert second.exit_code == 0
    assert "only-topic/script" in ran(second)
    assert len(list((project / "cache" / "actions").glob("*.json"))) == len(second.summary.nodes)


def test_an_unreadable_cache_fails_the_nodes_with_the_reason_not_a_traceback(project, registry, calls):
    recipe = write(project, BASE.format(topics='["Only topic"]'))
    (project / "cache").mkdir()
    (project / "cache" / "actions").write_text("not a folder")  # every manifest read fails
    result = run_recipe(recipe, registry, project)
    assert result.exit_code == 1  # failed nodes, not an internal error (3)
    assert result.summary.nodes["only-topic/script"] == "failed"
    [failure] = [f for f in result.summary.failures if f["node"] == "only-topic/script"]
    assert failure["error"] == "CacheError" and "cannot read the cache" in failure["message"]
    assert calls == []  # nothing was paid for that could not be stored


def test_a_node_made_by_another_process_between_lookup_and_lease_is_not_paid_again(project, registry, calls, monkeypatch):
    """The other process finishes the node and lets go of its lease after this run looked the
    key up (a miss) and before it takes the lease: taken at once, the lease is still followed by
    a second lookup, which finds the other process's output. (It paid twice under load.)"""
    import os

    fcntl = pytest.importorskip("fcntl")  # local leases are flock-ed files

    recipe = write(project, """
vidflow: 1
name: race
topics: ["Only topic"]
characters: [nova, pip]
providers:
  voice: {kind: speech.paid}
steps:
  intro: {uses: voice, text: "Hello from {{ topic }}", voice: nova}
""")
    made = run_recipe(recipe, registry, project)
    assert made.exit_code == 0 and len(calls) == 1
    key = made.graph.nodes["only-topic/intro"]["task"].key
    manifest = project / "cache" / "actions" / f"{key}.json"
    aside = project / "made-elsewhere.json"
    os.replace(manifest, aside)  # as if this run looked up before the other process saved it
    real_flock = fcntl.flock

    def other_process_finishes_first(fd, op):  # the OS boundary: the moment this run takes the lease
        if aside.exists():
            os.replace(aside, manifest)
        return real_flock(fd, op)

    monkeypatch.setattr(fcntl, "flock", other_process_finishes_first)
    calls.clear()
    again = run_recipe(recipe, registry, project)
    assert again.exit_code == 0
    assert calls == []  # not paid a second time
    assert again.summary.nodes["only-topic/intro"] == "cached"


def _no_space(path: str) -> OSError:
    return OSError(errno.ENOSPC, "No space left on device", path)


class GatedSpeech(PaidSpeech):
    """A paid voice whose second call returns only once the disk has refused a write (a real
    call takes seconds; the fake's microseconds would all be spent before the first write)."""

    kind: ClassVar[str] = "speech.gated"
    disk: ClassVar[type[RefusingFS]]

    async def synthesize(self, req):
        if len(CALLS) >= 1:
            while self.disk.armed and not self.disk.refused:
                await asyncio.sleep(0.01)
        return await super().synthesize(req)


FULL = """
vidflow: 1
name: full
topics: ["One", "Two", "Three", "Four"]
characters: [nova, pip]
providers:
  voice: {kind: speech.gated, concurrency: 1}
steps:
  intro: {uses: voice, text: "Hello from {{ topic }}", voice: nova}
"""


def test_a_full_disk_stops_the_run_paying_for_outputs_it_cannot_store(project, registry, calls, refusing):
    full_fs = GatedSpeech.disk = refusing("fulldisk", "/blobs/", _no_space)
    registry.register(GatedSpeech.kind, GatedSpeech)
    recipe = write(project, FULL)
    result = run_recipe(recipe, registry, project, store=CacheStore("fulldisk://vfcache"))
    assert result.exit_code == 1
    # the first voice line was paid for and could not be stored, so was the one in flight then;
    # the two queued behind them (one call at a time) were not made at all
    assert [k for k, _ in calls] == ["speech.gated"] * 2
    failures = {f["node"]: f for f in result.summary.failures}
    assert set(failures) == {f"{t}/intro" for t in ("one", "two", "three", "four")}
    first = failures["one/intro"]
    assert first["error"] == "DiskFullError" and first["message"].startswith("no space left on the disk holding /vfcache/blobs/"), first
    assert "vidflow cache gc" in first["message"]
    made = [t for t in ("two", "three", "four") if failures[f"{t}/intro"]["message"].startswith("no space left")]
    assert len(made) == 1, failures
    for t in {"two", "three", "four"} - set(made):
        assert failures[f"{t}/intro"]["message"].startswith("not made: no space left on the disk holding"), failures[f"{t}/intro"]
    # space again: the rerun makes them
    full_fs.armed = False
    calls.clear()
    again = run_recipe(recipe, registry, project, store=CacheStore("fulldisk://vfcache"))
    assert again.exit_code == 0 and len(calls) == 4


def test_a_topic_whose_node_record_cannot_be_written_fails_cleanly(project, registry, calls, refusing):
    """It was an internal error (exit 3, a traceback) from the end of the topic."""
    index_fs = refusing("indexfail", "/nodes/")
    recipe = write(project, BASE.format(topics='["Only topic"]'))
    first = run_recipe(recipe, registry, project, store=CacheStore("indexfail://vfcache"))
    assert first.exit_code == 1
    assert first.summary.topics["only-topic"]["status"] == "failed"
    assert "the cache could not record this topic's nodes: OSError: [Errno 5] Input/output error" in first.summary.topics["only-topic"]["error"]
    assert not first.summary.failures  # every node was made and stored
    index_fs.armed = False
    calls.clear()
    again = run_recipe(recipe, registry, project, store=CacheStore("indexfail://vfcache"))
    assert again.exit_code == 0 and calls == []  # all cached


def _endpoint_gone(path: str) -> Exception:
    """What s3fs raises when the endpoint stops answering: botocore's own EndpointConnectionError,
    which s3fs does not turn into an OSError."""
    from botocore.exceptions import EndpointConnectionError

    return EndpointConnectionError(endpoint_url=f"http://127.0.0.1:9/{path}")


def test_a_store_that_stops_answering_fails_the_nodes_not_the_run(project, registry, calls, refusing):
    """It was an internal error (exit 3, a traceback)."""
    refusing("endpointgone", "/blobs/", _endpoint_gone)
    recipe = write(project, BASE.format(topics='["Only topic"]'))
    result = run_recipe(recipe, registry, project, store=CacheStore("endpointgone://vfcache"))
    assert result.exit_code == 1
    failed = {f["node"]: f for f in result.summary.failures}
    assert failed and all(n.startswith(("only-topic/speech[", "only-topic/art[")) for n in failed), failed
    some = next(iter(failed.values()))
    assert some["error"] == "OSError" and "EndpointConnectionError: Could not connect to the endpoint URL" in some["message"], some
    assert result.summary.nodes["only-topic/script"] == "ran"  # (no blob: stored)
