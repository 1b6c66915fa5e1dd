"""Recipe file -> :class:`LoadedRecipe`: validated, cross-checked, with every problem at once.

Checks, all collected into one :class:`~vidflow.errors.RecipeError` (one line per problem,
each with ``file:line:col``, the YAML path and a fix): YAML syntax, unknown keys (with a
did-you-mean), wrong types, unknown provider kinds and options, steps that use undefined
providers, ``for_each`` over something that is not a list, template syntax and undefined
names, missing characters and voices, topics (inline or file), cycles between steps.

Nothing here renders a template for real or calls a provider: this is pure validation.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args, get_origin

import networkx as nx
from pydantic import BaseModel, ValidationError

from ..characters import Character, find_characters, load_character
from ..errors import Problem, RecipeError, UserError
from ..providers.registry import Registry, capability_of, unknown_kind_message
from .schema import ComposeStep, ImageStep, ProviderSpec, PublishStep, Recipe, SpeechStep, TextStep
from .templating import TemplateSyntax, check_template, template_names
from .topics import Topic, check_unique, load_topics_file, topics_from_inline
from .yamlloc import Locations, dotted, read_yaml_file

__all__ = ["LoadedRecipe", "ProviderInfo", "StepInfo", "load_recipe", "pydantic_problems"]

#: Names every template may use, besides variables and upstream steps.
BASE_NAMES = {"topic", "topic_id", "vars", "characters", "recipe"}
ITEM_NAMES = {"item", "index"}
DIALOGUE_FIELDS = {"title": "text", "lines": "list", "scenes": "list"}
_SHAPES = {"text": TextStep, "speech": SpeechStep, "image": ImageStep}
_TEMPLATE_FIELDS = {
    "text": ("prompt", "system"),
    "speech": ("text", "voice"),
    "image": ("prompt", "caption"),
    "publish": ("to",),
}


@dataclass
class ProviderInfo:
    name: str
    spec: ProviderSpec
    cls: type
    options: Any

    @property
    def kind(self) -> str:
        return self.spec.kind

    @property
    def capability(self) -> str:
        return capability_of(self.spec.kind) or ""


@dataclass
class StepInfo:
    name: str
    shape: str  # text | speech | image | compose | publish
    spec: Any
    index: int  # position in the file
    provider: str | None = None
    for_each: tuple[str, str | None] | None = None
    deps: set[str] = field(default_factory=set)
    templates: dict[str, str] = field(default_factory=dict)
    # compose: wiring; publish: source step
    script: str | None = None
    speech: str | None = None
    art: str | None = None
    source: str | None = None


@dataclass
class LoadedRecipe:
    path: Path
    recipe: Recipe
    locs: Locations
    topics: list[Topic]
    characters: dict[str, Character]
    providers: dict[str, ProviderInfo]
    steps: dict[str, StepInfo]
    order: list[str]

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    @property
    def name(self) -> str:
        return self.recipe.name

    def loc(self, *path: Any) -> str:
        return self.locs.at(tuple(path))

    def speaker_names(self) -> dict[str, str]:
        """Lower-cased character names and ids -> display name (how dialogue speakers are matched)."""
        out: dict[str, str] = {}
        for c in self.characters.values():
            out[c.name.lower()] = c.name
            out[c.id.lower()] = c.name
        return out

    def until(self, step: str) -> LoadedRecipe:
        """The recipe cut after ``step``: that step and what it depends on (``--until``)."""
        if step not in self.steps:
            raise UserError(f"--until {step}: no such step (steps: {', '.join(self.order)})")
        keep = {step}
        stack = [step]
        while stack:
            for d in self.steps[stack.pop()].deps:
                if d in self.steps and d not in keep:
                    keep.add(d)
                    stack.append(d)
        steps = {n: s for n, s in self.steps.items() if n in keep}
        order = [n for n in self.order if n in keep]
        return LoadedRecipe(self.path, self.recipe, self.locs, self.topics, self.characters, self.providers, steps, order)

    def with_topics(self, topics: list[Topic]) -> LoadedRecipe:
        problems = check_unique(topics)
        if problems:
            raise RecipeError(problems)
        if not topics:
            raise UserError("no topics selected; check --only / --limit / --topics")
        return LoadedRecipe(self.path, self.recipe, self.locs, topics, self.characters, self.providers, self.steps, self.order)


# --------------------------------------------------------------------------- pydantic -> problems


def pydantic_problems(err: ValidationError, locs: Locations, prefix: tuple, model: type[BaseModel] | None) -> list[Problem]:
    out = []
    errors = err.errors()
    # A missing key that an unknown key is a typo of is one problem, not two.
    typos = set()
    for e in errors:
        if e["type"] == "extra_forbidden" and model:
            parent = tuple(e["loc"])[:-1]
            close = difflib.get_close_matches(str(e["loc"][-1]), _fields_at(model, parent), n=1, cutoff=0.6)
            if close:
                typos.add(parent + (close[0],))
    for e in errors:
        if e["type"] == "missing" and tuple(e["loc"]) in typos:
            continue
        loc = prefix + tuple(e["loc"])
        path = dotted(loc)
        etype = e["type"]
        if etype == "extra_forbidden":
            name = str(loc[-1])
            allowed = _fields_at(model, tuple(e["loc"])[:-1]) if model else []
            close = difflib.get_close_matches(name, allowed, n=1, cutoff=0.6)
            fix = f"did you mean `{close[0]}`?" if close else (f"allowed: {', '.join(sorted(allowed))}" if allowed else "remove it")
            out.append(Problem(locs.at(loc, key=True), path, f"unknown key `{name}`, {fix}"))
        elif etype == "missing":
            out.append(Problem(locs.at(loc[:-1]), path, f"missing required key `{loc[-1]}`"))
        else:
            msg = e["msg"].removeprefix("Value error, ")
            got = e.get("input")
            shown = f" (got {got!r:.60})" if got is not None and not isinstance(got, (dict, list)) else ""
            out.append(Problem(locs.at(loc), path, f"{msg}{shown}"))
    return out


def _fields_at(model: type[BaseModel], loc: tuple) -> list[str]:
    current: Any = model
    for part in loc:
        if isinstance(current, type) and issubclass(current, BaseModel):
            f = current.model_fields.get(str(part))
            if f is None:
                return []
            current = _unwrap(f.annotation)
        elif isinstance(part, int) or isinstance(part, str):
            current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [f.alias or n for n, f in current.model_fields.items()]
    return []


def _unwrap(tp: Any) -> Any:
    while get_origin(tp) is not None:
        args = [a for a in get_args(tp) if a is not type(None)]
        models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
        tp = models[0] if models else (args[-1] if args else tp)
        if isinstance(tp, type):
            break
    return tp


# --------------------------------------------------------------------------- loading


def load_recipe(path: str | os.PathLike, *, registry: Registry, topics_override: Path | None = None) -> LoadedRecipe:
    """Load, validate and cross-check a recipe. Raises RecipeError with every problem found."""
    path = Path(path)
    display = os.path.relpath(path) if not os.path.relpath(path).startswith("../..") else str(path)
    data, locs = read_yaml_file(path, display, what="recipe")
    if not isinstance(data, dict):
        raise RecipeError(Problem(locs.at(()), "", "a recipe is a YAML mapping starting with `vidflow: 1`"))
    problems: list[Problem] = []

    # 1. Top level (steps/providers are checked one by one below, so all problems surface).
    top = {k: v for k, v in data.items() if k not in ("steps", "providers", "topics")}
    top_problems = []
    try:
        Recipe.model_validate({**top, "providers": {}, "steps": {}, "topics": []})
    except ValidationError as e:
        top_problems = pydantic_problems(e, locs, (), Recipe)
    problems += top_problems
    for key in ("providers", "steps"):
        if key not in data:
            problems.append(Problem(locs.at(()), key, f"missing required key `{key}`"))
        elif not isinstance(data[key], dict) or not data[key]:
            problems.append(Problem(locs.at((key,)), key, f"`{key}` must be a non-empty mapping of names to settings"))

    providers = _check_providers(data.get("providers"), locs, registry, problems)
    steps = _check_steps(data.get("steps"), providers, data.get("providers"), locs, problems)
    topics = _check_topics(data, locs, path.parent, topics_override, problems)
    characters = _check_characters(data, locs, path.parent, problems)
    recipe_vars = data.get("vars") if isinstance(data.get("vars"), dict) else {}
    var_names = set(recipe_vars) | {k for t in topics for k in t.vars}
    raw_steps = set(data["steps"]) if isinstance(data.get("steps"), dict) else set()
    _check_wiring(steps, providers, characters, var_names, locs, problems, raw_steps)
    order = _order(steps, locs, problems)
    if problems:
        raise RecipeError(problems)
    recipe = Recipe.model_validate(
        {
            **top,
            "providers": {n: p.spec for n, p in providers.items()},
            "steps": {n: s.spec for n, s in steps.items()},
            "topics": [{"topic": t.text, "vars": t.vars} for t in topics],
        }
    )
    return LoadedRecipe(path, recipe, locs, topics, characters, providers, steps, order)


def _check_providers(raw: Any, locs: Locations, registry: Registry, problems: list[Problem]) -> dict[str, ProviderInfo]:
    out: dict[str, ProviderInfo] = {}
    if not isinstance(raw, dict):
        return out
    for name, body in raw.items():
        where = ("providers", name)
        if not isinstance(body, dict):
            problems.append(Problem(locs.at(where), dotted(where), "a provider is a mapping with at least `kind:`"))
            continue
        try:
            spec = ProviderSpec.model_validate(body)
        except ValidationError as e:
            problems.extend(pydantic_problems(e, locs, where, ProviderSpec))
            continue
        if spec.kind not in registry:
            problems.append(Problem(locs.at(where + ("kind",)), dotted(where + ("kind",)), unknown_kind_message(spec.kind, registry.kinds())))
            continue
        try:
            cls = registry.get(spec.kind)
        except UserError as e:
            problems.append(Problem(locs.at(where + ("kind",)), dotted(where + ("kind",)), str(e)))
            continue
        try:
            options = cls.Options.model_validate(spec.options)
        except ValidationError as e:
            problems.extend(pydantic_problems(e, locs, where, cls.Options))
            continue
        out[name] = ProviderInfo(name, spec, cls, options)
    return out


def _shape_of(body: dict, capabilities: dict[str, str | None]) -> str | None:
    if "compose" in body:
        return "compose"
    if "to" in body:
        return "publish"
    uses = body.get("uses")
    if isinstance(uses, str):
        return capabilities.get(uses)
    return None


def _check_steps(raw: Any, providers: dict[str, ProviderInfo], raw_providers: Any, locs: Locations, problems: list[Problem]) -> dict[str, StepInfo]:
    out: dict[str, StepInfo] = {}
    if not isinstance(raw, dict):
        return out
    # A provider with a problem of its own still tells its capability by its kind's prefix, so
    # its steps are checked too (and not reported as using an undefined provider).
    capabilities: dict[str, str | None] = {}
    for pname, body in (raw_providers or {}).items() if isinstance(raw_providers, dict) else ():
        kind = body.get("kind") if isinstance(body, dict) else None
        capabilities[pname] = capability_of(kind) if isinstance(kind, str) else None
    for i, (name, body) in enumerate(raw.items()):
        where = ("steps", name)
        if not isinstance(body, dict):
            problems.append(Problem(locs.at(where), dotted(where), "a step is a mapping: `uses:` a provider, `compose:`, or `to:`"))
            continue
        if "." in name or not name.replace("_", "a").replace("-", "a").isalnum():
            problems.append(Problem(locs.at(where, key=True), dotted(where), "step names are letters, digits, - and _"))
            continue
        shape = _shape_of(body, capabilities)
        if shape is None:
            uses = body.get("uses")
            if isinstance(uses, str) and uses in capabilities:
                continue  # the provider's own problem is reported already
            if uses is None:
                msg = "a step needs `uses: <provider>`, `compose: vertical` or `to: <output path>`"
            else:
                close = difflib.get_close_matches(str(uses), list(providers), n=1)
                fix = f"did you mean `{close[0]}`?" if close else f"define it under `providers:` (have: {', '.join(providers) or 'none'})"
                msg = f"`uses: {uses}` names no provider; {fix}"
            problems.append(Problem(locs.at(where + (("uses",) if uses is not None else ())), dotted(where), msg))
            continue
        model = {"compose": ComposeStep, "publish": PublishStep}.get(shape) or _SHAPES[shape]
        try:
            spec = model.model_validate(body)
        except ValidationError as e:
            problems.extend(pydantic_problems(e, locs, where, model))
            continue
        info = StepInfo(name=name, shape=shape, spec=spec, index=i, provider=getattr(spec, "uses", None))
        for f in _TEMPLATE_FIELDS.get(shape, ()):
            value = getattr(spec, f)
            if value:
                info.templates[f] = value
        info.deps.update(getattr(spec, "needs", []))
        out[name] = info
    return out


def _check_topics(data: dict, locs: Locations, base: Path, override: Path | None, problems: list[Problem]) -> list[Topic]:
    topics: list[Topic] = []
    try:
        if override is not None:
            topics = load_topics_file(override)
        elif data.get("topics_file") is not None:
            tf = data["topics_file"]
            if not isinstance(tf, str):
                problems.append(Problem(locs.at(("topics_file",)), "topics_file", "topics_file is a path"))
                return []
            if data.get("topics"):
                problems.append(Problem(locs.at(("topics",), key=True), "topics", "give either `topics:` or `topics_file:`, not both"))
            topics = load_topics_file(base / tf, display=os.path.relpath(base / tf), named_at=locs.at(("topics_file",)))
        else:
            raw = data.get("topics")
            if raw is None or raw == []:
                problems.append(Problem(locs.at(("topics",) if "topics" in data else ()), "topics", "no topics: add `topics: [...]` or `topics_file: topics.txt`"))
                return []
            if not isinstance(raw, list):
                problems.append(Problem(locs.at(("topics",)), "topics", "`topics` is a list of topics"))
                return []
            topics, inline_problems = topics_from_inline(raw, locs)
            problems.extend(inline_problems)
    except RecipeError as e:
        problems.extend(e.problems)
        return []
    problems.extend(check_unique(topics))
    return topics


def character_dirs(base: Path, configured: str | None) -> list[Path]:
    if configured:
        return [(base / configured)]
    return [base / "characters", base.parent / "characters", Path.cwd() / "characters"]


def _check_characters(data: dict, locs: Locations, base: Path, problems: list[Problem]) -> dict[str, Character]:
    names = data.get("characters") or []
    if not isinstance(names, list):
        return {}
    dirs = character_dirs(base, data.get("characters_dir") if isinstance(data.get("characters_dir"), str) else None)
    available = find_characters(dirs)
    out: dict[str, Character] = {}
    for i, name in enumerate(names):
        if not isinstance(name, str):
            continue
        if name not in available:
            close = difflib.get_close_matches(name, list(available), n=1)
            fix = f"did you mean `{close[0]}`? " if close else ""
            looked = ", ".join(os.path.relpath(d) for d in dirs if d.is_dir()) or ", ".join(os.path.relpath(d) for d in dirs)
            problems.append(Problem(locs.at(("characters", i)), f"characters[{i}]", f"character `{name}` not found in {looked}; {fix}add characters/{name}.yaml (have: {', '.join(sorted(available)) or 'none'})"))
            continue
        try:
            out[name] = load_character(name, available[name])
        except RecipeError as e:
            problems.extend(e.problems)
    return out


def _template_problem(locs: Locations, path: tuple, source: str, name: str, message: str) -> Problem:
    loc = locs.find(path)
    line_no = next((n for n, line in enumerate(source.splitlines(), 1) if name in line), 1)
    return Problem(str(loc.template_line(line_no)), dotted(path), message)


def _check_wiring(steps: dict[str, StepInfo], providers: dict[str, ProviderInfo], characters: dict[str, Character], var_names: set[str], locs: Locations, problems: list[Problem], all_steps: set[str]) -> None:
    names = set(steps) | all_steps  # steps with problems of their own still count as names
    # for_each sources
    for s in steps.values():
        fe = getattr(s.spec, "for_each", None)
        if not fe:
            continue
        where = ("steps", s.name, "for_each")
        src, _, fld = fe.partition(".")
        if src not in steps:
            close = difflib.get_close_matches(src, list(names), n=1)
            problems.append(Problem(locs.at(where), dotted(where), f"for_each names no step `{src}`" + (f"; did you mean `{close[0]}`?" if close else "")))
            continue
        source = steps[src]
        ok = True
        if source.shape == "text":
            out = source.spec.output
            if out == "dialogue" and fld not in DIALOGUE_FIELDS:
                problems.append(Problem(locs.at(where), dotted(where), f"a dialogue has no field `{fld or '(none)'}`; use `{src}.lines` or `{src}.scenes`"))
                ok = False
            elif out == "dialogue" and DIALOGUE_FIELDS[fld] != "list":
                problems.append(Problem(locs.at(where), dotted(where), f"for_each over `{fe}`, which is {DIALOGUE_FIELDS[fld]}, not a list; use `{src}.lines` or `{src}.scenes`"))
                ok = False
            elif out == "text":
                problems.append(Problem(locs.at(where), dotted(where), f"for_each over `{fe}`: step `{src}` writes plain text, not a list; give it `output: json` or `output: dialogue`"))
                ok = False
        elif source.shape in ("speech", "image"):
            if fld or source.spec.for_each is None:
                problems.append(Problem(locs.at(where), dotted(where), f"for_each over `{fe}`: step `{src}` makes one {source.shape} output, not a list"))
                ok = False
        else:
            problems.append(Problem(locs.at(where), dotted(where), f"for_each over `{fe}`: a {source.shape} step is not a list"))
            ok = False
        if ok:
            s.for_each = (src, fld or None)
            s.deps.add(src)
    # templates: syntax, undefined names, dependencies
    allowed_vars = var_names
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
            allowed = BASE_NAMES | allowed_vars | names | (ITEM_NAMES if s.for_each else set())
            for name in sorted(required - allowed):
                pool = sorted(allowed | ({"item"} if not s.for_each else set()))
                close = difflib.get_close_matches(name, pool, n=1)
                if name in ITEM_NAMES:
                    msg = f"`{name}` is only defined in a step with `for_each:`"
                else:
                    msg = f"undefined name `{name}` in template" + (f"; did you mean `{close[0]}`?" if close else "; define it under `vars:` or in the topics")
                problems.append(_template_problem(locs, path, source, name, msg))
            s.deps.update(used & set(steps))
            if s.name in used:
                problems.append(_template_problem(locs, path, source, s.name, f"step `{s.name}` reads its own output"))
    # needs
    for s in steps.values():
        for n in getattr(s.spec, "needs", []):
            if n not in steps:
                problems.append(Problem(locs.at(("steps", s.name, "needs")), f"steps.{s.name}.needs", f"needs names no step `{n}`"))
                s.deps.discard(n)
    # compose and publish wiring
    for s in steps.values():
        if s.shape == "compose":
            _wire_compose(s, steps, locs, problems)
        elif s.shape == "publish":
            _wire_publish(s, steps, locs, problems)
    # fallbacks: defined providers of the same capability
    for s in steps.values():
        for i, fb in enumerate(getattr(s.spec, "fallback", [])):
            where = ("steps", s.name, "fallback", i)
            if fb not in providers:
                problems.append(Problem(locs.at(where), dotted(where), f"fallback `{fb}` names no provider (have: {', '.join(providers)})"))
            elif providers[fb].capability != s.shape:
                problems.append(Problem(locs.at(where), dotted(where), f"fallback `{fb}` is a {providers[fb].capability} provider; step `{s.name}` needs a {s.shape} one"))
    # voices for every character the dialogue may use, for the provider and its fallbacks
    for s in steps.values():
        if s.shape != "speech" or "{" not in s.spec.voice:
            continue
        for pname in [s.provider, *s.spec.fallback]:
            if pname not in providers:
                continue
            key = providers[pname].cls(providers[pname].options).voice_key()
            for c in characters.values():
                if c.voice_for(key) is None:
                    problems.append(Problem(c.voices_at or c.file, "voices", f"character `{c.id}` has no voice for `{key}` (used by step `{s.name}` via `{pname}`); add `voices: {{{key}: ...}}`"))


def _pick(kind: str, explicit: str | None, candidates: list[StepInfo], steps: dict[str, StepInfo], s: StepInfo, locs: Locations, problems: list[Problem], *, shape: str, required: bool) -> str | None:
    where = ("steps", s.name)
    if explicit:
        if explicit not in steps or steps[explicit].shape != shape:
            problems.append(Problem(locs.at(where + (kind,)), dotted(where + (kind,)), f"`{kind}: {explicit}` must name a {shape} step"))
            return None
        return explicit
    if len(candidates) == 1:
        return candidates[0].name
    if not candidates and not required:
        return None
    what = "no" if not candidates else "more than one"
    problems.append(Problem(locs.at(where), dotted(where), f"found {what} {kind} step to compose; name it with `{kind}: <step>`"))
    return None


def _wire_compose(s: StepInfo, steps: dict[str, StepInfo], locs: Locations, problems: list[Problem]) -> None:
    spec: ComposeStep = s.spec
    dialogues = [t for t in steps.values() if t.shape == "text" and t.spec.output == "dialogue"]
    s.script = _pick("script", spec.script, dialogues, steps, s, locs, problems, shape="text", required=True)
    if s.script is None:
        return
    if steps[s.script].spec.output != "dialogue":
        problems.append(Problem(locs.at(("steps", s.name, "script")), f"steps.{s.name}.script", f"step `{s.script}` must have `output: dialogue`"))
        return
    lines = [t for t in steps.values() if t.shape == "speech" and t.for_each == (s.script, "lines")]
    s.speech = _pick("speech", spec.speech, lines, steps, s, locs, problems, shape="speech", required=True)
    scenes = [t for t in steps.values() if t.shape == "image" and t.for_each == (s.script, "scenes")]
    s.art = _pick("art", spec.art, scenes, steps, s, locs, problems, shape="image", required=False)
    for name, want in ((s.speech, "lines"), (s.art, "scenes")):
        if name and steps[name].for_each != (s.script, want):
            problems.append(Problem(locs.at(("steps", name, "for_each")), f"steps.{name}.for_each", f"step `{name}` is composed per {want[:-1]}: give it `for_each: {s.script}.{want}`"))
    s.deps.update(n for n in (s.script, s.speech, s.art) if n)


def _wire_publish(s: StepInfo, steps: dict[str, StepInfo], locs: Locations, problems: list[Problem]) -> None:
    composes = [t for t in steps.values() if t.shape == "compose"]
    s.source = _pick("from", s.spec.from_, composes, steps, s, locs, problems, shape="compose", required=True)
    if s.source:
        s.deps.add(s.source)


def _order(steps: dict[str, StepInfo], locs: Locations, problems: list[Problem]) -> list[str]:
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

