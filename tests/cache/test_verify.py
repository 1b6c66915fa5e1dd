"""`vidflow cache verify [--repair]` on a local cache: finds what is bad, removes only that."""

from __future__ import annotations

import json
import os

import pytest

from vidflow.cache.store import Artifact, CacheStore, LookupStatus
from vidflow.cache.verify import format_report, verify_cache
from vidflow.cli import main

K_GOOD, K_CORRUPT, K_MISSING, K_INVALID, K_SHARED = ("1" * 64, "2" * 64, "3" * 64, "4" * 64, "5" * 64)
OLD = 1_000_000_000  # an mtime in 2001: long before any live run


def _put(store, key, data: bytes, name="audio"):
    ref = store.put_blob(data, media_type="audio/wav", ext="wav")
    store.save(key, Artifact(value={"n": len(data)}, blobs={name: ref}))
    return ref


def _path(root, ref):
    return root / "blobs" / "sha256" / ref.digest[:2] / ref.digest[2:]


@pytest.fixture
def damaged(tmp_path):
    """A cache with one of each problem, and the good entries around them."""
    root = tmp_path / "cache"
    store = CacheStore(str(root))
    refs = {
        "good": _put(store, K_GOOD, b"good" * 100),
        "corrupt": _put(store, K_CORRUPT, b"soon corrupt" * 100),
        "missing": _put(store, K_MISSING, b"soon gone" * 100),
    }
    store.save(K_SHARED, Artifact(blobs={"a": refs["good"], "b": refs["corrupt"]}))
    (root / "actions" / f"{K_INVALID}.json").write_text('{"blobs": []}')
    blob = _path(root, refs["corrupt"])
    blob.write_bytes(b"X" * blob.stat().st_size)
    _path(root, refs["missing"]).unlink()
    old_tmp = root / "blobs" / "sha256" / "ab" / f"{'c' * 62}.tmp-{'0' * 32}"
    old_tmp.parent.mkdir(parents=True, exist_ok=True)
    old_tmp.write_bytes(b"half a blob")
    os.utime(old_tmp, (OLD, OLD))
    young_tmp = root / "actions" / f"{'6' * 64}.json.tmp-{'1' * 32}"
    young_tmp.write_text("{")  # a live run may be about to rename it
    return root, refs, old_tmp, young_tmp


def _kinds(report):
    return sorted((p.kind, p.path.split("/")[0]) for p in report.problems)


def test_a_clean_cache_is_ok(tmp_path):
    store = CacheStore(str(tmp_path / "cache"))
    _put(store, K_GOOD, b"a" * 10)
    _put(store, K_CORRUPT, b"b" * 20)
    report = verify_cache(store)
    assert report.ok and report.problems == []
    assert (report.manifests, report.blobs, report.bytes_hashed) == (2, 2, 30)
    assert format_report(report).endswith(": OK")


def test_verify_finds_every_kind_of_problem_and_changes_nothing(damaged):
    root, refs, old_tmp, young_tmp = damaged
    before = sorted(p for p in root.rglob("*") if p.is_file())
    report = verify_cache(CacheStore(str(root)))
    assert not report.ok
    assert _kinds(report) == [
        ("corrupt_blob", "actions"),  # the entry whose blob is corrupt
        ("corrupt_blob", "actions"),  # the entry sharing that blob
        ("corrupt_blob", "blobs"),  # the blob itself
        ("invalid_manifest", "actions"),
        ("missing_blob", "actions"),
        ("orphan_temp", "blobs"),
        ("stale_record", "verified"),  # the record of the blob that went missing
    ]
    assert sorted(p for p in root.rglob("*") if p.is_file()) == before


def test_repair_removes_what_is_bad_and_keeps_what_is_good(damaged):
    root, refs, old_tmp, young_tmp = damaged
    report = verify_cache(CacheStore(str(root)), repair=True)
    assert report.ok and all(p.repaired for p in report.problems) and len(report.problems) == 7
    store = CacheStore(str(root))
    assert store.lookup(K_GOOD).hit
    for key in (K_CORRUPT, K_MISSING, K_INVALID, K_SHARED):
        assert store.lookup(key).status is LookupStatus.MISSING  # rebuilt by the next run
    assert not _path(root, refs["corrupt"]).exists()
    assert _path(root, refs["good"]).exists()
    assert not old_tmp.exists() and young_tmp.exists()
    again = verify_cache(CacheStore(str(root)))
    assert again.ok and again.problems == []


def test_the_command_prints_one_line_per_problem_and_exits_1(damaged, capsys):
    root, *_ = damaged
    assert main(["cache", "verify", "--cache", str(root)]) == 1
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 8  # 7 problems and the summary
    assert any(line.startswith("corrupt_blob: blobs/sha256/") for line in out)
    assert "--repair" in out[-1]


def test_the_command_repairs_then_exits_0(damaged, capsys):
    root, *_ = damaged
    assert main(["cache", "verify", "--cache", str(root), "--repair"]) == 0
    assert "[removed]" in capsys.readouterr().out
    assert main(["cache", "verify", "--cache", str(root), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is True and report["problems"] == [] and report["manifests"] == 1  # only the good entry is left


def test_the_cache_url_comes_from_the_environment(damaged, monkeypatch, capsys):
    root, *_ = damaged
    monkeypatch.setenv("VIDFLOW_CACHE", str(root))
    assert main(["cache", "verify", "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["ok"] is False


def test_no_cache_there_is_a_user_error(tmp_path, capsys):
    assert main(["cache", "verify", "--cache", str(tmp_path / "nope")]) == 2
    assert "no cache there" in capsys.readouterr().err


def test_repair_writes_records_so_the_next_lookup_reads_nothing(tmp_path):
    from tests.cache import counting

    root = tmp_path / "cache"
    _put(CacheStore(str(root)), K_GOOD, b"g" * 1000)
    import shutil

    shutil.rmtree(root / "verified")
    verify_cache(CacheStore(str(root)), repair=True)
    counting.register_local()
    counting.reset()
    assert CacheStore(f"countfile://{root}").lookup(K_GOOD).hit
    assert counting.READS["bytes"] == 0


def test_progress_is_reported_for_every_file(damaged):
    root, *_ = damaged
    seen = []
    verify_cache(CacheStore(str(root)), progress=lambda done, total, path: seen.append((done, total)))
    assert seen and seen[-1][0] == seen[-1][1] == len(seen)
