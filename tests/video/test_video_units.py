"""Video prices per second of clip, and the cache's job records (what makes a clip paid once)."""

from __future__ import annotations

import pytest

from vidflow.cache.store import CacheStore
from vidflow.pricing import PriceTable
from vidflow.providers.video_contract import ContentRejectedError, JobFailedError, job_failed


def test_video_cost_is_per_second_by_resolution_else_litellms_map(tmp_path):
    prices = PriceTable.load()
    assert prices.video_cost("gemini/veo-3.1-fast-generate-preview", 4, 720, 1280) == pytest.approx(0.40)
    assert prices.video_cost("gemini/veo-3.1-fast-generate-preview", 4, 1080, 1920) == pytest.approx(0.48)
    assert prices.video_cost("openai/sora-2", 4, 720, 1280) == pytest.approx(0.40)  # from litellm's bundled map
    assert prices.video_cost("nobody/unknown-video", 4, 720, 1280) is None
    override = tmp_path / "prices.yaml"
    override.write_text("video:\n  nobody/unknown-video: {per_second: 0.5}\n")
    assert PriceTable.load(override).video_cost("nobody/unknown-video", 2, 720, 1280) == pytest.approx(1.0)


def test_a_job_record_survives_a_new_store_and_is_dropped_once_used(tmp_path):
    store = CacheStore(str(tmp_path / "cache"))
    key = "ab" * 32
    assert store.get_job(key) is None
    store.put_job(key, {"job": "video_123", "provider": "director", "cost_usd": 0.4})
    again = CacheStore(str(tmp_path / "cache"))  # another process, same cache
    assert again.get_job(key) == {"job": "video_123", "provider": "director", "cost_usd": 0.4}
    again.drop_job(key)
    again.drop_job(key)  # nothing to drop: fine
    assert store.get_job(key) is None
    (tmp_path / "cache" / "jobs" / f"{key}.json").write_text("{not json")
    assert store.get_job(key) is None  # unreadable: as if none (the clip is submitted anew)


def test_a_vendor_failure_carries_its_reason_and_refusals_are_content_rejections():
    refused = job_failed("video.litellm", "op-1", "Blocked by our safety filters")
    assert isinstance(refused, ContentRejectedError) and "safety filters" in str(refused) and "op-1" in str(refused)
    other = job_failed("video.litellm", "op-2", "internal error while rendering")
    assert isinstance(other, JobFailedError) and "internal error while rendering" in str(other)
