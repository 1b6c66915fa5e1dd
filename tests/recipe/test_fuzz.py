"""The recipe fuzzer (tests/recipe/fuzz_recipes.py): 500 derandomized mutants of the example
recipes, each exit 2 with file:line on every error line or exit 0 with every template rendering
to text or a located TemplateError; never a traceback, never over 10 s or 500 MB per case.
Every 100th case also runs through `vidflow plan` in a child process, which must agree.

It runs in a child process: the address-space limit (RLIMIT_AS) it sets must not reach this
test session. ``MALLOC_ARENA_MAX`` keeps glibc from reserving address space per thread, which
would count against that limit without being used.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

from tests.conftest import REPO

CASES = 500


def test_fuzzed_recipes_exit_2_with_a_location_or_plan_and_render():
    env = {**os.environ, "MALLOC_ARENA_MAX": "2", "PYTHONHASHSEED": "0"}
    proc = subprocess.run(
        [sys.executable, "-m", "tests.recipe.fuzz_recipes", str(CASES)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,  # a hang guard only; each case has its own 10 s alarm
    )
    report = (proc.stdout + proc.stderr)[-12_000:]
    assert proc.returncode == 0, report
    m = re.search(r"fuzz: (\d+) cases, (\d+) exit 2, (\d+) exit 0, (\d+) rendered, (\d+) template errors, (\d+) plan problems, (\d+) cli", proc.stdout)
    assert m, report
    cases, exit2, exit0, rendered, template_errors, _plan_problems, cli = map(int, m.groups())
    assert cases >= CASES
    assert exit2 + exit0 == cases
    # the mutants must keep reaching both outcomes, or the fuzzer has stopped testing one side
    assert exit2 >= CASES // 2 and exit0 >= CASES // 20
    assert rendered > 0 and template_errors > 0
    assert cli >= CASES // 100  # a few cases also went through `vidflow plan` in a real process
