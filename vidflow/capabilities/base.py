"""The capability contract: what one kind of step *is*, from recipe keys to finished artifact.

A :class:`Capability` owns, for its kind of step:

* **load time**: which step bodies are its own (:meth:`claims`), its step schema (``Step``, a
  pydantic model), which fields are templates, cross-step wiring checks (:meth:`wire`) and what
  a ``for_each`` over its output yields (:meth:`items_problem`);
* **plan time** (pure): which upstream outputs it needs before its nodes can be named
  (:meth:`expand_needs`) and the nodes themselves (:meth:`expand`, returning :class:`TaskSpec`);
  the planner (``plan/build.py``) turns them into frozen Tasks;
* **run time**: the key fields and payload of one node from its resolved inputs
  (:meth:`prepare`), how to look it up (:meth:`lookup`) and make it (:meth:`execute`) through
  the :class:`Runtime` the scheduler gives it, and what templates see of its output (:meth:`view`).

What does *not* belong here: scheduling, caching policy, retries, limits, budget and events (the
scheduler owns them and offers them through :class:`Runtime`), vendor protocols (``providers/``)
and ffmpeg argv (``media/``). Capabilities are registered lazily by name
(``capabilities/registry.py``) and open to plugins through the ``vidflow.capabilities`` entry point.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, AsyncContextManager, Awaitable, Callable, ClassVar, Mapping, Protocol

from pydantic import BaseModel

from ..cache.store import Artifact
from ..calibration import Calibration
from ..errors import BadOutputError, Problem
from ..recipe.schema import StepModel
from ..frozen import fast_init

if TYPE_CHECKING:  # pragma: no cover
    from ..recipe.load import LoadedRecipe, StepInfo

__all__ = [
    "DEFAULT_LIST_ESTIMATE",
    "UNKNOWN",
    "Capability",
    "Expansion",
    "Prepared",
    "Runtime",
    "TaskInputs",
    "TaskSpec",
    "doomed_topics",
    "require",
    "template_where",
]


class _Unknown:
    """An output that does not exist yet (a dry run, or an input not made yet)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "UNKNOWN"

    def __bool__(self) -> bool:
        return False


UNKNOWN: Any = _Unknown()

#: for_each over an output that does not exist yet: how many items to plan for.
DEFAULT_LIST_ESTIMATE = 5


@fast_init
@dataclass(frozen=True)
class TaskSpec:
    """A node a capability asks for; the planner gives it an id, a topic and an estimate.

    Attributes:
        name: the node's name inside its topic (``speech[3]``, ``video.scene[1]``).
        role: what the node does inside its capability ("" for a plain step node).
        item: the ``for_each`` index, if any.
        deps: ids of the nodes whose outputs it needs (``topic/step[i]``).
        inputs: for templates: step name -> the node ids whose outputs that name stands for.
        item_from: where ``item`` comes from: (node id, field or None).
        params: capability-private static facts (a scene's line numbers, ...).
        estimated: the node exists by an estimate (its list's length is not known yet).
        provider: the provider instance it calls (limits, costs), if any.
        result: downstream steps see this node as the step's output.
    """

    name: str
    role: str = ""
    item: int | None = None
    deps: tuple[str, ...] = ()
    inputs: tuple[tuple[str, tuple[str, ...]], ...] = ()
    item_from: tuple[str, str | None] | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    estimated: bool = False
    provider: str | None = None
    result: bool = True


@fast_init
@dataclass(frozen=True)
class Expansion:
    """What the planner knows when it asks a capability for a step's nodes (one topic)."""

    topic_id: str
    values: Mapping[str, Any]  # step name -> its output's view (or UNKNOWN), for "value" needs
    results: Mapping[str, tuple[str, ...]]  # step name -> ids of its result nodes, for every need
    estimated: Mapping[str, bool]  # step name -> its result nodes exist by estimate
    loaded: LoadedRecipe
    adapters: Callable[[str], Any]  # provider name -> adapter instance (for size estimates)

    def node_id(self, name: str) -> str:
        return f"{self.topic_id}/{name}"


@dataclass
class Prepared:
    """A node made concrete from its inputs.

    ``fields`` is everything that decides the output (the key is its hash; None for nodes that
    are never cached); ``payload`` is whatever ``execute`` needs (a rendered request...);
    ``estimate`` the cost (USD), time (s) and units (``{"chars": 120}``) of making it.
    """

    fields: Mapping[str, Any] | None
    payload: Any = None
    cost: float = 0.0
    seconds: float = 0.0
    units: Mapping[str, float] = field(default_factory=dict)


class TaskInputs(Protocol):
    """A node's resolved inputs, as the scheduler hands them to :meth:`Capability.prepare`."""

    output_root: str  # where relative outputs go (publish)
    calibration: Calibration  # timings past runs of this cache measured (estimates)

    def artifact(self, node_id: str) -> Any:
        """The artifact of dependency ``node_id`` (or UNKNOWN in a dry run)."""
        ...

    def known(self) -> bool:
        """True when every dependency's output exists."""
        ...

    def template_context(self, *, partial: bool = False) -> dict[str, Any] | None:
        """Variables for this node's templates, or None when an input does not exist yet
        (``partial``: an input that does not exist yet is an empty mapping instead)."""
        ...

    def claim_output(self, dest: str) -> str | None:
        """Claim output ``dest`` for this node's topic; the topic that claimed it first, if another."""
        ...


class Runtime(Protocol):
    """What the scheduler offers a capability while it executes a node."""

    settings: Any
    store: Any  # the CacheStore: put_blob, put_blob_file, blob_file, read_blob
    loaded: LoadedRecipe
    output_root: str
    run_id: str
    clock: Any  # now() and async sleep(seconds): the scheduler's clock (virtual in tests)

    def adapter(self, provider: str) -> Any:
        """The provider instance's adapter (created once per run)."""
        ...

    async def call(self, task: Any, provider: str, fn: Callable[[], Awaitable[Any]], *, estimate: float, fallback: bool = False) -> Any:
        """One provider call under the provider's limits, budget and retry policy."""
        ...

    async def retrying(self, task: Any, provider: str, fn: Callable[[], Awaitable[Any]]) -> Any:
        """``fn`` under the provider's retry policy, without its concurrency slot or the budget
        (polls and downloads of a job already submitted with :meth:`call`)."""
        ...

    def fallback(self, task: Any, provider: str, error: BaseException, next_provider: str) -> None:
        """Record that ``provider`` failed for good and ``next_provider`` is tried next."""
        ...

    def note(self, task: Any, message: str, *, error: str = "", data: Mapping[str, Any] | None = None) -> None:
        """Say in the event log why a node does something again (e.g. submits an expired job anew)."""
        ...

    def cpu(self) -> AsyncContextManager[Any]:
        """A CPU slot (ffmpeg and local commands)."""
        ...

    def scratch(self, prefix: str) -> str:
        """A fresh scratch folder, removed when the run closes."""
        ...

    async def io(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Cache or storage I/O: inline for local stores, in a thread for remote ones."""
        ...

    def topic_record(self, topic_id: str) -> dict[str, Any]:
        """What happened to one topic's nodes so far (ran, cached, made_by, placeholders, cost)."""
        ...


class Capability:
    """Base class of every capability. Subclass it, set the class attributes, override hooks.

    Class attributes:
        name: the capability's name (``text``, ``compose``, ...); also its registry key.
        Step: the pydantic model of its step's keys (subclass :class:`StepModel`).
        provider_capability: steps of this capability say ``uses: <provider>`` and the
            provider's kind starts with this (``text`` -> ``text.offline``...). None for local work.
        trigger: or: a step with this key belongs to this capability (``compose``, ``to``...).
        template_fields: which of ``Step``'s fields are Jinja templates.
        cacheable: False for nodes whose output is a side effect (publish).
        exclusive: making a node is costly enough to take a lease (compose, local commands).
        estimate_per_step: its plan estimate depends only on the step, the node's role and
            provider (not on the topic or the node's params): a run computes it once per step.
    """

    name: ClassVar[str]
    Step: ClassVar[type[StepModel]] = StepModel
    provider_capability: ClassVar[str | None] = None
    trigger: ClassVar[str | None] = None
    template_fields: ClassVar[tuple[str, ...]] = ()
    cacheable: ClassVar[bool] = True
    #: Its local work is worth one process at a time per key (a lease): expensive CPU work.
    #: Provider nodes take the lease when their provider is paid.
    exclusive: ClassVar[bool] = False
    estimate_per_step: ClassVar[bool] = False

    # ------------------------------------------------------------------ load time
    def claims(self, body: Mapping[str, Any], provider_capability: str | None) -> bool:
        """Whether a step body is this capability's (``provider_capability``: of its ``uses:``)."""
        if self.trigger is not None:
            return self.trigger in body
        return self.provider_capability is not None and provider_capability == self.provider_capability

    def templates(self, spec: BaseModel) -> dict[str, str]:
        """Template field -> source, for the fields that are set."""
        out = {}
        for f in self.template_fields:
            value = getattr(spec, f, None)
            if isinstance(value, str) and value:
                out[f] = value
        return out

    def wire(self, step: StepInfo, loaded: LoadedRecipe, problems: list[Problem]) -> None:
        """Cross-step checks after every step is validated; may add to ``step.deps``/``links``."""

    def preflight(self, step: StepInfo, loaded: LoadedRecipe, output_root: str) -> list[tuple[str, Problem]]:
        """(topic id, problem) for what a topic's own values already doom (a publish path that
        cannot be written), known before any work. A run whose every topic is doomed is refused
        as ``vidflow plan`` refuses it, instead of paying for every node and failing at the end."""
        return []

    def plan_warnings(self, step: StepInfo, loaded: LoadedRecipe) -> list[str]:
        """What ``vidflow plan`` should warn about this step (things that run, but not as the
        user may expect), each naming where in the user's files."""
        return []

    def items_problem(self, step: StepInfo, field_name: str | None) -> str | None:
        """Why ``for_each: <step>.<field>`` is not a list (None if it is)."""
        if step.for_each is not None and not field_name:
            return None  # a for_each step's output is the list of its items
        return f"step `{step.name}` makes one {self.name} output, not a list"

    def expected_items(self, step: StepInfo, field_name: str | None, adapter: Any) -> int:
        """How many items ``for_each: <step>.<field>`` will have, before the output exists."""
        return DEFAULT_LIST_ESTIMATE

    # ------------------------------------------------------------------ plan time (pure)
    def expand_needs(self, step: StepInfo) -> dict[str, str]:
        """Upstream steps whose nodes (``"nodes"``) or output (``"value"``) naming mine needs."""
        needs = {d: "nodes" for d in step.template_deps}
        if step.for_each is not None:
            src = step.for_each[0]
            needs[src] = "nodes" if step.for_each_items else "value"
        return needs

    def expand(self, step: StepInfo, x: Expansion) -> list[TaskSpec]:
        """The nodes of one step for one topic: one, or one per item of its ``for_each``."""
        inputs = tuple((d, x.results[d]) for d in sorted(step.template_deps)) if step.template_deps else ()
        deps = tuple(n for _, ids in inputs for n in ids) if inputs else ()
        provider = step.provider
        if step.for_each is None:
            return [TaskSpec(step.name, deps=deps, inputs=inputs, provider=provider)]
        src, fld = step.for_each
        sources = x.results[src]
        if step.for_each_items:  # chained: one node per item of a for_each step
            return [
                TaskSpec(f"{step.name}[{i}]", item=i, deps=deps + (s,), inputs=inputs, item_from=(s, None),
                         provider=provider, estimated=x.estimated.get(src, False))
                for i, s in enumerate(sources)
            ]
        value = x.values[src]
        source_id = sources[0]
        if value is UNKNOWN:
            info = x.loaded.steps[src]
            n = x.loaded.capability(info).expected_items(info, fld, x.adapters(info.provider) if info.provider else None)
            estimated = True
        else:
            seq = value.get(fld) if isinstance(value, Mapping) and fld else (value if not fld else None)
            if not isinstance(seq, list):
                raise BadOutputError(f"for_each over `{src}.{fld}`: the output is {type(seq).__name__}, not a list")
            n, estimated = len(seq), False
        return [
            TaskSpec(f"{step.name}[{i}]", item=i, deps=deps + (source_id,), inputs=inputs, item_from=(source_id, fld),
                     provider=provider, estimated=estimated)
            for i in range(n)
        ]

    def estimate(self, task: Any, step: StepInfo, loaded: LoadedRecipe, adapter: Any, calibration: Calibration) -> Prepared:
        """Cost, time and units of a node whose inputs do not exist yet (plan). ``calibration``
        holds what past runs of this cache measured (``Calibration.seconds``)."""
        return Prepared(fields=None)

    # ------------------------------------------------------------------ run time
    def prepare(self, task: Any, step: StepInfo, inputs: TaskInputs, loaded: LoadedRecipe, adapters: Callable[[str], Any]) -> Prepared | None:
        """Key fields and payload from the resolved inputs; None if an input is unknown (plan).

        Raises TemplateError (or another UserError) when a template cannot render: that fails
        this node, and its topic, never the batch.
        """
        raise NotImplementedError

    async def lookup(self, task: Any, prepared: Prepared, key: str, rt: Runtime) -> Artifact | None:
        """A previous output for this node, if any. None: use the cache by ``key`` (default)."""
        return None

    async def execute(self, task: Any, step: StepInfo, prepared: Prepared, rt: Runtime) -> Artifact:
        """Make the node's output (store its blobs through ``rt.store``)."""
        raise NotImplementedError

    def view(self, step: StepInfo, artifact: Artifact) -> Any:
        """What templates of later steps see of this output."""
        return artifact.value

    def cached_value_check(self, step: StepInfo, task: Any) -> Callable[[Artifact], Any] | None:
        """A check of a cached output's shape before it is used (raises ValueError, TypeError,
        KeyError or AttributeError: the entry is then an invalid manifest, rebuilt). None: none."""
        return None

    def topic_output(self, task: Any, artifact: Artifact) -> dict[str, Any] | None:
        """If this node delivers the topic's result (publish), what to report about it."""
        return None


def topic_context(loaded: LoadedRecipe, topic: Any) -> dict[str, Any]:
    """What every template of ``topic`` sees before any step's output: its variables over the
    recipe's, ``topic``, ``topic_id``, ``vars``, ``review``, ``characters`` and ``recipe``."""
    variables = {**loaded.recipe.vars, **topic.vars}
    return {
        **variables, "topic": topic.text, "topic_id": topic.id, "vars": variables, "review": {"note": ""},
        "characters": [c.template_view() for c in loaded.characters.values()],
        "recipe": {"name": loaded.name},
    }


def doomed_topics(loaded: LoadedRecipe, output_root: str) -> dict[str, dict[str, list[Problem]]]:
    """Topic id -> step -> what that topic's own values already doom at that step
    (:meth:`Capability.preflight`: a publish path that cannot be written), known before any work."""
    doomed: dict[str, dict[str, list[Problem]]] = {}
    for step in loaded.steps.values():
        for topic_id, problem in loaded.capability(step).preflight(step, loaded, output_root):
            doomed.setdefault(topic_id, {}).setdefault(step.name, []).append(problem)
    return doomed


def template_where(loaded: LoadedRecipe, step: StepInfo, ctx: Mapping[str, Any]) -> Callable[[str], Any]:
    """``where(field)``: where a template error points (recipe line, step field, topic).

    The text is made only if an error is reported (templates render on every node).
    """
    return lambda field_name: _Where(loaded, step.name, field_name, ctx.get("topic_id"))


class _Where:
    __slots__ = ("loaded", "step", "field", "topic")

    def __init__(self, loaded: LoadedRecipe, step: str, field_name: str, topic: Any):
        self.loaded, self.step, self.field, self.topic = loaded, step, field_name, topic

    def __str__(self) -> str:
        return f"{self.loaded.loc('steps', self.step, self.field)}: steps.{self.step}.{self.field} (topic {self.topic!r})"

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


def require(value: Any, shape: Mapping[str, type | tuple[type, ...]], *, blobs: Mapping[str, Any] | None = None, blob: str | None = None) -> None:
    """Raise ValueError unless ``value`` is a mapping whose keys have these types (and the
    artifact's ``blobs`` name ``blob``): a cached output of the wrong shape is rebuilt, not used."""
    if not isinstance(value, Mapping):
        raise ValueError(f"the output is {type(value).__name__}, not a mapping")
    for k, t in shape.items():
        if not isinstance(value.get(k), t) or isinstance(value.get(k), bool) and bool not in (t if isinstance(t, tuple) else (t,)):
            raise ValueError(f"`{k}` is {type(value.get(k)).__name__}")
    if blob is not None and (blobs is None or blob not in blobs):
        raise ValueError(f"no `{blob}` blob")
