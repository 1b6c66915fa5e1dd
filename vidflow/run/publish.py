"""Publish: copy a topic's finished video to its destination, with a manifest beside it.

The destination is the step's ``to:`` template, rendered, and it must stay inside its root
(the rules are in :mod:`vidflow.outputs`): a topic that renders to ``../../etc``, a URL or a
path through a symlink out of the root is an error for that topic, not a write.

Writes are never visible half-done: a local file is written to a temp name and renamed; an
object store gets a temp key that is copied into place. When the destination already holds
this exact video (the manifest beside it names the same digest and the bytes hash to it),
nothing is written.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING, Any

from ..cache.store import Artifact
from ..errors import NodeFailedError, TemplateError, UpstreamFailedError
from ..outputs import already_published, resolve_destination, sidecar_path
from ..recipe.load import StepInfo
from ..recipe.templating import render
from ..storage import atomic_put_file, atomic_write, url_to_fs
from .engine import UNKNOWN, NodeSpec

if TYPE_CHECKING:
    from .nodes import TopicRun

__all__ = ["publish_topic", "resolve_destination"]


async def publish_topic(tr: TopicRun, info: StepInfo) -> Any:
    e = tr.e
    node_id = f"{tr.topic.id}/{info.name}"
    try:
        video = await tr.single[info.source]
    except NodeFailedError as exc:
        e.skipped(node_id, info.name, tr.topic, "publish", exc)
        raise UpstreamFailedError(node_id, f"upstream `{info.source}` failed") from exc
    ctx = {**tr.base_ctx, info.source: {} if video is UNKNOWN else dict(video.value)}
    rendered = render(info.spec.to, ctx, where=f"{tr.loaded.loc('steps', info.name, 'to')}: steps.{info.name}.to (topic {tr.topic.id!r})")
    dest = resolve_destination(info.spec.to, rendered, e.output_root, topic=tr.topic.id)
    other = e.outputs_claimed.setdefault(dest, tr.topic.id)
    if other != tr.topic.id:
        raise TemplateError(
            f"topics `{other}` and `{tr.topic.id}` both publish to {dest}; put a per-topic part in `to:` such as {{{{ topic | slug }}}}"
        )
    side = sidecar_path(dest)
    opts = e.settings.storage_options(dest)

    async def lookup() -> Artifact | None:
        if video is UNKNOWN:
            return None
        return await asyncio.to_thread(_already_published, dest, side, video.blobs["video"].digest, opts)

    async def execute() -> Artifact:
        manifest = _manifest(tr, info, video, dest)
        local = await e.io(e.store.blob_file, video.blobs["video"])
        await asyncio.to_thread(_write, local, dest, side, manifest, opts, info.spec.manifest)
        return Artifact(value={"output": dest, "manifest": side if info.spec.manifest else None})

    node = NodeSpec(
        id=node_id, topic=tr.topic, step=info.name, kind="publish", fields=None if video is UNKNOWN else {"dest": dest},
        execute=execute, deps=[f"{tr.topic.id}/{info.source}"], cacheable=False, lookup=lookup, estimated=video is UNKNOWN,
    )
    art = await e.resolve(node)
    if art is not UNKNOWN:
        tr._topic_finished("published", output=dest, duration=video.value.get("duration"), manifest=side)
    return art


def _already_published(dest: str, side: str, digest: str, opts: dict) -> Artifact | None:
    if already_published(dest, side, digest, opts):
        return Artifact(value={"output": dest, "manifest": side})
    return None


def _write(local: str, dest: str, side: str, manifest: dict, opts: dict, with_manifest: bool) -> None:
    """The video, then the manifest beside it: each appears whole or not at all."""
    fs, path = url_to_fs(dest, **opts)
    atomic_put_file(fs, local, path, content_type="video/mp4")
    if with_manifest:
        _, side_path = url_to_fs(side, **opts)
        body = json.dumps(manifest, indent=2, ensure_ascii=False).encode()
        atomic_write(fs, side_path, body, content_type="application/json")


def _manifest(tr: TopicRun, info: StepInfo, video: Artifact, dest: str) -> dict[str, Any]:
    e = tr.e
    nodes = {n: d for n, d in e.graph.nodes(data=True) if d.get("topic") == tr.topic.id and d.get("step") != info.name}
    ran = sorted(n for n, d in nodes.items() if d.get("status") == "ran")
    cached = sorted(n for n, d in nodes.items() if d.get("status") == "cached")
    return {
        "vidflow": 1,
        "recipe": tr.loaded.name,
        "topic": tr.topic.text,
        "topic_id": tr.topic.id,
        "output": dest,
        "video_digest": video.blobs["video"].digest,
        "size": video.blobs["video"].size,
        "duration": video.value.get("duration"),
        "title": video.value.get("title", ""),
        "scenes": video.value.get("scenes", []),
        "nodes": {"ran": ran, "cached": cached},
        "made_by": {n: d.get("made_by", "") for n, d in sorted(nodes.items()) if d.get("made_by")},
        "placeholders": sorted(n for n, d in nodes.items() if d.get("placeholder")),
        "cost_usd": round(sum(d.get("cost_usd", 0.0) for n, d in nodes.items() if d.get("status") == "ran"), 6),
        "cost_usd_recorded": round(sum(d.get("cost_recorded", 0.0) for d in nodes.values()), 6),
        "run_id": e.run_id,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
