"""`vidflow cache gc` on a local cache: what it frees, what it never touches, and a run beside it."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time

import pytest

from tests.cache.gcutil import TOPICS, cli, tree_size, write_recipe
from vidflow.cache.gc import CLOCK_MARGIN, GcPolicy, collect_garbage
from vidflow.cache.store import CacheStore
from vidflow.run.ledger import EventType, read_events


def _runs(project, n: int) -> list[str]:
    """n runs, topics sliding by one each time (run i: topics i and i+1)."""
    recipes = [write_recipe(project, TOPICS[i:i + 2], f"run{i}.yaml") for i in range(n)]
    for r in recipes:
        rc, _, err = cli("run", r, "--plain")
        assert rc == 0, err
    return recipes


def _settle() -> None:
    """Let what the runs wrote become older than gc's clock margin (gc keeps anything newer)."""
    time.sleep(CLOCK_MARGIN + 0.2)


def _manifests(project) -> set[str]:
    return {p.stem for p in (project / "cache" / "actions").glob("*.json")}


def test_events_record_full_keys_that_name_the_manifests(project):
    _runs(project, 1)
    (path,) = (project / "runs").glob("*/events.jsonl")
    keys = {e.data["key"] for e in read_events(str(path)) if e.type in (EventType.NODE_SUCCEEDED, EventType.NODE_CACHED) and "key" in e.data}
    assert keys and all(len(k) == 64 for k in keys)
    assert keys == _manifests(project)


def test_keep_runs_frees_space_and_the_kept_runs_replay_fully_cached(project):
    """Must-show 7: five runs with changing topics, then `gc --keep-runs 2`."""
    recipes = _runs(project, 5)
    before = tree_size(project / "cache")
    _settle()
    rc, out, err = cli("cache", "gc", "--keep-runs", "2", "--json")
    assert rc == 0, err
    report = json.loads(out)
    assert report["manifests_removed"] > 0 and report["blobs_removed"] > 0
    assert report["bytes_freed"] > 0 and tree_size(project / "cache") < before
    assert len(report["kept_runs"]) == 2
    for r in recipes[3:]:  # the last two runs replay without making anything
        rc, out, err = cli("plan", r, "--check")
        assert rc == 0, out + err
    rc, _, _ = cli("plan", recipes[0], "--check")
    assert rc == 1  # the first run's topics are gone: what gc freed was real
    rc, out, err = cli("cache", "verify")
    assert rc == 0, out + err
    rc, out, _ = cli("cache", "gc", "--keep-runs", "2", "--json")  # nothing left to remove
    assert json.loads(out)["manifests_removed"] == 0 and json.loads(out)["blobs_removed"] == 0


def test_dry_run_removes_nothing_and_says_what_gc_would(project):
    _runs(project, 3)
    _settle()
    files = sorted(p for p in (project / "cache").rglob("*") if p.is_file())
    rc, out, _ = cli("cache", "gc", "--keep-runs", "1", "--dry-run", "--json")
    dry = json.loads(out)
    assert rc == 0 and dry["dry_run"] and dry["manifests_removed"] > 0
    assert sorted(p for p in (project / "cache").rglob("*") if p.is_file()) == files
    rc, out, _ = cli("cache", "gc", "--keep-runs", "1", "--json")
    real = json.loads(out)
    assert (real["manifests_removed"], real["blobs_removed"]) == (dry["manifests_removed"], dry["blobs_removed"])


def test_protected_records_keep_entries_and_blobs_no_run_uses(project):
    recipes = _runs(project, 2)
    first = sorted((project / "runs").glob("*/events.jsonl"))
    keys_of_first = {e.data["key"] for e in read_events(str(min(first, key=lambda p: read_events(str(p))[0].ts))) if "key" in e.data}
    only_first = keys_of_first - {e.data["key"] for p in first for e in read_events(str(p)) if "key" in e.data and str(p) != str(min(first, key=lambda p: read_events(str(p))[0].ts))}
    assert only_first
    approved = sorted(only_first)[0]
    (project / "cache" / "protected").mkdir(exist_ok=True)  # runs keep their snapshots protected there too
    (project / "cache" / "protected" / "approvals.json").write_text(json.dumps({"keys": [approved], "digests": []}))
    _settle()
    rc, out, err = cli("cache", "gc", "--keep-runs", "1")
    assert rc == 0, err
    assert approved in _manifests(project)
    assert not (only_first - {approved}) & _manifests(project)
    store = CacheStore(str(project / "cache"))
    assert store.lookup(approved).hit  # its blobs stayed with it
    (project / "cache" / "protected" / "bad.json").write_text("{not json")
    rc, _, err = cli("cache", "gc", "--keep-runs", "1")
    assert rc == 2 and "protected record" in err and "Traceback" not in err
    assert cli("plan", recipes[1], "--check")[0] == 0


def test_a_callable_protects_too(project):
    from vidflow.cache.gc import Protection

    _runs(project, 2)
    _settle()
    everything = _manifests(project)
    store = CacheStore(str(project / "cache"))
    report = collect_garbage(store, GcPolicy(keep_runs=1), runs_dir=str(project / "runs"), protect=lambda s: Protection(keys=frozenset(everything)))
    assert report.manifests_removed == 0 and _manifests(project) == everything


def test_older_than_removes_what_was_not_used_lately(project):
    _runs(project, 2)
    _settle()
    store = CacheStore(str(project / "cache"))
    runs = str(project / "runs")
    report = collect_garbage(store, GcPolicy(older_than=30 * 86400), runs_dir=runs)
    assert report.manifests_removed == 0  # everything was used minutes ago
    later = time.time() + 31 * 86400
    report = collect_garbage(store, GcPolicy(older_than=30 * 86400), runs_dir=runs, now=lambda: later)
    assert report.manifests_removed == report.manifests > 0 and not _manifests(project)


def test_max_size_evicts_least_recently_used_first(project):
    from vidflow.cache.usage import read_runs

    recipes = _runs(project, 3)
    _settle()
    total = tree_size(project / "cache")
    rc, out, err = cli("cache", "gc", "--max-size", f"{total - 1}B", "--json")  # one byte too many
    assert rc == 0, err
    assert json.loads(out)["manifests_removed"] >= 1
    assert [cli("plan", r, "--check")[0] for r in recipes] == [1, 0, 0]  # only the oldest run lost anything
    last_use: dict[str, float] = {}
    for r in read_runs(str(project / "runs")):
        last_use.update(r.keys)
    before = _manifests(project)
    target = tree_size(project / "cache") * 2 // 3
    rc, out, err = cli("cache", "gc", "--max-size", f"{target}B", "--json")
    report = json.loads(out)
    assert rc == 0 and 0 < report["bytes_after"] <= target and tree_size(project / "cache") == report["bytes_after"]
    removed, kept = before - _manifests(project), _manifests(project)
    assert removed and kept
    assert max(last_use[k] for k in removed) <= min(last_use[k] for k in kept)  # least recently used first


def test_refuses_keep_runs_without_a_run_record_of_this_cache(project):
    _runs(project, 1)
    _settle()
    before = _manifests(project)
    rc, _, err = cli("cache", "gc", "--keep-runs", "1", "--runs-dir", str(project / "elsewhere"))
    assert rc == 2 and "--keep-runs would remove every entry" in err
    rc, _, err = cli("cache", "gc", "--keep-runs", "1", "--cache", str(project / "other-cache"))
    assert rc == 2 and "no cache there" in err
    assert _manifests(project) == before


@pytest.mark.parametrize(("flags", "message"), [
    ((), "say what to remove"), (("--keep-runs", "0"), "at least 1"), (("--older-than", "soon"), "30d"), (("--max-size", "big"), "20GB"),
])
def test_bad_flags_are_one_clear_line(project, flags, message):
    (project / "cache").mkdir()
    rc, _, err = cli("cache", "gc", *flags)
    assert rc == 2 and message in err and "Traceback" not in err


def test_a_blob_a_live_run_wrote_is_kept_while_older_orphans_go(project):
    """A run that has not finished (its record has no run_finished) keeps what it wrote."""
    _runs(project, 1)
    (done,) = (project / "runs").glob("*/events.jsonl")
    lines = [json.loads(x) for x in done.read_text().splitlines()]
    now = time.time()
    live = project / "runs" / "29991231-000000-live00" / "events.jsonl"
    live.parent.mkdir()
    lines[0]["ts"] = now - 100  # started 100 s ago, still going: no run_finished
    live.write_text("".join(json.dumps(x) + "\n" for x in lines if x["type"] != "run_finished"))
    store = CacheStore(str(project / "cache"))
    written = store.put_blob(b"a segment the live run is about to name in a manifest", media_type="video/mp4", ext="mp4")
    orphan = store.put_blob(b"left by a run killed long ago", media_type="video/mp4", ext="mp4")
    os.utime(store.blob_path(written.digest), (now - 50, now - 50))
    os.utime(store.blob_path(orphan.digest), (now - 500, now - 500))
    report = collect_garbage(store, GcPolicy(keep_runs=1), runs_dir=str(project / "runs"))
    assert report.live_runs == ["29991231-000000-live00"]
    assert os.path.exists(store.blob_path(written.digest))
    assert not os.path.exists(store.blob_path(orphan.digest))


class _Gate:
    """Holds a run at its first node made, until gc has run beside it."""

    def __init__(self) -> None:
        self.reached, self.go = threading.Event(), threading.Event()
        self.key = ""

    def emit(self, e) -> None:
        if e.type is EventType.NODE_SUCCEEDED and not self.reached.is_set():
            self.key = e.data.get("key", "")
            self.reached.set()
            assert self.go.wait(120)


def test_gc_running_beside_a_run_corrupts_nothing(project):
    """Must-show 7: gc runs again and again while a run writes; the run succeeds, the cache is
    clean and a rerun is fully cached."""
    from vidflow.api import load_recipe_file, run
    from vidflow.settings import Settings

    _runs(project, 2)  # topics 0-1, then 1-2
    _settle()  # older than the live run's start, as gc sees it: topic 0 may go while it runs
    recipe = write_recipe(project, TOPICS[2:4], "live.yaml")  # topic 2 is in the cache, topic 3 is new
    settings = Settings.from_env().replace(cache_url=str(project / "cache"), runs_dir=str(project / "runs"))
    gate, result = _Gate(), {}

    def go() -> None:
        try:
            result["run"] = asyncio.run(run(load_recipe_file(recipe), settings=settings, sink=gate, output_root=str(project)))
        except BaseException as e:  # reported by the main thread
            result["error"] = e
            gate.reached.set()

    thread = threading.Thread(target=go)
    thread.start()
    assert gate.reached.wait(120) and "error" not in result, result.get("error")
    _settle()  # what the run wrote so far is now older than gc's own margin
    store = CacheStore(str(project / "cache"))
    policy = GcPolicy(keep_runs=1)
    first = collect_garbage(store, policy, runs_dir=settings.runs_dir)
    assert len(first.live_runs) == 1 and first.manifests_removed > 0  # topic 0 went, beside the run
    assert gate.key in _manifests(project)  # the live run's own entry stayed
    gate.go.set()
    passes = 0
    while thread.is_alive() and passes < 500:
        collect_garbage(store, policy, runs_dir=settings.runs_dir)
        passes += 1
    thread.join(120)
    assert "error" not in result, result.get("error")
    assert result["run"].exit_code == 0, result["run"].summary.failures
    rc, out, err = cli("cache", "verify")
    assert rc == 0, out + err
    rc, out, err = cli("plan", recipe, "--check")
    assert rc == 0, out + err
    rc, out, err = cli("run", recipe, "--json")
    assert rc == 0 and json.loads(out)["nodes"]["ran"] == 0, out + err


def test_stats_show_entries_by_step_and_kind_and_recent_hit_rates(project):
    (recipe,) = _runs(project, 1)
    assert cli("run", recipe, "--plain", "--new-run")[0] == 0  # everything cached the second time
    rc, out, err = cli("cache", "stats", "--json")
    assert rc == 0, err
    stats = json.loads(out)
    assert stats["manifests"] == len(_manifests(project))
    assert set(stats["by_step"]) == {"script", "speech", "art"}
    assert set(stats["by_kind"]) == {"text.offline", "speech.espeak", "image.procedural"}
    assert sum(n for n, _ in stats["by_step"].values()) == stats["manifests"]
    assert [r["hit_rate"] for r in stats["runs"]] == [0.0, 1.0] and stats["hit_rate"] == 0.5
    assert stats["bytes"] == tree_size(project / "cache") and stats["unreferenced_blobs"] == 0
    rc, out, _ = cli("cache", "stats")
    assert rc == 0 and "speech.espeak" in out and "100%" in out


def test_stats_refuse_a_recent_count_below_1(project):
    """`--recent 0` used to print "no run of this cache is recorded" beside a recorded run."""
    _runs(project, 1)
    for n in ("0", "-3"):
        rc, out, err = cli("cache", "stats", "--recent", n)
        assert rc == 2 and "--recent must be at least 1" in err and "Traceback" not in err, out + err
    rc, out, err = cli("cache", "stats", "--recent", "1", "--json")
    assert rc == 0 and len(json.loads(out)["runs"]) == 1, err


def test_gc_without_keep_runs_does_not_say_it_kept_the_runs_entries(project):
    """With only --max-size, the recent run's entries can go: the summary must not claim they were kept."""
    _runs(project, 1)
    _settle()
    before = _manifests(project)
    rc, out, err = cli("cache", "gc", "--max-size", "0B", "--dry-run")
    assert rc == 0, err
    assert "kept what recent runs used" not in out and "no --keep-runs" in out
    assert f"would remove {len(before)} of {len(before)} entries" in out  # the run's entries would all go
    assert _manifests(project) == before  # a dry run
    rc, out, err = cli("cache", "gc", "--keep-runs", "1", "--dry-run")
    assert rc == 0 and "kept the entries of 1 run(s)" in out, out + err
