"""Steps: each body validated by the capability it belongs to, then the checks they all share.

A step belongs to the capability that claims it (``compose:`` -> compose, ``to:`` -> publish,
``uses: <provider>`` -> the capability of that provider's kind, ...). The capability's own
schema validates it; then come the checks every step shares, all collected as problems with
``file:line:col``: ``for_each`` sources, template syntax and undefined names (with
dependencies inferred from the names templates read), ``needs:``, ``fallback:`` providers, the
capability's own cross-step wiring, and cycles.

Capabilities are passed in (a catalog object) rather than imported: they sit above the recipe
layer and use what it loads.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping, Protocol

import networkx as nx
from pydantic import ValidationError

from ..errors import Problem
from .problems import pydantic_problems
from .templating import TemplateSyntax, check_template, template_globals, template_names
from .yamlloc import Locations, dotted

if TYPE_CHECKING:  # pragma: no cover
    from .load import LoadedRecipe, ProviderInfo

__all__ = ["BASE_NAMES", "TEMPLATE_NAMES", "Catalog", "StepInfo", "check_steps", "wire_steps"]

#: What a template means by each name it has besides variables and upstream steps (for messages).
TEMPLATE_NAMES = {
    "topic": "the topic's text", "topic_id": "the topic's id", "vars": "all the variables",
    "characters": "the recipe's cast", "recipe": "the recipe, as `recipe.name`", "review": "the review note",
    "item": "a for_each step's item", "index": "a for_each step's index",
}
ITEM_NAMES = {"item", "index"}
#: Names every template may use, besides variables and upstream steps.
BASE_NAMES = set(TEMPLATE_NAMES) - ITEM_NAMES
#: Names a step cannot take: the template names above, a local step's ``inputs``/``outputs``,
#: Jinja's globals (``range``, ``dict``...), loop variables and literals.
_TAKEN_NAMES = BASE_NAMES | ITEM_NAMES | template_globals() | {"inputs", "outputs", "loop", "self", "caller", "varargs", "kwargs", "true", "false", "none", "True", "False", "None"}


class Catalog(Protocol):
    """The capabilities a recipe may use (``vidflow.capabilities.registry.CapabilityRegistry``)."""

    def claimant(self, body: Mapping[str, Any], provider_capability: str | None) -> Any | None: ...

    def describe(self) -> str: ...


@dataclass
class StepInfo:
    """One validated step.

    ``deps`` are every step this one waits for; ``template_deps`` the ones its templates read;
    ``links`` the capability's own wiring (compose: script/speech/art; publish: from).
    ``for_each_items`` is True when ``for_each`` names another for_each step (one node per item).
    """

    name: str
    capability: str
    spec: Any
    index: int  # position in the file
    provider: str | None = None
    fallbacks: tuple[str, ...] = ()
    for_each: tuple[str, str | None] | None = None
    for_each_items: bool = False
    deps: set[str] = field(default_factory=set)
    template_deps: set[str] = field(default_factory=set)
    templates: dict[str, str] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)
    #: What a capability derives from this step alone, kept for its nodes (built on first use).
    memo: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def shape(self) -> str:  # the capability's name (kept for readability at call sites)
        return self.capability


def _provider_capability(body: Mapping[str, Any], raw_providers: Any) -> str | None:
    uses = body.get("uses")
    if not isinstance(uses, str) or not isinstance(raw_providers, dict):
        return None
    p = raw_providers.get(uses)
    kind = p.get("kind") if isinstance(p, dict) else None
    return kind.split(".", 1)[0] if isinstance(kind, str) and "." in kind else None


def check_steps(raw: Any, raw_providers: Any, providers: Mapping[str, ProviderInfo], catalog: Catalog, locs: Locations, problems: list[Problem]) -> tuple[dict[str, StepInfo], dict[str, Any]]:
    """Validate each step body against its capability's schema. Returns steps and capabilities."""
    out: dict[str, StepInfo] = {}
    caps: dict[str, Any] = {}
    if not isinstance(raw, dict):
        return out, caps
    for i, (name, body) in enumerate(raw.items()):
        where = ("steps", name)
        if not isinstance(body, dict):
            problems.append(Problem(locs.at(where), dotted(where), f"a step is a mapping: {catalog.describe()}"))
            continue
        if "." in name or not name.replace("_", "a").replace("-", "a").isalnum():
            problems.append(Problem(locs.at(where, key=True), dotted(where), "step names are letters, digits, - and _"))
            continue
        if name in _TAKEN_NAMES:  # `{{ range }}` would render the function (an address, a new key each run)
            problems.append(Problem(locs.at(where, key=True), dotted(where), f"`{name}` is a name templates already have, so `{{{{ {name} }}}}` could not mean this step; rename the step (e.g. `{name}_step`)"))
            continue
        pcap = _provider_capability(body, raw_providers)
        cap = catalog.claimant(body, pcap)
        if cap is None:
            uses = body.get("uses")
            if isinstance(uses, str) and isinstance(raw_providers, dict) and uses in raw_providers:
                if uses in providers:  # the provider is fine, but no capability takes its kind
                    problems.append(Problem(locs.at(where + ("uses",)), dotted(where), f"no capability uses `{providers[uses].kind}` providers; {catalog.describe()}"))
                continue  # else the provider's own problem is reported already
            if uses is None:
                msg = f"a step needs {catalog.describe()}"
            else:
                close = difflib.get_close_matches(str(uses), list(providers), n=1)
                fix = f"did you mean `{close[0]}`?" if close else f"define it under `providers:` (have: {', '.join(providers) or 'none'})"
                msg = f"`uses: {uses}` names no provider; {fix}"
            problems.append(Problem(locs.at(where + (("uses",) if uses is not None else ())), dotted(where), msg))
            continue
        try:
            spec = cap.Step.model_validate(body)
        except ValidationError as e:
            problems.extend(pydantic_problems(e, locs, where, cap.Step))
            continue
        info = StepInfo(
            name=name, capability=cap.name, spec=spec, index=i, provider=getattr(spec, "uses", None),
            fallbacks=tuple(getattr(spec, "fallback", ()) or ()), templates=cap.templates(spec),
        )
        info.deps.update(spec.needs)
        out[name] = info
        caps[cap.name] = cap
    return out, caps


def _template_problem(locs: Locations, path: tuple, source: str, name: str, message: str) -> Problem:
    loc = locs.find(path)
    line_no = next((n for n, line in enumerate(source.splitlines(), 1) if name in line), 1)
    return Problem(str(loc.template_line(line_no)), dotted(path), message)


def wire_steps(loaded: LoadedRecipe, var_names: set[str], all_steps: set[str], problems: list[Problem]) -> None:
    """The checks every step shares, then each capability's own wiring."""
    steps, locs = loaded.steps, loaded.locs
    names = set(steps) | all_steps  # steps with problems of their own still count as names
    for s in steps.values():
        fe = getattr(s.spec, "for_each", None)
        if not fe:
            continue
        where = ("steps", s.name, "for_each")
        src, _, fld = fe.partition(".")
        if src not in steps:
            close = difflib.get_close_matches(src, list(names), n=1)
            if src not in names:
                problems.append(Problem(locs.at(where), dotted(where), f"for_each names no step `{src}`" + (f"; did you mean `{close[0]}`?" if close else "")))
            continue
        source = steps[src]
        why = loaded.capability(source).items_problem(source, fld or None)
        if why:
            problems.append(Problem(locs.at(where), dotted(where), why if why.startswith("for_each") else f"for_each over `{fe}`: {why}"))
            continue
        s.for_each = (src, fld or None)
        s.for_each_items = source.for_each is not None or getattr(source.spec, "for_each", None) is not None
        s.deps.add(src)
    for s in steps.values():
        for f, source in s.templates.items():
            path = ("steps", s.name, f)
            issues = check_template(source)  # syntax, unknown filters and tests, size
            if issues:
                problems.extend(Problem(str(locs.find(path).template_line(i.lineno)), dotted(path), i.message) for i in issues)
                continue
            try:
                used = template_names(source)
                required = template_names(source, required_only=True)
            except TemplateSyntax as e:
                loc = locs.find(path).template_line(e.lineno)
                problems.append(Problem(str(loc), dotted(path), f"template syntax error: {e}"))
                continue
            allowed = BASE_NAMES | var_names | names | (ITEM_NAMES if s.for_each else set())
            for name in sorted(required - allowed):
                pool = sorted(allowed | ({"item"} if not s.for_each else set()))
                close = difflib.get_close_matches(name, pool, n=1)
                if name in ITEM_NAMES:
                    msg = f"`{name}` is only defined in a step with `for_each:`"
                else:
                    msg = f"undefined name `{name}` in template" + (f"; did you mean `{close[0]}`?" if close else "; define it under `vars:` or in the topics")
                problems.append(_template_problem(locs, path, source, name, msg))
            read = used & set(steps)
            if s.name in read:
                problems.append(_template_problem(locs, path, source, s.name, f"step `{s.name}` reads its own output"))
                read.discard(s.name)
            s.template_deps.update(read)
            s.deps.update(read)
    for s in steps.values():
        for n in s.spec.needs:
            if n not in steps:
                if n not in names:
                    problems.append(Problem(locs.at(("steps", s.name, "needs")), f"steps.{s.name}.needs", f"needs names no step `{n}`"))
                s.deps.discard(n)
    for s in steps.values():
        cap = loaded.capability(s)
        for i, fb in enumerate(s.fallbacks):
            where = ("steps", s.name, "fallback", i)
            if fb not in loaded.providers:
                problems.append(Problem(locs.at(where), dotted(where), f"fallback `{fb}` names no provider (have: {', '.join(loaded.providers)})"))
            elif loaded.providers[fb].capability != cap.provider_capability:
                problems.append(Problem(locs.at(where), dotted(where), f"fallback `{fb}` is a {loaded.providers[fb].capability} provider; step `{s.name}` needs a {cap.provider_capability} one"))
        cap.wire(s, loaded, problems)


def step_order(steps: Mapping[str, StepInfo], locs: Locations, problems: list[Problem]) -> list[str]:
    """Steps in dependency order (file order among equals); a cycle is a problem."""
    g = nx.DiGraph()
    for s in steps.values():
        g.add_node(s.name)
        for d in s.deps:
            if d in steps:
                g.add_edge(d, s.name)
    try:
        cycle = nx.find_cycle(g)
    except nx.NetworkXNoCycle:
        return list(nx.lexicographical_topological_sort(g, key=lambda n: steps[n].index))
    path = " -> ".join([cycle[0][0]] + [v for _, v in cycle])
    first = min((u for u, _ in cycle), key=lambda n: steps[n].index)
    problems.append(Problem(locs.at(("steps", first), key=True), f"steps.{first}", f"steps form a cycle: {path}; one of them must not read the other"))
    return []
