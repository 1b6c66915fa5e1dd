"""What each node of a topic is: its inputs, its key fields, and how it executes.

:class:`TopicRun` walks one topic's steps. Each step becomes one node, or one node per item
(``for_each``); compose becomes one segment node per scene plus the final video node; publish
writes the video to its destination. Items flow downstream on their own: a scene's segment
starts when *its* lines and image exist, not when the whole step is done.

What enters a key (and what does not) is decided here:

* provider node: adapter kind + version + options, and the rendered request (prompt, text,
  resolved voice, size, seed). Not the provider's name, limits, keys or timeouts.
* segment node: compose settings, the scene image digest, each line's text, speaker, audio
  digest and word timings, the cast's colours, sides and sprite digests, the font digest.
* video node: the segment digests, line audio digests and slot lengths, settings.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from ..cache.store import Artifact
from ..errors import (
    BadOutputError,
    NodeFailedError,
    TemplateError,
    UpstreamFailedError,
    UserError,
)
from ..plan.dialogue import check_dialogue, dialogue_schema
from ..providers.base import ImageRequest, SpeakerInfo, SpeechRequest, TextRequest
from ..recipe.load import StepInfo
from ..recipe.templating import render
from ..recipe.topics import Topic
from .engine import UNKNOWN, Engine, NodeSpec
from .ledger import EventType

__all__ = ["TopicRun"]

DEFAULT_LIST_ESTIMATE = 5
ESTIMATED_LINE_CHARS = 80  # a spoken line, when the script does not exist yet


class TopicRun:
    def __init__(self, engine: Engine, topic: Topic):
        self.e = engine
        self.topic = topic
        self.loaded = engine.loaded
        self.single: dict[str, asyncio.Future] = {}
        self.items: dict[str, asyncio.Future] = {}
        loop = asyncio.get_running_loop()
        for name in self.loaded.order:
            info = self.loaded.steps[name]
            target = self.items if info.for_each else self.single
            target[name] = loop.create_future()
        chars = list(self.loaded.characters.values())
        self.speakers = self.loaded.speaker_names()
        self.by_name = {c.name: c for c in chars}
        variables = {**self.loaded.recipe.vars, **topic.vars}
        self.base_ctx = {
            **variables,
            "topic": topic.text,
            "topic_id": topic.id,
            "vars": variables,
            "characters": [c.template_view() for c in chars],
            "recipe": {"name": self.loaded.name},
        }

    # ------------------------------------------------------------------ driver
    async def run(self) -> None:
        tasks = [asyncio.create_task(self._step(self.loaded.steps[n])) for n in self.loaded.order]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        # Drain item futures so failures never go unretrieved.
        for fut in self.items.values():
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                for child in fut.result():
                    if child.done() and not child.cancelled():
                        child.exception()

    async def _step(self, info: StepInfo) -> None:
        target = self.items[info.name] if info.for_each else self.single[info.name]
        try:
            if info.shape in ("text", "speech", "image"):
                if info.for_each:
                    await self._fan_out(info)
                    return
                result = await self._provider_node(info, None, None)
            elif info.shape == "compose":
                result = await self._compose(info)
            else:
                result = await self._publish(info)
            target.set_result(result)
        except (NodeFailedError, UserError, BadOutputError) as exc:
            if not isinstance(exc, NodeFailedError):
                # A template or output problem found while building the node: it fails here.
                node_id = f"{self.topic.id}/{info.name}"
                self.e.fail_unbuilt(node_id, info.name, self.topic, info.shape, exc)
                exc = NodeFailedError(node_id, str(exc))
            if not target.done():
                target.set_exception(exc)
                target.exception()
            if info.shape == "publish":
                self._topic_finished("failed", error=str(exc))
        except BaseException as exc:
            if not target.done():
                target.set_exception(exc if isinstance(exc, Exception) else asyncio.CancelledError())
                target.exception()
            raise

    # ------------------------------------------------------------------ inputs
    async def _upstream(self, name: str) -> Any:
        """An upstream step's output as templates see it (a list for for_each steps)."""
        info = self.loaded.steps[name]
        try:
            if info.for_each:
                children = await self.items[name]
                arts = await asyncio.gather(*children)
                return [UNKNOWN if a is UNKNOWN else _view(info, a) for a in arts]
            art = await self.single[name]
        except NodeFailedError as e:
            raise UpstreamFailedError(e.node, f"upstream `{name}` failed") from e
        return UNKNOWN if art is UNKNOWN else _view(info, art)

    async def _context(self, info: StepInfo, item: Any = None, index: int | None = None) -> dict[str, Any] | None:
        """Template context, or None if an input is not known yet (plan mode)."""
        ctx = dict(self.base_ctx)
        for dep in sorted(info.deps):
            if info.for_each and dep == info.for_each[0]:
                continue
            if dep in self.loaded.steps and self.loaded.steps[dep].shape not in ("publish",):
                value = await self._upstream(dep)
                if value is UNKNOWN or (isinstance(value, list) and UNKNOWN in value):
                    return None
                ctx[dep] = value
        if info.for_each:
            if item is UNKNOWN:
                return None
            ctx["item"] = item
            ctx["index"] = index
        return ctx

    def _render(self, info: StepInfo, field_name: str, ctx: dict[str, Any]) -> str:
        source = info.templates.get(field_name, "")
        loc = self.loaded.loc("steps", info.name, field_name)
        return render(source, ctx, where=f"{loc}: steps.{info.name}.{field_name} (topic {self.topic.id!r})")

    # ------------------------------------------------------------------ provider steps
    async def _fan_out(self, info: StepInfo) -> None:
        src, fld = info.for_each
        source = self.loaded.steps[src]
        try:
            if source.for_each:
                parents = await self.items[src]
                children = [
                    asyncio.ensure_future(self._chained_item(info, source, i, p)) for i, p in enumerate(parents)
                ]
            else:
                art = await self.single[src]
                if art is UNKNOWN:
                    n = self._estimate_count(source, fld)
                    children = [asyncio.ensure_future(self._provider_node(info, UNKNOWN, i, estimated=True)) for i in range(n)]
                else:
                    value = _view(source, art)
                    seq = value.get(fld) if isinstance(value, dict) and fld else (value if not fld else None)
                    if not isinstance(seq, list):
                        raise BadOutputError(f"for_each over `{src}.{fld}`: the output is {type(seq).__name__}, not a list")
                    children = [asyncio.ensure_future(self._provider_node(info, it, i)) for i, it in enumerate(seq)]
        except NodeFailedError as e:
            raise UpstreamFailedError(e.node, f"upstream `{src}` failed") from e
        self.items[info.name].set_result(children)
        await asyncio.gather(*children, return_exceptions=True)

    async def _chained_item(self, info: StepInfo, source: StepInfo, i: int, parent: asyncio.Future) -> Any:
        try:
            art = await parent
        except NodeFailedError as e:
            node_id = f"{self.topic.id}/{info.name}[{i}]"
            self.e.skipped(node_id, info.name, self.topic, self.loaded.providers[info.provider].kind, e)
            raise UpstreamFailedError(node_id, f"upstream {e.node} failed") from e
        item = UNKNOWN if art is UNKNOWN else _view(source, art)
        return await self._provider_node(info, item, i, estimated=art is UNKNOWN and self.e.graph.nodes.get(f"{self.topic.id}/{source.name}[{i}]", {}).get("estimated", False))

    def _estimate_count(self, source: StepInfo, fld: str | None) -> int:
        if source.shape == "text" and source.spec.output == "dialogue":
            adapter = self.e.adapter(source.provider)
            hints = {"lines": source.spec.lines, "scenes": source.spec.scenes}
            if hasattr(adapter, "expected_size"):
                lines, scenes = adapter.expected_size(hints)
            else:
                lines, scenes = (source.spec.lines or 8), (source.spec.scenes or 4)
            return lines if fld == "lines" else scenes
        return DEFAULT_LIST_ESTIMATE

    def output_value(self, step: str) -> Any:
        """What ``step`` produced for this topic, once the run is over (UNKNOWN if it failed)."""
        info = self.loaded.steps[step]
        fut = self.items[step] if info.for_each else self.single[step]
        if not fut.done() or fut.cancelled() or fut.exception() is not None:
            return UNKNOWN
        if not info.for_each:
            art = fut.result()
            return UNKNOWN if art is UNKNOWN else art.value
        values = []
        for child in fut.result():
            if not child.done() or child.cancelled() or child.exception() is not None or child.result() is UNKNOWN:
                return UNKNOWN
            values.append(child.result().value)
        return values

    def _imported_node(self, info: StepInfo) -> NodeSpec:
        """A node whose output comes from a stage document (--input): hashed like any artifact."""
        value = self.e.imports[info.name][self.topic.id]
        art = Artifact(value=value, meta={"imported": True, "provider": "input"})

        async def lookup() -> Artifact:
            return art

        async def never() -> Artifact:  # pragma: no cover - lookup always answers
            return art

        return NodeSpec(
            id=f"{self.topic.id}/{info.name}", topic=self.topic, step=info.name, kind="imported",
            fields={"node": "imported", "value": value}, execute=never, lookup=lookup,
        )

    async def _provider_node(self, info: StepInfo, item: Any, index: int | None, *, estimated: bool = False) -> Any:
        if info.name in self.e.imports and index is None:
            return await self.e.resolve(self._imported_node(info))
        provider = self.loaded.providers[info.provider]
        node_id = f"{self.topic.id}/{info.name}" + (f"[{index}]" if index is not None else "")
        deps = self._dep_ids(info, index)
        try:
            ctx = await self._context(info, item, index)
        except UpstreamFailedError as e:
            self.e.skipped(node_id, info.name, self.topic, provider.kind, e)
            raise UpstreamFailedError(node_id, str(e)) from e
        adapter = self.e.adapter(info.provider)
        try:
            request = None if ctx is None else self._request(info, adapter, ctx)
            fallbacks = []
            for fb in getattr(info.spec, "fallback", []) if ctx is not None else []:
                fb_adapter = self.e.adapter(fb)
                fallbacks.append((fb, fb_adapter, self._request(info, fb_adapter, ctx)))
        except UserError as exc:
            self.e.fail_unbuilt(node_id, info.name, self.topic, provider.kind, exc)
            raise NodeFailedError(node_id, str(exc)) from exc
        fields = None if request is None else {"node": "provider", "provider": adapter.identity(), "request": request}
        estimate = {"latency": float(provider.spec.latency if provider.spec.latency is not None else adapter.typical_latency)}
        estimate["cost_estimate"] = adapter.estimate_cost(request if request is not None else self._sketch(info, adapter))
        node = NodeSpec(
            id=node_id, topic=self.topic, step=info.name, kind=provider.kind, fields=fields, deps=deps,
            provider=info.provider, estimated=estimated,
            execute=lambda: self._call(info, info.provider, adapter, request),
            estimate=estimate,
            fallbacks=[(fb, (lambda fb=fb, a=a, r=r: self._call(info, fb, a, r))) for fb, a, r in fallbacks],
        )
        if info.shape == "image" and info.spec.on_failure == "placeholder":
            node.placeholder = lambda exc: self._placeholder(request, exc)
        return await self.e.resolve(node)

    def _dep_ids(self, info: StepInfo, index: int | None) -> list[str]:
        out = []
        for d in sorted(info.deps):
            dep = self.loaded.steps[d]
            if dep.for_each and info.for_each and info.for_each[0] == d and index is not None:
                out.append(f"{self.topic.id}/{d}[{index}]")
            elif not dep.for_each:
                out.append(f"{self.topic.id}/{d}")
        return out

    def _request(self, info: StepInfo, adapter: Any, ctx: dict[str, Any]) -> Any:
        spec = info.spec
        if info.shape == "text":
            speakers = ()
            if spec.output == "dialogue":
                speakers = tuple(
                    SpeakerInfo(c.name, tuple(c.profile.catchphrases), c.profile.persona) for c in self.loaded.characters.values()
                )
            hints = {k: v for k, v in (("lines", spec.lines), ("scenes", spec.scenes)) if v}
            schema = dialogue_schema([s.name for s in speakers]) if spec.output == "dialogue" else spec.schema_
            return TextRequest(
                prompt=self._render(info, "prompt", ctx), system=self._render(info, "system", ctx) if spec.system else "",
                output=spec.output, topic=self.topic.text if adapter.wants_topic else "", speakers=speakers, hints={**hints, **spec.params},
                schema=schema,
            )
        if info.shape == "speech":
            text = self._render(info, "text", ctx).strip()
            if not text:
                raise TemplateError(f"{self.loaded.loc('steps', info.name, 'text')}: steps.{info.name}.text rendered to nothing")
            voice = self._render(info, "voice", ctx).strip()
            who = self.loaded.characters.get(voice) or self.by_name.get(self.speakers.get(voice.lower(), ""))
            params = dict(spec.params)
            if who is not None:
                resolved = who.voice_for(adapter.voice_key())
                if resolved is None:
                    raise TemplateError(f"{who.file}: character `{who.id}` has no voice for `{adapter.voice_key()}`")
                voice = resolved
                params = {**who.voice_params(adapter.voice_key()), **params}
            return SpeechRequest(text=text, voice=voice, params=params)
        width, height = self._frame_size()
        if spec.size:
            width, height = (int(x) for x in spec.size.split("x"))
        caption = self._render(info, "caption", ctx) if spec.caption else (ctx.get("item", {}) or {}).get("caption", "") if isinstance(ctx.get("item"), dict) else ""
        return ImageRequest(prompt=self._render(info, "prompt", ctx), width=width, height=height, seed=spec.seed, caption=caption)

    def _frame_size(self) -> tuple[int, int]:
        for s in self.loaded.steps.values():
            if s.shape == "compose":
                return s.spec.width, s.spec.height
        return 1080, 1920

    def _sketch(self, info: StepInfo, adapter: Any) -> Any:
        """A stand-in request for a node whose inputs do not exist yet (plan estimates)."""
        if info.shape == "speech":
            return SpeechRequest(text="x" * ESTIMATED_LINE_CHARS, voice="")
        if info.shape == "image":
            width, height = self._frame_size()
            if info.spec.size:
                width, height = (int(x) for x in info.spec.size.split("x"))
            return ImageRequest(prompt="", width=width, height=height, seed=info.spec.seed)
        return TextRequest(prompt="x" * 400, output=info.spec.output)

    async def _call(self, info: StepInfo, provider: str, adapter: Any, request: Any) -> Artifact:
        store = self.e.store
        limiter = self.e.limiter(provider)
        await self.e.warm_up(provider)
        async with limiter:
            estimate = adapter.estimate_cost(request) if adapter.paid else 0.0
            if adapter.paid:
                self.e.budget.reserve(self.topic.id, estimate)
            actual = 0.0
            try:
                self.e.calls[provider] = self.e.calls.get(provider, 0) + 1
                started_at = time.time()
                t0 = self.e.clock.now()
                if info.shape == "text":
                    res = await adapter.generate(request)
                elif info.shape == "speech":
                    res = await adapter.synthesize(request)
                else:
                    res = await adapter.generate_image(request)
                seconds = self.e.clock.now() - t0
                actual = float(getattr(res, "cost_usd", 0.0) or 0.0)
            finally:
                if adapter.paid:
                    self.e.budget.settle(self.topic.id, estimate, actual)
        meta = {"provider": provider, "kind": adapter.kind, "model": getattr(res, "model", ""), "cost_usd": actual, "seconds": round(seconds, 4), "started_at": started_at}
        if info.shape == "text":
            value = res.value
            if info.spec.output == "dialogue":
                value = check_dialogue(value, self.speakers or None)
            meta["tokens"] = {"input": res.input_tokens, "output": res.output_tokens}
            return Artifact(value=value, meta=meta)
        if info.shape == "speech":
            ref = await self.e.io(lambda: store.put_blob(res.audio, media_type=res.media_type, ext=res.extension))
            words = [[w.word, round(w.start, 4), round(w.end, 4), w.char_start, w.char_end] for w in res.words]
            value = {"text": request.text, "duration": res.duration, "words": words, "estimated_timings": res.timings_estimated}
            return Artifact(value=value, blobs={"audio": ref}, meta=meta)
        ref = await self.e.io(lambda: store.put_blob(res.data, media_type=res.media_type, ext=res.extension))
        return Artifact(value={"width": res.width, "height": res.height, "caption": request.caption}, blobs={"image": ref}, meta=meta)

    async def _placeholder(self, request: ImageRequest | None, exc: BaseException) -> Artifact:
        from ..providers.image_procedural import render_placeholder

        req = request or ImageRequest(prompt="")
        data = await asyncio.to_thread(render_placeholder, req.caption, width=req.width, height=req.height)
        ref = await self.e.io(lambda: self.e.store.put_blob(data, media_type="image/png", ext="png"))
        return Artifact(
            value={"width": req.width, "height": req.height, "caption": req.caption},
            blobs={"image": ref},
            meta={"placeholder": True, "cause": f"{type(exc).__name__}: {exc}", "provider": "placeholder"},
        )

    # ------------------------------------------------------------------ compose
    async def _compose(self, info: StepInfo) -> Any:
        from .compose_nodes import compose_topic

        return await compose_topic(self, info)

    # ------------------------------------------------------------------ publish
    async def _publish(self, info: StepInfo) -> Any:
        from .publish import publish_topic

        return await publish_topic(self, info)

    def _topic_finished(self, status: str, **data: Any) -> None:
        self.e.sink.emit(_topic_event(self.e, self.topic, status, data))


def _view(info: StepInfo, art: Artifact) -> Any:
    """An artifact as templates see it."""
    if info.shape == "text":
        return art.value
    if info.shape == "speech":
        v = art.value or {}
        return {"text": v.get("text", ""), "duration": v.get("duration", 0.0)}
    return dict(art.value or {})


def _topic_event(e: Engine, topic: Topic, status: str, data: dict[str, Any]):
    from .ledger import Event

    return Event(e.run_id, EventType.TOPIC_FINISHED, topic=topic.id, data={"status": status, "topic": topic.text, **data})

