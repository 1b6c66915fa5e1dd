"""The ``command`` capability: local steps, ``run: [argv...]`` or ``python: "module:function"``.

A local step runs a program (or a Python function, in a worker process) on this machine:

* ``inputs:`` name -> an upstream step (``art``) or one of its outputs (``title.image``): each is
  copied into the step's folder as a file (``in/<name>.<ext>``; a step without files is written
  as ``.txt`` or ``.json``); templates see its path as ``{{ inputs.<name> }}``. An upstream
  ``for_each`` step is paired item by item when both run over the same list, else it is a list
  of paths.
* ``outputs:`` name -> media type: the program writes ``out/<name>.<ext>``
  (``{{ outputs.<name> }}``); every one must exist and is stored as a blob under its name.
  Images and videos are probed (width, height, duration): a ``video/*`` output named ``video``
  (or ``image/*`` named ``image``) is what compose takes as a scene's clip (or still).
* The key covers the command (rendered argv) or the function's name and rendered ``args``, the
  declared ``version``, the ``env:`` values and each input's digest. Paths in templates are
  relative to the step's folder, so keys are the same on every machine.

It runs in a fresh scratch folder, under a CPU slot, with ``timeout`` seconds. The environment
is explicit: a minimal base (PATH, HOME, locale, TMPDIR in the step's folder), the ``env:``
values, and only the variables named in ``pass_env:`` from vidflow's own environment (their
values never enter a key, an event or a manifest). No shell unless ``shell: true``.

Running the program and measuring its outputs is ``_command_process.py``; a ``python:`` step's
function runs in ``_command_worker.py``, a script of its own.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import sys
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Mapping

from pydantic import ConfigDict, Field, field_validator, model_validator

from ..cache.store import Artifact
from ..calibration import Calibration
from ..errors import BadOutputError, Problem
from ..recipe.schema import StepModel
from ..recipe.templating import render
from ..redact import is_secret_name
from ._command_process import StepCommandError, describe, environment, media_ext, primary, run_program, tail
from .base import Capability, Expansion, Prepared, Runtime, TaskInputs, TaskSpec, template_where

if TYPE_CHECKING:  # pragma: no cover
    from ..recipe.load import LoadedRecipe, StepInfo

__all__ = ["CommandCapability", "CommandStep", "StepCommandError", "media_ext"]

COMMAND_VERSION = "1"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TARGET = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
_MEDIA = re.compile(r"^[a-z]+/[a-z0-9][a-z0-9.+-]*$")
#: Template names a local step adds (declared so the shared template checks accept them).
_DECLARE = "{% set inputs = none %}{% set outputs = none %}"
_WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_command_worker.py")


class CommandStep(StepModel):
    # editors (vidflow schema): a local step has `run:` or `python:`
    model_config = ConfigDict(**StepModel.model_config, json_schema_extra={"oneOf": [{"required": ["run"]}, {"required": ["python"]}]})

    run: list[str] | str | None = Field(default=None, description="the program and its arguments (templates)")
    python: str | None = Field(default=None, description='"module:function", imported from the recipe\'s folder first')
    shell: bool = Field(default=False, description="run `run:` (one string) through /bin/sh")
    args: dict[str, Any] = Field(default={}, description="python: keyword arguments (strings are templates)")
    version: str | int = Field(default="1", description="bump it when the program changes what it makes")
    inputs: dict[str, str] = Field(default={}, description="name -> upstream step, or step.output")
    outputs: dict[str, str] = Field(default={}, description="name -> media type (image/png, video/mp4, ...)")
    env: dict[str, str] = Field(default={}, description="environment variables for the program (templates)")
    pass_env: list[str] = Field(default=[], description="variables passed from vidflow's environment (secrets)")
    timeout: float = Field(default=600.0, gt=0, le=86_400, description="seconds before the program is killed")
    for_each: str | None = None

    @field_validator("python")
    @classmethod
    def _target(cls, v: str | None) -> str | None:
        if v is not None and not _TARGET.match(v):
            raise ValueError(f'`python: {v}` must look like "package.module:function"')
        return v

    @field_validator("outputs")
    @classmethod
    def _outputs(cls, v: dict[str, str]) -> dict[str, str]:
        for name, mt in v.items():
            if not _NAME.match(name):
                raise ValueError(f"output name `{name}` must be letters, digits and _ (it becomes a file name)")
            if not _MEDIA.match(mt) or media_ext(mt) is None:
                raise ValueError(f"output `{name}`: `{mt}` is not a media type vidflow knows; use e.g. image/png, video/mp4, audio/wav, application/json")
        return v

    @field_validator("inputs", "env")
    @classmethod
    def _names(cls, v: dict[str, str]) -> dict[str, str]:
        for name in v:
            if not _NAME.match(name):
                raise ValueError(f"`{name}` must be letters, digits and _")
        return v

    @field_validator("pass_env")
    @classmethod
    def _pass(cls, v: list[str]) -> list[str]:
        for name in v:
            if not _NAME.match(name):
                raise ValueError(f"`{name}` is not an environment variable name")
        return v

    @model_validator(mode="after")
    def _one_kind(self) -> CommandStep:
        if (self.run is None) == (self.python is None):
            raise ValueError("a local step has either `run: [program, arg, ...]` or `python: \"module:function\"`, not both")
        if self.python is not None and self.shell:
            raise ValueError("`shell: true` is for `run:` steps only")
        if self.run is not None and self.args:
            raise ValueError("`args:` is for `python:` steps; a `run:` step's arguments are the list itself")
        if isinstance(self.run, str) and not self.shell:
            raise ValueError("`run:` is a list: write it as `[program, arg, ...]` (no shell), or add `shell: true` to run the string with /bin/sh")
        if self.shell and isinstance(self.run, list) and len(self.run) != 1:
            raise ValueError("with `shell: true`, `run:` is one command string")
        if isinstance(self.run, list) and not self.run:
            raise ValueError("`run:` needs at least the program to run")
        for name in self.env:
            if is_secret_name(name):
                raise ValueError(f"`env: {name}` looks like a secret: keep it out of the recipe, and name it in `pass_env: [{name}]` to pass it from vidflow's environment")
        return self


class CommandCapability(Capability):
    name: ClassVar[str] = "command"
    Step: ClassVar[type[CommandStep]] = CommandStep
    trigger: ClassVar[str] = "run"
    exclusive: ClassVar[bool] = True

    # ------------------------------------------------------------------ load time
    def claims(self, body: Mapping[str, Any], provider_capability: str | None) -> bool:
        return "run" in body or "python" in body

    def templates(self, spec: CommandStep) -> dict[str, str]:
        out: dict[str, str] = {}
        run = [spec.run] if isinstance(spec.run, str) else spec.run or []
        fields = [(f"run[{i}]", a) for i, a in enumerate(run)]
        fields += [(f"args.{k}", v) for k, v in spec.args.items() if isinstance(v, str)]
        fields += [(f"env.{k}", v) for k, v in spec.env.items()]
        for f, src in fields:
            if "{" in src:  # `inputs`/`outputs` are this step's own names: declared for the checks
                out[f] = _DECLARE + src
        return out

    def wire(self, step: StepInfo, loaded: LoadedRecipe, problems: list[Problem]) -> None:
        for name, ref in step.spec.inputs.items():
            src, _, sel = ref.partition(".")
            where = (loaded.loc("steps", step.name, "inputs", name), f"steps.{step.name}.inputs.{name}")
            info = loaded.steps.get(src)
            if info is None or src == step.name:
                problems.append(Problem(*where, f"input `{name}: {ref}` names no other step (steps: {', '.join(n for n in loaded.steps if n != step.name)})"))
                continue
            if info.capability == self.name:
                outs = info.spec.outputs
                if sel and sel not in outs:
                    problems.append(Problem(*where, f"step `{src}` has no output `{sel}` (outputs: {', '.join(outs) or 'none'})"))
                elif not sel and len(outs) > 1:
                    problems.append(Problem(*where, f"step `{src}` has several outputs: name one, e.g. `{src}.{next(iter(outs))}`"))
            step.deps.add(src)
            step.links[f"input:{name}"] = src

    def items_problem(self, step: StepInfo, field_name: str | None) -> str | None:
        if step.for_each is not None and not field_name:
            return None
        return f"step `{step.name}` is a local step; its output is not a list"

    # ------------------------------------------------------------------ plan time
    def expand_needs(self, step: StepInfo) -> dict[str, str]:
        needs = super().expand_needs(step)
        for ref in step.spec.inputs.values():
            needs.setdefault(ref.partition(".")[0], "nodes")
        return needs

    def expand(self, step: StepInfo, x: Expansion) -> list[TaskSpec]:
        out = []
        for ts in super().expand(step, x):
            deps, wired = list(ts.deps), []
            for name, ref in step.spec.inputs.items():
                src = ref.partition(".")[0]
                ids = x.results[src]
                info = x.loaded.steps[src]
                if info.for_each is None:
                    chosen, many = ids[:1], False
                elif ts.item is not None and _root(x.loaded, info) == _root(x.loaded, step):
                    chosen, many = ids[ts.item : ts.item + 1], False  # item by item
                else:
                    chosen, many = ids, True
                deps += [i for i in chosen if i not in deps]
                wired.append((name, tuple(chosen), many))
            out.append(replace(ts, deps=tuple(deps), params={"inputs": tuple(wired)}))
        return out

    def estimate(self, task: Any, step: StepInfo, loaded: LoadedRecipe, adapter: Any, calibration: Calibration) -> Prepared:
        return Prepared(fields=None, seconds=calibration.seconds("cpu:command", 2.0))

    # ------------------------------------------------------------------ run time
    def prepare(self, task: Any, step: StepInfo, inputs: TaskInputs, loaded: LoadedRecipe, adapters: Callable[[str], Any]) -> Prepared | None:
        if not inputs.known():
            return None
        ctx = inputs.template_context()
        if ctx is None:
            return None
        spec = step.spec
        files: list[tuple[str, Any, Any]] = []  # (relative path, blob ref or None, value)
        paths: dict[str, Any] = {}
        digests: dict[str, Any] = {}
        for name, ids, many in task.params["inputs"]:
            sel = spec.inputs[name].partition(".")[2]
            if not many and not ids:
                raise BadOutputError(f"input `{name}` ({spec.inputs[name]}) has no item {task.item} for this node")
            picked = [_pick(inputs.artifact(i), name, spec.inputs[name], sel) for i in ids]
            rels = [f"in/{name}/{k}.{ext}" if many else f"in/{name}.{ext}" for k, (_, _, ext, _) in enumerate(picked)]
            files += [(rel, ref, value) for rel, (ref, value, _, _) in zip(rels, picked)]
            paths[name] = rels if many else rels[0]
            digests[name] = [d for *_, d in picked] if many else picked[0][3]
        outs = {name: f"out/{name}.{media_ext(mt)}" for name, mt in spec.outputs.items()}
        ctx = {**ctx, "inputs": paths, "outputs": outs}
        where = template_where(loaded, step, ctx)
        run = [spec.run] if isinstance(spec.run, str) else spec.run
        argv = [render(a, ctx, where=where(f"run[{i}]")) for i, a in enumerate(run)] if run is not None else None
        args = {k: render(v, ctx, where=where(f"args.{k}")) if isinstance(v, str) else v for k, v in spec.args.items()}
        env = {k: render(v, ctx, where=where(f"env.{k}")) for k, v in spec.env.items()}
        fields = {
            "node": "command", "capability_version": COMMAND_VERSION, "version": str(spec.version),
            "run": argv, "shell": spec.shell, "python": spec.python, "args": args if spec.python else None,
            "inputs": digests, "outputs": dict(spec.outputs), "env": env, "pass_env": sorted(spec.pass_env),
        }  # fmt: skip
        payload = {"argv": argv, "args": args, "env": env, "files": files, "inputs": paths, "outputs": outs}
        return Prepared(fields, payload=payload, seconds=inputs.calibration.seconds("cpu:command", 2.0))

    async def execute(self, task: Any, step: StepInfo, prepared: Prepared, rt: Runtime) -> Artifact:
        workdir = rt.scratch("step-")
        try:
            return await self._make(task, step, prepared.payload, rt, workdir)
        finally:
            await asyncio.to_thread(shutil.rmtree, workdir, True)

    async def _make(self, task: Any, step: StepInfo, p: dict, rt: Runtime, workdir: str) -> Artifact:
        spec = step.spec
        for rel, ref, value in p["files"]:
            dest = os.path.join(workdir, rel)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            if ref is not None:  # a copy: the program must not be able to change a cached blob
                src = await rt.io(rt.store.blob_file, ref)
                await asyncio.to_thread(shutil.copyfile, src, dest)
            else:
                with open(dest, "w", encoding="utf-8") as f:
                    f.write(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, indent=2))
        for d in ("out", "tmp"):
            os.makedirs(os.path.join(workdir, d), exist_ok=True)
        env = environment(spec, p["env"], rt, workdir)
        what = f"step `{step.name}` (topic {task.topic})"
        if spec.python is not None:
            argv = [sys.executable, _WORKER, os.path.join(workdir, "worker.json")]
            job = {
                "target": spec.python, "path": [str(rt.loaded.base_dir.resolve())], "args": p["args"],
                "inputs": {k: _abs(workdir, v) for k, v in p["inputs"].items()},
                "outputs": {k: os.path.join(workdir, v) for k, v in p["outputs"].items()},
                "result": os.path.join(workdir, "result.json"),
            }  # fmt: skip
            with open(argv[2], "w", encoding="utf-8") as f:
                json.dump(job, f)
            shown = spec.python
        elif spec.shell:
            argv, shown = ["/bin/sh", "-c", p["argv"][0]], "/bin/sh -c ..."
        else:
            argv, shown = list(p["argv"]), p["argv"][0]
            found = shutil.which(argv[0], path=env.get("PATH")) if os.sep not in argv[0] else argv[0]
            if found is None:
                raise StepCommandError(f"{what}: program `{argv[0]}` not found on PATH; install it or give its full path")
        async with rt.cpu():
            t0 = time.monotonic()
            code, out = await run_program(argv, workdir, env, spec.timeout)
            seconds = time.monotonic() - t0
        if code is None:
            raise StepCommandError(f"{what}: `{shown}` did not finish within its timeout of {spec.timeout:g} s and was killed" + tail(out))
        if code != 0:
            raise StepCommandError(f"{what}: `{shown}` exited with code {code}" + tail(out))
        missing = [n for n, rel in p["outputs"].items() if not os.path.isfile(os.path.join(workdir, rel))]
        if missing:
            listed = ", ".join(f"`{n}` ({p['outputs'][n]})" for n in missing)
            raise StepCommandError(f"{what}: `{shown}` exited with code 0 but did not write output {listed}; write it at that path (relative to the step's folder)" + tail(out))
        result = None
        if spec.python is not None:
            with open(os.path.join(workdir, "result.json"), encoding="utf-8") as f:
                result = json.load(f)
        described, blobs = {}, {}
        for name, rel in p["outputs"].items():
            path, mt = os.path.join(workdir, rel), spec.outputs[name]
            described[name] = await asyncio.to_thread(describe, path, mt, f"{what}: output `{name}`")
            blobs[name] = await rt.io(lambda path=path, mt=mt: rt.store.put_blob_file(path, media_type=mt, ext=media_ext(mt)))
        value = {**primary(described, spec.outputs), "outputs": described, "result": result}
        return Artifact(value=value, blobs=blobs, meta={"kind": "command", "seconds": round(seconds, 4)})

    def cached_value_check(self, step: StepInfo, task: Any):
        names = tuple(step.spec.outputs)

        def check(art: Artifact) -> None:
            if not isinstance(art.value, Mapping) or not isinstance(art.value.get("outputs"), Mapping):
                raise ValueError("no `outputs` in the value")
            for n in names:
                if n not in (art.blobs or {}):
                    raise ValueError(f"no `{n}` blob")

        return check

    def view(self, step: StepInfo, artifact: Artifact) -> Any:
        return dict(artifact.value or {})


# --------------------------------------------------------------------------- helpers


def _root(loaded: LoadedRecipe, info: StepInfo) -> Any:
    """The list a for_each step's items come from, following chained for_each steps."""
    seen = set()
    while info.for_each_items and info.name not in seen:
        seen.add(info.name)
        info = loaded.steps[info.for_each[0]]
    return info.for_each


def _pick(art: Artifact, name: str, ref: str, sel: str) -> tuple[Any, Any, str, Any]:
    """(blob ref or None, value, file extension, digest) of the input ``name`` from ``art``."""
    blobs = art.blobs or {}
    src = ref.partition(".")[0]
    if sel:
        if sel in blobs:
            b = blobs[sel]
            return b, None, b.ext, b.digest
        if not blobs and isinstance(art.value, Mapping) and sel in art.value:
            v = art.value[sel]
            return None, v, "txt" if isinstance(v, str) else "json", v
        raise BadOutputError(f"input `{name}`: step `{src}` has no output `{sel}` (it has: {', '.join(blobs) or 'a value, no files'})")
    if not blobs:
        v = art.value
        return None, v, "txt" if isinstance(v, str) else "json", art.digest
    choice = next((b for n, b in blobs.items() if len(blobs) == 1 or n in ("video", "image", "audio")), None)
    if choice is None:
        raise BadOutputError(f"input `{name}`: step `{src}` has several outputs ({', '.join(blobs)}); name one as `{src}.<output>`")
    return choice, None, choice.ext, choice.digest


def _abs(workdir: str, v: Any) -> Any:
    return [os.path.join(workdir, x) for x in v] if isinstance(v, list) else os.path.join(workdir, v)


