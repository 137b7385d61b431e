"""Reads of a member's constructor settings outside forward code, which do not stop its fusion.

timm's `ConvNormAct` has `in_channels`/`out_channels` properties returning `self.conv.in_channels`, and
its efficientnet blocks' `feature_info()` reads `self.conv_pwl.in_channels`. Such a read is not a call,
so `FusionAnalysis` took it for a reader that might see the member change, and left every
conv+BatchNormAct2d of those models unfused (a float BatchNorm island after each conv). These reads are
of construction-time settings, in methods the class's forward does not reach (builders and wrappers
call them): fusion folds BatchNorm into the conv, which keeps them (`nn.Conv2d`); only a conv+relu
fused into torch's `ConvReLU2d` (an nn.Sequential) lacks them until `convert`, and a read then raises
AttributeError (loudly, never a wrong value). The same holds for weight-init reads outside forward code: timm's ResNet blocks' `zero_init_last()`
runs `if getattr(self.bn2, 'weight', None) is not None: nn.init.zeros_(self.bn2.weight)`, which left
every conv2+bn2 of timm's ResNets, HRNet and their kin unfused (FX fuses them). Initialisation runs
before a checkpoint loads and `fuse_model()` after it; called after fusion, such a method meets an
`nn.Identity` and skips (the `getattr` default) or raises. Any other read in forward code, or of
anything else (`self.bn.weight` used in arithmetic, a subscript, a call, a store), still stops the
fusion.
"""

from __future__ import annotations

from astroid import nodes

from pylint_distiller.analysis.generated_helpers import generated_read
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


def settings_read(use: nodes.Attribute, forward_code: set[nodes.FunctionDef], qualify) -> bool:
    """`use` (`self.conv`), outside forward code, only loads a construction setting (`self.conv.in_channels`)
    or serves weight init (`getattr(self.bn2, "weight", None)`, `nn.init.zeros_(self.bn2.weight)`);
    `qualify` names a call's function (`ImportMap.qualify`)."""
    if use.frame() in forward_code:
        return False
    parent = use.parent
    if generated_read(parent) and parent.args[0] is use:  # `float_parameter(self.bn2, "weight")`, a fix's read
        return _initialised(parent, qualify)
    if isinstance(parent, nodes.Call):
        return parent.func is not use and isinstance(parent.func, nodes.Name) and parent.func.name == "getattr" \
            and parent.args[:1] == [use] and len(parent.args) >= 2 and isinstance(parent.args[1], nodes.Const)
    if not (isinstance(parent, nodes.Attribute) and parent.expr is use):
        return False
    if parent.attrname in SETTINGS:
        return not (isinstance(parent.parent, nodes.Call) and parent.parent.func is parent)
    return _initialised(parent, qualify)


def _initialised(value: nodes.NodeNG, qualify) -> bool:
    """`value` (`self.bn2.weight`) is an argument of a `torch.nn.init` function."""
    call = value.parent
    return isinstance(call, nodes.Call) and value in call.args and (qualify(call.func) or "").startswith("torch.nn.init.")
