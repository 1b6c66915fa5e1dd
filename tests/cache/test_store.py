"""The local cache never serves, nor calls cached, anything it has not verified.

Manifests are checked against their schema; blobs against their digest, by hashing once and then
trusting a verification record only while the blob's stat is unchanged. A warm lookup reads no
blob bytes (counted by a real fsspec filesystem that wraps the local one).
"""

from __future__ import annotations

import json
import os

import pytest

from tests.cache import counting
from vidflow.cache.store import Artifact, CacheLookup, CacheStore, LookupStatus
from vidflow.errors import CacheCorruptError, CacheError
from vidflow.scratch import Scratch

KEY = "a" * 64


@pytest.fixture
def cache_dir(tmp_path):
    return tmp_path / "cache"


@pytest.fixture
def counted():
    counting.register_local()
    counting.reset()
    yield counting.READS
    counting.reset()


def _entry(store: CacheStore, key: str = KEY, data: bytes = b"RIFF-some-audio" * 100) -> Artifact:
    ref = store.put_blob(data, media_type="audio/wav", ext="wav")
    art = Artifact(value={"text": "hi", "duration": 1.5}, blobs={"audio": ref}, meta={"kind": "speech"})
    store.save(key, art)
    return art


def _blob(cache_dir, art: Artifact):
    d = art.blobs["audio"].digest
    return cache_dir / "blobs" / "sha256" / d[:2] / d[2:]


def _manifest(art: Artifact, **changes):
    body = art.to_json(KEY)
    body.update(changes)
    return body


def test_a_saved_entry_is_a_hit(cache_dir):
    store = CacheStore(str(cache_dir))
    art = _entry(store)
    found = CacheStore(str(cache_dir)).lookup(KEY)
    assert found == CacheLookup(found.artifact, LookupStatus.HIT)
    assert found.hit and found.artifact.value == art.value and found.artifact.blobs == art.blobs
    assert CacheStore(str(cache_dir)).load(KEY).digest == art.digest


def test_no_manifest_is_missing(cache_dir):
    assert CacheStore(str(cache_dir)).lookup(KEY) == CacheLookup(None, LookupStatus.MISSING)


WRONG_SHAPES = {
    "a list": [],
    "null": None,
    "a string": "x",
    "blobs as a list": {"blobs": []},
    "digest a number": "DIGEST5",
    "size a string": "SIZE_STR",
    "size a bool": "SIZE_BOOL",
    "negative size": "SIZE_NEG",
    "no value": "NO_VALUE",
    "meta a list": "META_LIST",
    "another scheme": "SCHEME2",
    "scheme true": "SCHEME_TRUE",
    "another key": "OTHER_KEY",
    "an unknown field": "EXTRA",
}


def _wrong(shape, art: Artifact):
    good = _manifest(art)
    blob = good["blobs"]["audio"]
    return {
        "DIGEST5": {**good, "blobs": {"audio": {**blob, "digest": 5}}},
        "SIZE_STR": {**good, "blobs": {"audio": {**blob, "size": "12"}}},
        "SIZE_BOOL": {**good, "blobs": {"audio": {**blob, "size": True}}},
        "SIZE_NEG": {**good, "blobs": {"audio": {**blob, "size": -1}}},
        "NO_VALUE": {k: v for k, v in good.items() if k != "value"},
        "META_LIST": {**good, "meta": []},
        "SCHEME2": {**good, "scheme": 2},
        "SCHEME_TRUE": {**good, "scheme": True},
        "OTHER_KEY": {**good, "key": "b" * 64},
        "EXTRA": {**good, "lines": "x"},
    }.get(shape, shape) if isinstance(shape, str) else shape


@pytest.mark.parametrize("name", WRONG_SHAPES)
def test_a_manifest_of_the_wrong_shape_is_an_invalid_manifest_not_an_exception(cache_dir, name):
    store = CacheStore(str(cache_dir))
    art = _entry(store)
    (cache_dir / "actions" / f"{KEY}.json").write_text(json.dumps(_wrong(WRONG_SHAPES[name], art)))
    found = CacheStore(str(cache_dir)).lookup(KEY)
    assert found.status is LookupStatus.INVALID_MANIFEST and found.artifact is None
    assert found.detail  # says what is wrong


@pytest.mark.parametrize("raw", [b"", b"{", b"\xff\xfe\x00", b"[" * 100_000, b"NaN"])
def test_an_unreadable_manifest_is_an_invalid_manifest(cache_dir, raw):
    (cache_dir / "actions").mkdir(parents=True)
    (cache_dir / "actions" / f"{KEY}.json").write_bytes(raw)
    assert CacheStore(str(cache_dir)).lookup(KEY).status is LookupStatus.INVALID_MANIFEST


def test_a_value_the_caller_rejects_is_an_invalid_manifest(cache_dir):
    store = CacheStore(str(cache_dir))
    store.save(KEY, Artifact(value={"title": "t", "lines": "x", "scenes": []}))

    def dialogue(art):
        if not isinstance(art.value["lines"], list):
            raise TypeError("lines must be a list")

    found = store.lookup(KEY, check=dialogue)
    assert found.status is LookupStatus.INVALID_MANIFEST and "lines must be a list" in found.detail
    assert store.lookup(KEY).hit  # without the check the envelope is fine


def test_save_replaces_an_invalid_manifest(cache_dir):
    store = CacheStore(str(cache_dir))
    art = _entry(store)
    (cache_dir / "actions" / f"{KEY}.json").write_text("[]")
    store.save(KEY, art)
    assert CacheStore(str(cache_dir)).lookup(KEY).hit


def test_a_missing_blob_is_missing_blob(cache_dir):
    art = _entry(CacheStore(str(cache_dir)))
    _blob(cache_dir, art).unlink()
    assert CacheStore(str(cache_dir)).lookup(KEY).status is LookupStatus.MISSING_BLOB


def test_a_blob_of_another_size_is_corrupt_without_reading_it(cache_dir, counted):
    art = _entry(CacheStore(str(cache_dir)))
    _blob(cache_dir, art).write_bytes(b"short")
    found = CacheStore(f"countfile://{cache_dir}").lookup(KEY)
    assert found.status is LookupStatus.CORRUPT_BLOB and "bytes" in found.detail
    assert counted["bytes"] == 0


def _overwrite_later(blob, data: bytes) -> None:
    """Overwrite in place, as a later write would: its mtime is newer than the verified one.

    (On kernels with coarse file timestamps two writes a millisecond apart can share one; the
    mtime is moved on explicitly so the test states what it checks whatever the kernel.)
    """
    st = blob.stat()
    blob.write_bytes(data)
    os.utime(blob, ns=(st.st_atime_ns, max(blob.stat().st_mtime_ns, st.st_mtime_ns + 1_000_000)))


def test_same_size_corruption_is_caught_even_in_the_process_that_verified_it(cache_dir):
    store = CacheStore(str(cache_dir))
    art = _entry(store)
    assert store.lookup(KEY).hit
    blob = _blob(cache_dir, art)
    _overwrite_later(blob, b"X" * blob.stat().st_size)
    assert store.lookup(KEY).status is LookupStatus.CORRUPT_BLOB
    assert CacheStore(str(cache_dir)).lookup(KEY).status is LookupStatus.CORRUPT_BLOB


def test_same_size_corruption_with_the_old_mtime_put_back_is_caught(cache_dir):
    """A writer that restores the mtime (rsync -t, a careless tool) still changes the ctime."""
    store = CacheStore(str(cache_dir))
    art = _entry(store)
    blob = _blob(cache_dir, art)
    st = blob.stat()
    blob.write_bytes(b"Y" * st.st_size)
    os.utime(blob, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert blob.stat().st_mtime_ns == st.st_mtime_ns
    if blob.stat().st_ctime_ns == st.st_ctime_ns:
        pytest.skip("this filesystem's timestamps are too coarse to see a write 1 ms later")
    assert CacheStore(str(cache_dir)).lookup(KEY).status is LookupStatus.CORRUPT_BLOB


def test_a_warm_lookup_reads_no_blob_bytes(cache_dir, counted):
    art = _entry(CacheStore(str(cache_dir)))
    found = CacheStore(f"countfile://{cache_dir}").lookup(KEY)
    assert found.hit and found.artifact.blobs == art.blobs
    assert counted["bytes"] == 0 and counted["opens"] == 0


def test_without_a_record_a_blob_is_hashed_once_then_trusted_by_its_stat(cache_dir, counted):
    art = _entry(CacheStore(str(cache_dir)))
    size = art.blobs["audio"].size
    for rec in (cache_dir / "verified").rglob("*"):
        if rec.is_file():
            rec.unlink()  # as a cache copied from elsewhere, or written by an older vidflow
    assert CacheStore(f"countfile://{cache_dir}").lookup(KEY).hit
    assert counted["bytes"] == size  # the counter sees real reads
    counting.reset()
    assert CacheStore(f"countfile://{cache_dir}").lookup(KEY).hit
    assert counting.READS["bytes"] == 0


def test_a_garbage_record_only_costs_a_rehash(cache_dir, counted):
    art = _entry(CacheStore(str(cache_dir)))
    d = art.blobs["audio"].digest
    (cache_dir / "verified" / d[:2] / d[2:]).write_text('{"size": "nonsense"')
    assert CacheStore(f"countfile://{cache_dir}").lookup(KEY).hit
    assert counted["bytes"] == art.blobs["audio"].size


def test_a_copied_cache_is_rehashed_once_not_trusted_blindly(tmp_path, cache_dir, counted):
    import shutil

    art = _entry(CacheStore(str(cache_dir)))
    copy = tmp_path / "copy"
    shutil.copytree(cache_dir, copy)  # new inodes: the records do not vouch for these files
    blob = _blob(copy, art)
    st = blob.stat()
    blob.write_bytes(b"Z" * st.st_size)
    os.utime(blob, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert CacheStore(f"countfile://{copy}").lookup(KEY).status is LookupStatus.CORRUPT_BLOB


def test_put_blob_rewrites_a_corrupt_blob(cache_dir):
    store = CacheStore(str(cache_dir))
    data = b"the real bytes" * 50
    art = _entry(store, data=data)
    blob = _blob(cache_dir, art)
    _overwrite_later(blob, b"!" * len(data))
    fresh = CacheStore(str(cache_dir))
    assert fresh.lookup(KEY).status is LookupStatus.CORRUPT_BLOB
    fresh.put_blob(data, media_type="audio/wav", ext="wav")
    assert blob.read_bytes() == data
    assert CacheStore(str(cache_dir)).lookup(KEY).hit


def test_save_refuses_a_manifest_whose_blob_is_not_stored(cache_dir):
    from vidflow.cache.store import BlobRef

    store = CacheStore(str(cache_dir))
    ghost = BlobRef("c" * 64, 3, "audio/wav", "wav")
    with pytest.raises(CacheError, match="refusing"):
        store.save(KEY, Artifact(blobs={"audio": ghost}))
    assert store.lookup(KEY).status is LookupStatus.MISSING


def test_blob_file_of_a_corrupt_local_blob_raises_and_removes_it(cache_dir):
    store = CacheStore(str(cache_dir))
    art = _entry(store)
    blob = _blob(cache_dir, art)
    _overwrite_later(blob, b"X" * blob.stat().st_size)
    with pytest.raises(CacheCorruptError):
        CacheStore(str(cache_dir)).blob_file(art.blobs["audio"])
    assert not blob.exists()


def test_lookup_status_values_are_the_documented_strings():
    assert [s.value for s in LookupStatus] == ["hit", "missing", "invalid_manifest", "corrupt_blob", "missing_blob"]
    assert LookupStatus.CORRUPT_BLOB == "corrupt_blob"  # str enum: events can carry it as is


# ---------------------------------------------------------------------------- scratch


def test_remote_blob_copies_go_to_the_scratch_folder_and_close_removes_them(tmp_path):
    from fsspec.implementations.memory import MemoryFileSystem

    MemoryFileSystem.store.clear()
    with Scratch.open(str(tmp_path / "scratch")) as scratch:
        store = CacheStore("memory://vfstore", scratch=scratch)
        art = _entry(store)
        local = store.blob_file(art.blobs["audio"])
        assert local.startswith(scratch.path + os.sep)
        with open(local, "rb") as f:
            assert f.read() == b"RIFF-some-audio" * 100
        store.close()
        assert not os.path.exists(local)
        assert os.path.isdir(scratch.path)  # the caller's scratch folder is the caller's to close
    MemoryFileSystem.store.clear()


def test_a_store_given_a_scratch_root_owns_its_folder(tmp_path):
    from fsspec.implementations.memory import MemoryFileSystem

    MemoryFileSystem.store.clear()
    root = tmp_path / "scratch"
    with CacheStore("memory://vfstore2", scratch=str(root)) as store:
        art = _entry(store)
        local = store.blob_file(art.blobs["audio"])
        assert local.startswith(str(root) + os.sep)
    assert list(root.iterdir()) == []
    MemoryFileSystem.store.clear()
