"""The ``publish`` capability: copy a topic's finished video to its destination, manifest beside it.

The destination is the step's ``to:`` template, rendered; it must stay inside its root (the
rules are in :mod:`vidflow.outputs`): a topic that renders to ``../../etc``, a URL or a path
through a symlink out of the root fails that topic alone (OutputPathError), never a write. It is
rendered even in a dry run, so ``vidflow plan`` reports a destination that cannot be written
(exit 2) before anything is paid for.

The manifest carries the compose step's QA figures (``qa``: measured duration, loudness, true
peak, black/frozen/silent stretches, the limits they passed), and so does the topic's report
entry (:func:`qa_summary`). Writes are never visible half-done (``storage.atomic_put_file``).
When the destination already holds this exact video (the manifest beside it names the same
digest and the bytes there hash to it), nothing is written; a video corrupted in place, even
keeping its size, is written again. Publishing is a side effect, so its node is never cached.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING, Any, Callable, ClassVar

from pydantic import Field

from ..cache.store import Artifact
from ..errors import OutputPathError, Problem, TemplateError
from ..outputs import already_published, resolve_destination, sidecar_path
from ..recipe.schema import StepModel
from ..recipe.templating import render
from ..storage import atomic_put_file, atomic_write, client_errors, url_to_fs
from .base import UNKNOWN, Capability, Expansion, Prepared, Runtime, TaskInputs, TaskSpec, template_where, topic_context

if TYPE_CHECKING:  # pragma: no cover
    from ..recipe.load import LoadedRecipe, StepInfo

__all__ = ["PublishCapability", "PublishStep"]


class PublishStep(StepModel):
    to: str
    from_: str | None = Field(default=None, alias="from")
    manifest: bool = True


class PublishCapability(Capability):
    name: ClassVar[str] = "publish"
    Step: ClassVar[type[PublishStep]] = PublishStep
    trigger: ClassVar[str] = "to"
    template_fields: ClassVar[tuple[str, ...]] = ("to",)
    cacheable: ClassVar[bool] = False

    def wire(self, step: StepInfo, loaded: LoadedRecipe, problems: list[Problem]) -> None:
        composes = [t for t in loaded.steps.values() if t.capability == "compose"]
        explicit = step.spec.from_
        if explicit:
            if explicit not in loaded.steps or loaded.steps[explicit].capability != "compose":
                problems.append(Problem(loaded.loc("steps", step.name, "from"), f"steps.{step.name}.from", f"`from: {explicit}` must name a compose step"))
                return
            source = explicit
        elif len(composes) == 1:
            source = composes[0].name
        else:
            what = "no" if not composes else "more than one"
            problems.append(Problem(loaded.loc("steps", step.name), f"steps.{step.name}", f"found {what} compose step to publish; name it with `from: <step>`"))
            return
        step.links["from"] = source
        step.deps.add(source)

    def expand_needs(self, step: StepInfo) -> dict[str, str]:
        return {step.links["from"]: "nodes", **{d: "nodes" for d in step.template_deps}}

    def expand(self, step: StepInfo, x: Expansion) -> list[TaskSpec]:
        names = sorted({step.links["from"], *step.template_deps})
        inputs = tuple((n, x.results[n]) for n in names)
        deps = tuple(dict.fromkeys(i for _, ids in inputs for i in ids))
        return [TaskSpec(step.name, deps=deps, inputs=inputs, params={"source": x.results[step.links["from"]][0]})]

    def preflight(self, step: StepInfo, loaded: LoadedRecipe, output_root: str) -> list[tuple[str, Problem]]:
        """Each topic's destination, when `to:` reads no step's output (else it is known only later)."""
        if step.template_deps:
            return []
        where, path = loaded.loc("steps", step.name, "to"), f"steps.{step.name}.to"
        problems: list[tuple[str, Problem]] = []
        for topic in loaded.topics:
            try:
                self._destination(step, loaded, topic_context(loaded, topic), output_root, topic.id)
            except OutputPathError as e:
                problems.append((topic.id, Problem(where, path, str(e))))
            except TemplateError as e:  # (it names where itself)
                problems.append((topic.id, Problem("", "", str(e))))
        return problems

    def _destination(self, step: StepInfo, loaded: LoadedRecipe, ctx: dict[str, Any], output_root: str, topic_id: str) -> str:
        """Where ``to:`` puts this topic's video (OutputPathError naming the topic, what is wrong and the fix)."""
        rendered = render(step.spec.to, ctx, where=template_where(loaded, step, ctx)("to"))
        return resolve_destination(step.spec.to, rendered, output_root, topic=topic_id)

    def prepare(self, task: Any, step: StepInfo, inputs: TaskInputs, loaded: LoadedRecipe, adapters: Callable[[str], Any]) -> Prepared | None:
        try:
            dest = self._destination(step, loaded, inputs.template_context(partial=True), inputs.output_root, task.topic)
        except OutputPathError as e:
            raise OutputPathError(f"{loaded.loc('steps', step.name, 'to')}: steps.{step.name}.to: {e}") from None
        other = inputs.claim_output(dest)
        if other is not None:
            raise TemplateError(f"topics `{other}` and `{task.topic}` both publish to {dest}; put a per-topic part in `to:` such as {{{{ topic | slug }}}}")
        video = inputs.artifact(task.params["source"])
        if video is UNKNOWN:
            return None
        return Prepared(fields=None, payload={"dest": dest, "video": video})

    async def lookup(self, task: Any, prepared: Prepared, key: str, rt: Runtime) -> Artifact | None:
        dest, video = prepared.payload["dest"], prepared.payload["video"]
        opts = rt.settings.storage_options(dest)
        side = sidecar_path(dest)
        with client_errors():  # (the destination's store stopped answering: an OSError, the node fails)
            published = await asyncio.to_thread(already_published, dest, side, video.blobs["video"].digest, opts)
        if published:
            return Artifact(value={"output": dest, "manifest": side, **_carried(video)})
        return None

    async def execute(self, task: Any, step: StepInfo, prepared: Prepared, rt: Runtime) -> Artifact:
        dest, video = prepared.payload["dest"], prepared.payload["video"]
        side = sidecar_path(dest)
        manifest = _manifest(task, rt, video, dest)
        local = await rt.io(rt.store.blob_file, video.blobs["video"])
        with client_errors():
            await asyncio.to_thread(_write, local, dest, side, manifest, rt.settings.storage_options(dest), step.spec.manifest)
        return Artifact(value={"output": dest, "manifest": side if step.spec.manifest else None, **_carried(video)})

    def topic_output(self, task: Any, artifact: Artifact) -> dict[str, Any] | None:
        v = artifact.value or {}
        out = {"output": v.get("output"), "manifest": v.get("manifest"), "duration": v.get("duration")}
        if v.get("qa"):
            out["qa"] = qa_summary(v["qa"])
        if v.get("warnings"):
            out["warnings"] = list(v["warnings"])
        return out


def _carried(video: Artifact) -> dict[str, Any]:
    """What the published topic reports of its video: length, QA figures, warnings."""
    v = video.value
    return {"duration": v.get("duration"), "qa": v.get("qa"), **({"warnings": v["warnings"]} if v.get("warnings") else {})}


def qa_summary(qa: dict[str, Any]) -> dict[str, Any]:
    """The QA figures a run report shows per topic (the manifest has them all, stretches included)."""
    out = {k: qa.get(k) for k in ("duration", "loudness", "true_peak", "channels", "sample_rate", "passed")}
    for kind in ("silence", "black", "frozen"):
        out[f"longest_{kind}"] = (qa.get(kind) or {}).get("longest")
    return out


def _write(local: str, dest: str, side: str, manifest: dict, opts: dict, with_manifest: bool) -> None:
    """The video, then the manifest beside it: each appears whole or not at all."""
    fs, path = url_to_fs(dest, **opts)
    atomic_put_file(fs, local, path, content_type="video/mp4")
    if with_manifest:
        _, side_path = url_to_fs(side, **opts)
        body = json.dumps(manifest, indent=2, ensure_ascii=False).encode()
        atomic_write(fs, side_path, body, content_type="application/json")


def _manifest(task: Any, rt: Runtime, video: Artifact, dest: str) -> dict[str, Any]:
    record = rt.topic_record(task.topic)
    return {
        "vidflow": 1,
        "recipe": rt.loaded.name,
        "topic": record["topic"],
        "topic_id": task.topic,
        "output": dest,
        "video_digest": video.blobs["video"].digest,
        "size": video.blobs["video"].size,
        "duration": video.value.get("duration"),  # measured on the file when QA is on
        "qa": video.value.get("qa"),
        "music": video.value.get("music"),  # the bed's name and sha256, when there is one
        "title": video.value.get("title", ""),
        "scenes": video.value.get("scenes", []),
        "nodes": {"ran": record["ran"], "cached": record["cached"]},
        "made_by": record["made_by"],
        "placeholders": record["placeholders"],
        **({"warnings": video.value["warnings"]} if video.value.get("warnings") else {}),
        "cost_usd": round(record["cost_usd"], 6),
        "cost_usd_recorded": round(record["cost_usd_recorded"], 6),
        "run_id": rt.run_id,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
