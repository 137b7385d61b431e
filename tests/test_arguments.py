"""The one call binder (`analysis/arguments.py`) and its named policies."""

from __future__ import annotations

import astroid
import pytest

from pylint_distiller.analysis.arguments import bind_call, bind_to

MODULE = astroid.parse("""
def helper(x, y, *, scale=1.0):
    return x

class Net:
    def method(self, a, b=2):
        return a

    def forward(self, x, kw):
        helper(x, y=x, scale=2)      # 0
        helper(*x)                   # 1
        helper(x, x, x)              # 2
        helper(x, x=x)               # 3
        helper(x, **kw)              # 4
        helper(x, other=x)           # 5
        self.method(x, b=x)          # 6
""")
HELPER = MODULE.body[0]
METHOD = MODULE.body[1].body[0]
CALLS = [stmt.value for stmt in MODULE.body[1].body[1].body]


def _names(bound):
    return None if bound is None else {name: arg.as_string() for name, arg in bound.items()}


def test_a_call_binds_like_python():
    assert _names(bind_to(CALLS[0], HELPER)) == {"x": "x", "y": "x", "scale": "2"}
    assert _names(bind_to(CALLS[6], METHOD)) == {"a": "x", "b": "x"}  # self is the receiver


@pytest.mark.parametrize("index", [1, 2, 3, 4, 5])
def test_what_python_would_reject_or_cannot_be_known_binds_nothing(index):
    assert bind_to(CALLS[index], HELPER) is None


def test_policies_for_double_star_and_unknown_keywords():
    assert _names(bind_call(CALLS[4], ["x", "y"], skip_double_star=True)) == {"x": "x"}
    assert _names(bind_call(CALLS[5], ["x", "y"], keep_unknown=True)) == {"x": "x", "other": "x"}
    assert bind_call(CALLS[3], ["x", "y"], keep_unknown=True) is None  # `x` bound twice: a TypeError in Python
