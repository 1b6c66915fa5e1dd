"""The worker process of a ``python: "module:function"`` step: import, call, write the result.

Run as a script (``python _command_worker.py SPEC``), never imported by vidflow itself, so the
worker starts without importing vidflow and a user's function cannot touch the run's state.
SPEC is a JSON file: ``{"target", "path", "args", "inputs", "outputs", "result"}``. The
function is called with ``args`` as keyword arguments, plus ``inputs`` and ``outputs``
(name -> absolute path) when its signature accepts them. A coroutine function is run to the
end. Its return value must be JSON (or None); it is written to ``result``.

Exit codes: 0 done, 1 the function raised (the traceback is on stderr), 2 the target cannot be
imported or called with these arguments.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import sys
import traceback


def _load(target: str, path: list[str]):
    module_name, _, attr = target.partition(":")
    for p in reversed(path):
        sys.path.insert(0, p)
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        sys.stderr.write(f"cannot import module {module_name!r} (looked in {', '.join(path)} and the installed packages): {e}\n")
        raise SystemExit(2) from None
    fn = getattr(module, attr, None)
    if not callable(fn):
        sys.stderr.write(f"module {module_name!r} ({getattr(module, '__file__', '?')}) has no function {attr!r}\n")
        raise SystemExit(2)
    return fn


def _kwargs(fn, spec: dict) -> dict:
    kwargs = dict(spec["args"])
    params = inspect.signature(fn).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    for extra in ("inputs", "outputs"):
        if extra in kwargs:
            sys.stderr.write(f"`args` may not be called {extra!r}: vidflow passes the step's {extra} under that name\n")
            raise SystemExit(2)
        if takes_any or extra in params:
            kwargs[extra] = spec[extra]
    try:
        inspect.signature(fn).bind(**kwargs)
    except TypeError as e:
        sys.stderr.write(f"{spec['target']} cannot take these arguments ({', '.join(kwargs) or 'none'}): {e}\n")
        raise SystemExit(2) from None
    return kwargs


def main(argv: list[str]) -> int:
    with open(argv[1], encoding="utf-8") as f:
        spec = json.load(f)
    fn = _load(spec["target"], spec["path"])
    kwargs = _kwargs(fn, spec)
    try:
        result = fn(**kwargs)
        if inspect.isawaitable(result):
            result = asyncio.run(_wait(result))
    except Exception:
        traceback.print_exc()
        return 1
    try:
        text = json.dumps(result)
    except (TypeError, ValueError) as e:
        sys.stderr.write(f"{spec['target']} returned a {type(result).__name__}, which is not JSON ({e}); return a dict, list, str, number or None\n")
        return 2
    with open(spec["result"], "w", encoding="utf-8") as f:
        f.write(text)
    return 0


async def _wait(awaitable):
    return await awaitable


if __name__ == "__main__":
    sys.exit(main(sys.argv))
