"""Task.keyed is dataclasses.replace for the three fields a node gets once its inputs exist."""

from __future__ import annotations

import dataclasses

from vidflow.plan.task import Estimate, Task


def test_keyed_equals_replace_and_keeps_every_other_field():
    t = Task(id="a/b", topic="a", step="b", capability="text", role="r", provider="p", item=3, deps=("x",), inputs=(("s", ("x",)),),
             item_from=("x", "f"), params={"k": 1}, estimated=True, result=False)
    e = Estimate(1.0, 2.0, {"u": 1})
    keyed = t.keyed({"f": 1}, "key", e)
    assert keyed == dataclasses.replace(t, fields={"f": 1}, key="key", estimate=e)
    assert t.key is None and t.fields is None  # the original is untouched (frozen)
    assert set(vars(keyed)) == {f.name for f in dataclasses.fields(Task)}  # every field is there, a new one too
