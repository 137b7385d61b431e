"""A regression gate on real models: the static findings against one traced forward pass.

`tests/realcode/measure.py` runs the full comparison (dozens of models); this test
runs it on a handful of small, varied ones and holds the analysis to the numbers
the acceptance criteria ask for.
"""

from __future__ import annotations

import pytest

pytest.importorskip("transformers")

from tests.realcode import measure  # noqa: E402  (after the skip)

MODELS = ["bert", "llama", "t5", "albert", "swin", "resnet", "efficientnet_pytorch"]


@pytest.fixture(scope="module")
def results():
    out = []
    for name in MODELS:
        res = measure.measure(name)
        assert res.error is None, (name, res.error)
        out.append(res)
    return out


def test_every_runtime_op_line_has_a_static_finding(results):
    misses = {r.name: r.misses() for r in results if r.misses()}
    assert not misses, misses
    assert sum(len(r.runtime_ops) for r in results) >= 40  # the runs really saw ops


def test_every_module_called_twice_is_reported(results):
    missed = {r.name: [m.name for m, _ in r.reused if m not in r.covered_reuse] for r in results}
    assert not any(missed.values()), missed
    assert sum(len(r.reused) for r in results) >= 20  # ALBERT's shared groups, efficientnet's swish...


def test_findings_on_executed_lines_sit_on_executed_ops(results):
    executed = sum(len(r.static_exec) for r in results)
    precise = sum(len(r.precise_strict) for r in results)
    assert executed >= 60
    assert precise / executed >= 0.95, [(r.name, f.line, f.symbol) for r in results for f in r.false_alarms()]
    reuse = sum(len(r.reuse_static_exec) for r in results)
    assert reuse and sum(len(r.reuse_static_ok) for r in results) == reuse
