"""Deploy-time fold methods: a method that reads chain members only to fold them by hand.

Many model files ship their own conv+bn folding for deployment, next to the forward that
runs the chain: timm's LeViT, EfficientViT (MSRA), TinyViT, SHViT and RepViT define
`ConvNorm.fuse()` / `Conv2d_BN.fuse()` as

    @torch.no_grad()
    def fuse(self):
        c, bn = self.linear, self.bn
        w = bn.weight / (bn.running_var + bn.eps) ** 0.5
        ...
        return nn.Conv2d(...)

A read of a chain member outside the forward blocked the chain's fusion (fusion turns the
later members into `nn.Identity`, which such a read would then meet), so these chains were
left unfused: an extra quantized op per conv, where FX graph mode fuses them (measured:
timm levit_128's stem, 2-3 dB per stem layer).

Such a method does what `fuse_model()` does, by hand: it is the other way to the same folded
model, not code the model runs. It is recognised narrowly: decorated `torch.no_grad` or
`torch.inference_mode`, not run by forward code, referenced through `self` by no method of its
class, and calling nothing through `self` but its children's methods of its own name and tensor
methods (it reads parameters and buffers, and folds its children: `self.dwconv.fuse()`,
`self.alpha.detach().sigmoid()`; it runs no module).
Its reads then do not block fusion. The one thing that changes: after `fuse_model()`, calling
that method too fails loudly (`nn.Identity` has no `weight`): a model is folded one way or
the other, and `fuse_model()` changes nothing until it is called.
"""

from __future__ import annotations

from astroid import nodes

from pylint_distiller.analysis.syntax import is_self_attr
from pylint_distiller.catalogue import NON_TENSOR_METHODS, OPS

_NO_GRAD = frozenset(("torch.no_grad", "torch.inference_mode"))
#: tensor methods a fold runs on parameters and buffers (`self.alpha.detach().sigmoid()`, `w.copy_(...)`)
_TENSOR_METHODS = frozenset({key.split(".", 1)[1] for key in OPS if key.startswith("Tensor.")} | NON_TENSOR_METHODS
                            | {"detach", "clone", "copy_", "zero_", "fill_", "mul_", "add_", "div_", "sub_", "t"})


def _decorated_no_grad(method: nodes.FunctionDef, qualify) -> bool:
    if not method.decorators:
        return False
    for dec in method.decorators.nodes:
        target = dec.func if isinstance(dec, nodes.Call) else dec
        if isinstance(target, (nodes.Name, nodes.Attribute)) and (qualify(target) or target.as_string()) in _NO_GRAD:
            return True
    return False


def _rooted_at_self(node: nodes.NodeNG) -> bool:
    """`self.a.b.c`, `self.blocks[0].conv`: an attribute chain that starts at `self`."""
    while isinstance(node, (nodes.Attribute, nodes.Subscript)):
        node = node.expr if isinstance(node, nodes.Attribute) else node.value
    return isinstance(node, nodes.Name) and node.name == "self"


def fold_method(method: nodes.FunctionDef, klass: nodes.ClassDef, qualify, runs) -> bool:
    """Is `method` of `klass` a deploy-time fold method (see the module docstring)?

    `qualify` names a decorator; `runs(function)` says whether forward code runs it.
    """
    if method.name.startswith("forward") or not _decorated_no_grad(method, qualify) or runs(method):
        return False
    for node in method.nodes_of_class(nodes.Call):
        if isinstance(node.func, nodes.Attribute) and _rooted_at_self(node.func) and (is_self_attr(node.func) or (
                node.func.attrname != method.name and node.func.attrname not in _TENSOR_METHODS)):
            return False  # it runs a member, a member's member or its own method: only `self.child.fuse()` and
            # tensor methods of parameters (`self.alpha.detach()`) fold
    for other in klass.mymethods():
        if other is not method and any(is_self_attr(n) and n.attrname == method.name
                                       for n in other.nodes_of_class(nodes.Attribute)):
            return False  # its class calls it (`self.fuse()`): it may run on the fused model
    return True
