"""Reads of a chain member that do not stop its fusion (`FusionAnalysis._chain_reads`).

Fusion replaces a chain's members: the first by the fused module, the others by nn.Identity. Any
read of a member other than its chain call could see that, so every such read kept the chain
unfused. Three kinds of read see no difference, and real models are full of them:

* a test against None, anywhere (`if self.skip is not None:`, xception's optional shortcut,
  repghost's `conv_dw`): fusion puts modules in place, never None;
* outside forward code, a construction setting (`self.conv.in_channels` in timm's ConvNormAct
  properties and its blocks' `feature_info()`): a conv fused with its BatchNorm keeps them; one
  fused with its ReLU into torch's `ConvReLU2d` (an nn.Sequential) lacks them until `convert`, and
  a read then raises AttributeError, loudly, never a wrong value;
* outside forward code, weight init (`if getattr(self.bn2, 'weight', None) is not None:
  nn.init.zeros_(self.bn2.weight)`, timm's ResNet blocks' `zero_init_last()`): initialisation runs
  before a checkpoint loads and `fuse_model()` after it; run after fusion, it meets an nn.Identity
  and skips (the getattr default) or raises.

These had left every conv+BatchNormAct2d of timm's ConvNormAct and efficientnet blocks, and every
conv2+bn2 of timm's ResNet and HRNet blocks, unfused (FX fuses them). Any other read (in forward
code, `self.bn.weight` used in arithmetic, a subscript, a call, a store) still stops the fusion.
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


def safe_read(use: nodes.Attribute, forward_code: set[nodes.FunctionDef], qualify) -> bool:
    """`use` (`self.conv`) is only tested against None, or, outside forward code, only loads a construction
    setting (`self.conv.in_channels`) or serves weight init (`getattr(self.bn2, "weight", None)`,
    `nn.init.zeros_(self.bn2.weight)`);
    `qualify` names a call's function (`ImportMap.qualify`)."""
    parent = use.parent
    if isinstance(parent, nodes.Compare) and parent.left is use and len(parent.ops) == 1 \
            and parent.ops[0][0] in ("is", "is not") and isinstance(parent.ops[0][1], nodes.Const) \
            and parent.ops[0][1].value is None:
        return True  # `if self.skip is not None:`, anywhere: fusion puts modules (never None) in its place
    if use.frame() in forward_code:
        return False
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
    return isinstance(call, nodes.Call) and value in call.args \
        and (qualify(call.func) or "").startswith("torch.nn.init.")
