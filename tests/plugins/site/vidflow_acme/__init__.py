"""A third-party plugin, as a package outside vidflow would ship it: one capability, one provider.

The ``shout`` capability turns a line into a caption in a style (``upper`` or ``lower``) through
a ``shout.*`` provider. It is registered only through this package's entry points
(``vidflow_acme-0.1.dist-info/entry_points.txt``); vidflow has no code for it.

The provider appends one line per call to the file named by ``ACME_CALL_LOG`` (start and end
times), so tests can count calls and check that the recipe's limits held.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from vidflow.cache.store import Artifact
from vidflow.capabilities import ProviderCapability, ProviderStep, template_where
from vidflow.providers.base import Provider
from vidflow.recipe.templating import render


@dataclass(frozen=True)
class ShoutRequest:
    __key_tag__ = "acme.shout.request"
    text: str
    style: str


@dataclass
class ShoutResult:
    text: str
    cost_usd: float = 0.0
    model: str = "crier-1"


class ShoutStep(ProviderStep):
    text: str
    style: Literal["upper", "lower"] = "upper"


class ShoutCapability(ProviderCapability):
    name: ClassVar[str] = "shout"
    Step: ClassVar[type[ShoutStep]] = ShoutStep
    provider_capability: ClassVar[str] = "shout"
    template_fields: ClassVar[tuple[str, ...]] = ("text",)

    def request(self, step, adapter, ctx, loaded) -> ShoutRequest:
        return ShoutRequest(render(step.spec.text, ctx, where=template_where(loaded, step, ctx)("text")), step.spec.style)

    def sketch(self, step, adapter, loaded) -> ShoutRequest:
        return ShoutRequest("x" * 40, step.spec.style)

    def units(self, request: ShoutRequest) -> dict[str, float]:
        return {"chars": float(len(request.text))}

    async def invoke(self, adapter: Any, request: ShoutRequest) -> ShoutResult:
        return await adapter.shout(request)

    async def artifact(self, step, request, result, meta, rt) -> Artifact:
        return Artifact(value={"caption": result.text}, meta=meta)


class Crier(Provider):
    kind: ClassVar[str] = "shout.crier"
    capability: ClassVar[str] = "shout"
    typical_latency: ClassVar[float] = 0.05

    async def shout(self, req: ShoutRequest) -> ShoutResult:
        start = time.time()
        await asyncio.sleep(0.05)
        text = req.text.upper() if req.style == "upper" else req.text.lower()
        log = os.environ.get("ACME_CALL_LOG")
        if log:
            with open(log, "a", encoding="utf-8") as f:
                f.write(json.dumps({"text": req.text, "start": start, "end": time.time()}) + "\n")
        return ShoutResult(text)
