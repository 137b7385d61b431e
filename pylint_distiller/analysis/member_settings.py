"""Reads of a member's constructor settings outside forward code, which do not stop its fusion.

timm's `ConvNormAct` has `in_channels`/`out_channels` properties returning `self.conv.in_channels`, and
its efficientnet blocks' `feature_info()` reads `self.conv_pwl.in_channels`. Such a read is not a call,
so `FusionAnalysis` took it for a reader that might see the member change, and left every
conv+BatchNormAct2d of those models unfused (a float BatchNorm island after each conv). These reads are
of construction-time settings, in methods the class's forward does not reach (builders and wrappers
call them): fusion folds BatchNorm into the conv, which keeps them (`nn.Conv2d`); only a conv+relu
fused into torch's `ConvReLU2d` (an nn.Sequential) lacks them until `convert`, and a read then raises
AttributeError (loudly, never a wrong value). A read in forward code, or of anything else (`.weight`,
a call, a store), still stops the fusion.
"""

from __future__ import annotations

from astroid import nodes

from pylint_distiller.analysis.syntax import is_self_attr

#: constructor settings of the fusable torch layers, kept by a fused conv/linear
SETTINGS = frozenset({"in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups",
                      "num_features", "in_features", "out_features"})


def forward_methods(klass: nodes.ClassDef, mro: list[nodes.ClassDef]) -> set[nodes.FunctionDef]:
    """The methods of `klass` and its bases that its forward reaches through `self.<name>` (calls,
    properties, methods handed on), transitively."""
    methods: dict[str, nodes.FunctionDef] = {}
    for base in reversed(mro):
        for node in base.body:
            if isinstance(node, nodes.FunctionDef):
                methods[node.name] = node
    todo = [methods["forward"]] if "forward" in methods else []
    seen: set[nodes.FunctionDef] = set()
    while todo:
        func = todo.pop()
        if func in seen:
            continue
        seen.add(func)
        todo += [methods[n.attrname] for n in func.nodes_of_class(nodes.Attribute)
                 if is_self_attr(n) and n.attrname in methods]
    return seen


def settings_read(use: nodes.Attribute, forward_code: set[nodes.FunctionDef]) -> bool:
    """`use` (`self.conv`) only loads a construction setting (`self.conv.in_channels`) outside forward code."""
    parent = use.parent
    return isinstance(parent, nodes.Attribute) and parent.expr is use and parent.attrname in SETTINGS \
        and not (isinstance(parent.parent, nodes.Call) and parent.parent.func is parent) \
        and use.frame() not in forward_code
