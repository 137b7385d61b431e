"""Submodule call counts per execution path, and which code can share a path.

Reuse is per forward pass, not per text (design.md): `walk_block` returns the
counts of paths that fall through and of paths that ended (return/raise), and
branches join by maximum, so calls in exclusive branches are one call. Counters
are plain `collections.Counter`s; the helpers here never mutate their inputs.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from astroid import nodes


def empty() -> Counter:
    """An empty Counter without Counter.__init__'s update() call (hundreds of thousands per file)."""
    return Counter.__new__(Counter)


def _copy(a: Counter) -> Counter:
    """`Counter(a)` without its Python-level __init__/update (a plain dict copy of the counts)."""
    out = Counter.__new__(Counter)
    dict.update(out, a)
    return out


@dataclass
class Paths:
    """Submodule call counts of the paths through a block."""

    fall: Counter | None = field(default_factory=empty)  # paths that fall through (None: none do)
    done: Counter = field(default_factory=empty)  # max over paths that returned/raised


def cmax(a: Counter | None, b: Counter | None) -> Counter | None:
    if a is None:
        return b
    if not b:  # None or empty: the maximum is `a`, returned uncopied like `plus` does
        return a
    out = _copy(a)
    get = out.get
    for key, value in b.items():
        if value > get(key, 0):
            out[key] = value
    return out


def plus(a: Counter, b: Counter) -> Counter:
    if not b:
        return a
    if not a:
        return _copy(b)
    out = _copy(a)
    get = out.get
    for key, value in b.items():
        out[key] = get(key, 0) + value
    return out


def times(a: Counter, n: int) -> Counter:
    out = Counter.__new__(Counter)
    dict.update(out, {k: v * n for k, v in a.items()})
    return out


def _conditions(node: nodes.NodeNG) -> dict[str, bool]:
    """Conditions (source text) that hold where `node` runs, with their truth value."""
    out: dict[str, bool] = {}
    child, parent = node, node.parent
    scope = node.frame()
    while parent is not None and parent is not scope:
        test, truth = None, True
        if isinstance(parent, nodes.If) and child is not parent.test:
            test, truth = parent.test, child in parent.body
        elif isinstance(parent, nodes.IfExp) and child is not parent.test:
            test, truth = parent.test, child is parent.body
        if test is not None:
            while isinstance(test, nodes.UnaryOp) and test.op == "not":
                test, truth = test.operand, not truth
            out.setdefault(test.as_string(), truth)
        child, parent = parent, parent.parent
    return out


def may_share_path(a: nodes.NodeNG, b: nodes.NodeNG) -> bool:
    """False when `a` and `b` sit in mutually exclusive arms (if/else, `x if c else y`, match cases),
    or under one condition taken both ways (`x if c else f(x)` ... `f(x) if c else x`)."""
    if a.frame() is not b.frame():
        return True  # a helper: it may run on any path
    cond_a, cond_b = _conditions(a), _conditions(b)
    if any(text in cond_b and cond_b[text] != truth for text, truth in cond_a.items()):
        return False
    chain_a = []
    node = a
    while node is not None:
        chain_a.append(node)
        node = node.parent
    ids = {id(n): i for i, n in enumerate(chain_a)}
    child_b = b
    node = b
    while node is not None and id(node) not in ids:
        child_b = node
        node = node.parent
    if node is None:
        return True
    common = node
    index = ids[id(common)]
    if index == 0:
        return True  # one contains the other
    child_a = chain_a[index - 1]

    def arm(stmt_or_expr, child) -> str | None:
        if isinstance(stmt_or_expr, nodes.If):
            if child in stmt_or_expr.body:
                return "body"
            if child in stmt_or_expr.orelse:
                return "orelse"
            return None
        if isinstance(stmt_or_expr, nodes.IfExp):
            if child is stmt_or_expr.body:
                return "body"
            if child is stmt_or_expr.orelse:
                return "orelse"
            return None
        if isinstance(stmt_or_expr, nodes.Match):
            return str(id(child)) if child in stmt_or_expr.cases else None
        if isinstance(stmt_or_expr, nodes.Try):
            return str(id(child)) if child in stmt_or_expr.handlers else None
        return None

    arm_a, arm_b = arm(common, child_a), arm(common, child_b)
    return not (arm_a is not None and arm_b is not None and arm_a != arm_b)
