"""What every capability that calls a provider shares: ``uses:``, ``fallback:``, the request.

A provider step renders its templates into one request per provider it may use (the primary,
then each ``fallback:``); the key covers the primary adapter's identity (kind, version, options
that change the output) and its request, never the provider's name, limits, keys or timeouts.
Executing tries the primary under the scheduler's retries, then each fallback, then (if the
capability allows it) a placeholder.

Subclasses say how a request is built (:meth:`request`), how a provider is called
(:meth:`invoke`) and how its answer becomes an artifact (:meth:`artifact`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, ClassVar, Literal

from pydantic import Field

from ..cache.fingerprint import Encoded
from ..cache.store import Artifact
from ..calibration import Calibration, lane_key
from ..errors import BudgetExceededError, ProviderError, VidflowError
from ..recipe.schema import StepModel
from .base import Capability, Prepared, Runtime, TaskInputs

if TYPE_CHECKING:  # pragma: no cover
    from ..recipe.load import LoadedRecipe, StepInfo

__all__ = ["ProviderCapability", "ProviderStep"]


class ProviderStep(StepModel):
    """Keys every provider step has."""

    uses: str
    fallback: list[str] = []
    for_each: str | None = None
    on_failure: Literal["fail", "placeholder"] = "fail"
    params: dict[str, Any] = Field(default={}, description="extra parameters passed to the provider (text and speech steps)")


class ProviderCapability(Capability):
    """Base for capabilities whose nodes are provider calls."""

    Step: ClassVar[type[ProviderStep]] = ProviderStep
    #: ``on_failure: placeholder`` is allowed (the capability can make a stand-in output).
    placeholder_allowed: ClassVar[bool] = False
    #: The step's ``params:`` reach the provider (its request carries them). Where the request has
    #: no place for them, ``params:`` is a recipe error rather than silently dropped.
    params_passed: ClassVar[bool] = True
    estimate_per_step: ClassVar[bool] = True  # the step's sketch request, on its provider's lane

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        if "estimate" in vars(cls) and "estimate_per_step" not in vars(cls):
            cls.estimate_per_step = False  # its own estimate may read the node: never shared unless it says so

    # ------------------------------------------------------------------ subclass hooks
    def request(self, step: StepInfo, adapter: Any, ctx: dict[str, Any], loaded: LoadedRecipe) -> Any:
        """The rendered request for ``adapter`` (raises TemplateError when a template fails)."""
        raise NotImplementedError

    def sketch(self, step: StepInfo, adapter: Any, loaded: LoadedRecipe) -> Any:
        """A stand-in request for a node whose inputs do not exist yet (plan estimates)."""
        raise NotImplementedError

    async def invoke(self, adapter: Any, request: Any) -> Any:
        """Call the provider (the capability's Protocol method)."""
        raise NotImplementedError

    async def artifact(self, step: StepInfo, request: Any, result: Any, meta: dict[str, Any], rt: Runtime) -> Artifact:
        """The provider's answer as an artifact (blobs stored through ``rt.store``)."""
        raise NotImplementedError

    async def placeholder(self, step: StepInfo, request: Any, error: BaseException, rt: Runtime) -> Artifact:
        raise error

    def units(self, request: Any) -> dict[str, float]:
        """What the request is made of, for plans (``{"chars": 80}``, ``{"images": 1}``)."""
        return {}

    # ------------------------------------------------------------------ the shared part
    def wire(self, step: StepInfo, loaded: LoadedRecipe, problems: list) -> None:
        if step.spec.on_failure == "placeholder" and not self.placeholder_allowed:
            from ..errors import Problem

            where = ("steps", step.name, "on_failure")
            problems.append(Problem(loaded.loc(*where), f"steps.{step.name}.on_failure", f"a {self.name} step cannot use a placeholder; remove `on_failure: placeholder`"))
        if step.spec.params and not self.params_passed:
            from ..errors import Problem

            where = ("steps", step.name, "params")
            problems.append(Problem(loaded.loc(*where), f"steps.{step.name}.params", f"{'an' if self.name[:1] in 'aeiou' else 'a'} {self.name} step passes no `params:` to its provider; remove them and set the provider's own options under `providers:` instead (see docs/providers.md)"))
        elif step.spec.params:
            from ..errors import Problem

            for name, info in _step_providers(step, loaded):
                for param, why in info.cls.check_params(step.spec.params).items():
                    where = ("steps", step.name, "params", param)
                    problems.append(Problem(loaded.loc(*where), f"steps.{step.name}.params.{param}", f"{why} (read by `{info.kind}`, provider `{name}`)"))

    def plan_warnings(self, step: StepInfo, loaded: LoadedRecipe) -> list[str]:
        """A step param that a provider of the step does not read is ignored by it: say so."""
        out = []
        for name, info in _step_providers(step, loaded):
            unread = [p for p in step.spec.params if info.cls.params_read is not None and p not in info.cls.params_read]
            for param in unread:
                reads = ", ".join(f"`{p}`" for p in sorted(info.cls.params_read)) or "none"
                out.append(f"{loaded.loc('steps', step.name, 'params', param)}: steps.{step.name}.params.{param}: `{info.kind}` (provider `{name}`) "
                           f"does not read `{param}` and ignores it (params it reads: {reads}; its own options go under `providers.{name}`, docs/providers.md)")
        return out

    @staticmethod
    def latency(task: Any, step: StepInfo, loaded: LoadedRecipe, adapter: Any, calibration: Calibration) -> float:
        """Seconds of one call: the recipe's ``latency:`` hint, else what past runs of this cache
        measured, else the adapter's typical latency."""
        spec = loaded.providers[step.provider].spec
        if spec.latency is not None:
            return float(spec.latency)
        return calibration.seconds(lane_key(task, loaded), float(adapter.typical_latency))

    def estimate(self, task: Any, step: StepInfo, loaded: LoadedRecipe, adapter: Any, calibration: Calibration) -> Prepared:
        req = self.sketch(step, adapter, loaded)
        return Prepared(fields=None, cost=adapter.estimate_cost(req), seconds=self.latency(task, step, loaded, adapter, calibration), units=self.units(req))

    def prepare(self, task: Any, step: StepInfo, inputs: TaskInputs, loaded: LoadedRecipe, adapters: Callable[[str], Any]) -> Prepared | None:
        ctx = inputs.template_context()
        if ctx is None:
            return None
        requests = [(p, self.request(step, adapters(p), ctx, loaded)) for p in (step.provider, *step.fallbacks)]
        adapter, req = adapters(step.provider), requests[0][1]
        fields = {"node": "provider", "provider": _key_identity(adapter), "request": req}
        calibration = inputs.calibration
        seconds = step.memo.get("provider.latency")
        if seconds is None or seconds[0] is not calibration:  # one step, one provider lane: one latency per run
            seconds = step.memo["provider.latency"] = (calibration, self.latency(task, step, loaded, adapter, calibration))
        return Prepared(fields, payload=requests, cost=adapter.estimate_cost(req), seconds=seconds[1], units=self.units(req))

    async def execute(self, task: Any, step: StepInfo, prepared: Prepared, rt: Runtime) -> Artifact:
        error: BaseException | None = None
        candidates = prepared.payload
        for i, (provider, request) in enumerate(candidates):
            adapter = rt.adapter(provider)
            try:
                call = await rt.call(
                    task, provider, lambda a=adapter, r=request: self.invoke(a, r),
                    estimate=adapter.estimate_cost(request) if adapter.paid else 0.0, fallback=i > 0,
                )
            except BudgetExceededError:
                raise  # a cheaper fallback would still be a paid call past the cap
            except (ProviderError, VidflowError, OSError) as e:
                error = e
                if i + 1 < len(candidates):
                    rt.fallback(task, provider, e, candidates[i + 1][0])
                continue
            res = call.value
            meta = {
                "provider": provider, "kind": adapter.kind, "model": getattr(res, "model", "") or "",
                "cost_usd": float(getattr(res, "cost_usd", 0.0) or 0.0), "seconds": round(call.seconds, 4),
                "started_at": call.started_at,
            }
            return await self.artifact(step, request, res, meta, rt)
        assert error is not None
        if step.spec.on_failure == "placeholder" and isinstance(error, (ProviderError, VidflowError)):
            return await self.placeholder(step, candidates[0][1], error, rt)
        raise error


def _step_providers(step: StepInfo, loaded: LoadedRecipe) -> list[tuple[str, Any]]:
    """The step's provider and fallbacks, as loaded (those that did not load are reported elsewhere)."""
    names = dict.fromkeys((step.provider, *step.fallbacks))
    return [(n, info) for n in names if n and (info := loaded.providers.get(n)) is not None and info.cls is not None]


def _key_identity(adapter: Any) -> Encoded:
    """The adapter's ``identity()``, encoded for keys once per adapter instance (all its nodes
    share it; an adapter's options do not change while it lives)."""
    ident = getattr(adapter, "_vidflow_key_identity", None)
    if ident is None:
        ident = Encoded(adapter.identity())
        try:
            adapter._vidflow_key_identity = ident
        except AttributeError:  # an adapter with __slots__: encoded per node
            pass
    return ident
