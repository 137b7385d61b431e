"""`nodes_in` answers what astroid's `nodes_of_class` answers, in the same order (`node_tables.py`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from astroid import nodes

from pylint_distiller.analysis.node_tables import _LEAVES, nodes_in
from pylint_distiller.api import parse

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

EVERY_KIND = '''
import torch
from torch import nn as tnn
global_value = {**{"a": 1}, "b": [1, *range(3)]}


class M(tnn.Module):
    scale: float = 2.0

    def forward(self, x, *args, y: int = 3, **kw):
        global global_value
        del kw
        for i in range(y):
            if i % 2:
                continue
            elif i > 5:
                break
            else:
                pass
        while False:
            x = x + 1
        try:
            z = [a * 2 for a in args if a]
        except (ValueError, TypeError) as err:
            raise RuntimeError("no") from err
        finally:
            pass
        with torch.no_grad() as ctx:
            x = -x if (n := len(args)) else ~x
        f = lambda t: t @ t
        s = {k: v for k, v in kw.items()}
        g = (t for t in args)
        x[0:2, ...] = x[::2]
        assert x is not None, f"{x!r:>10}"
        return torch.cat([x, *z], dim=0) ** 2

    async def other(self):
        def inner():
            nonlocal_value = 1
            def deeper():
                nonlocal nonlocal_value
                yield nonlocal_value
            yield from deeper()
        await inner()
        async with self.lock:
            async for item in self.items:
                print(item)
'''

KINDS = (nodes.Call, nodes.Name, (nodes.Assign, nodes.AnnAssign, nodes.AugAssign, nodes.Call), nodes.NodeNG,
         (nodes.Const, nodes.BinOp), nodes.FunctionDef)


def _trees():
    yield "every_kind", parse(EVERY_KIND)
    for path in sorted(EXAMPLES.glob("*.py")):
        yield path.name, parse(path.read_text(encoding="utf-8"), str(path))


@pytest.mark.parametrize("name,module", list(_trees()), ids=lambda v: v if isinstance(v, str) else "")
def test_nodes_in_matches_nodes_of_class(name, module):
    subtrees = [module] + list(module.nodes_of_class((nodes.ClassDef, nodes.FunctionDef, nodes.If, nodes.For,
                                                       nodes.Call, nodes.Return, nodes.Lambda)))
    for subtree in subtrees:
        for kinds in KINDS:
            assert nodes_in(subtree, kinds) == list(subtree.nodes_of_class(kinds)), (name, subtree, kinds)


def test_leaves_have_no_children():
    module = parse(EVERY_KIND)
    seen = set()
    for node in module.nodes_of_class(nodes.NodeNG):
        if type(node) in _LEAVES:
            seen.add(type(node).__name__)
            assert list(node.get_children()) == []
    assert {"Name", "Const", "AssignName", "Pass", "Break", "Continue", "Global", "Import"} <= seen
