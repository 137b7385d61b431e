"""An add whose result goes only into a ReLU: one `FloatFunctional.add_relu` call (torch-eager).

torchvision's quantizable ResNet writes `out = self.skip_add_relu.add_relu(out, identity)`
for `out += identity; out = self.relu(out)`: the quantized kernel adds and clamps in one
op, so the sum is never rounded to int8 before the ReLU. Three shapes are recognised:

* `self.relu(a + b)`, `F.relu(a + b)`, `torch.relu(a + b)`: the add is the ReLU's only
  argument;
* `out += y` directly followed by `out = <relu>(out)`;
* `out = a + b` directly followed by `out = <relu>(out)`.

The ReLU is a member of exact type `nn.ReLU` or the functional. The add fix of the
plain plan (`self.add.add(a, b)`) is widened to cover the ReLU call, so its
applicability (the aliasing check of an in-place `+=`, loops) carries over unchanged. A
ReLU member that is also called elsewhere stays where it is (it holds no state, the
state_dict does not change); only this call of it disappears.
"""

from __future__ import annotations

from dataclasses import replace

from astroid import nodes

from pylint_distiller.analysis.classes import ModuleIndex
from pylint_distiller.analysis.sites import OpSite
from pylint_distiller.analysis.positions import Positions
from pylint_distiller.analysis.syntax import is_self_attr
from pylint_distiller.findings import Fix

_ADDS = frozenset(("operator.add", "operator.iadd"))
_RELU_FUNCTIONS = frozenset(("torch.nn.functional.relu", "torch.relu"))
_RELU_MODULE = "torch.nn.ReLU"
MEMBER = "add_relu"


def _is_relu_call(node: nodes.NodeNG, site: OpSite, index: ModuleIndex) -> bool:
    """A call that applies ReLU to its one positional argument and does nothing else."""
    if not isinstance(node, nodes.Call) or len(node.args) != 1 or isinstance(node.args[0], nodes.Starred):
        return False
    func = node.func
    if is_self_attr(func):
        fact = site.owner.attrs.get(func.attrname) if site.owner else None
        return not node.keywords and fact is not None and fact.qname == _RELU_MODULE and not fact.alias_of
    qname = index.imports.qualify(func)
    if qname not in _RELU_FUNCTIONS:
        return False
    allowed = ("inplace",) if qname.endswith("functional.relu") else ()
    return all(kw.arg in allowed for kw in node.keywords or ())


def _next_relu(stmt: nodes.NodeNG, name: str, site: OpSite, index: ModuleIndex) -> nodes.Assign | None:
    """`name = <relu>(name)` as the statement right after `stmt`."""
    nxt = stmt.next_sibling()
    if not (isinstance(nxt, nodes.Assign) and len(nxt.targets) == 1 and isinstance(nxt.targets[0], nodes.AssignName)
            and nxt.targets[0].name == name and _is_relu_call(nxt.value, site, index)):
        return None
    arg = nxt.value.args[0]
    return nxt if isinstance(arg, nodes.Name) and arg.name == name else None


def relu_of(site: OpSite, index: ModuleIndex) -> tuple[nodes.NodeNG, nodes.NodeNG, nodes.Call] | None:
    """(first node, last node, relu call) of the code an add_relu call replaces, if the add feeds a relu."""
    node = site.node
    if site.spec.key not in _ADDS or site.owner is None:
        return None
    if isinstance(node, nodes.BinOp):
        parent = node.parent
        if _is_relu_call(parent, site, index) and parent.args[0] is node:
            return parent, parent, parent
        stmt = node.parent
        if isinstance(stmt, nodes.Assign) and stmt.value is node and len(stmt.targets) == 1 \
                and isinstance(stmt.targets[0], nodes.AssignName):
            nxt = _next_relu(stmt, stmt.targets[0].name, site, index)
            if nxt is not None:
                return stmt, nxt, nxt.value
        return None
    if isinstance(node, nodes.AugAssign) and isinstance(node.target, nodes.AssignName):
        nxt = _next_relu(node, node.target.name, site, index)
        if nxt is not None:
            return node, nxt, nxt.value
    return None


def add_relu_fix(site: OpSite, fix: Fix, index: ModuleIndex, pos: Positions,
                 functional: bool = True) -> tuple[Fix, nodes.Call] | None:
    """The add's plain FloatFunctional fix widened into an add_relu call, with the relu call it absorbs
    (an `F.relu` only when `functional`: that call is a finding of its own, which may be deselected)."""
    if fix.member is None or ".add(" not in fix.template:
        return None  # add_scalar (a Python number operand) has no relu variant
    found = relu_of(site, index)
    if found is None:
        return None
    first, last, relu = found
    if not functional and not is_self_attr(relu.func):
        return None
    node = site.node
    if isinstance(node, nodes.AugAssign):
        holes = (pos.span(node.target), pos.span(node.value))
        template = "{0} = self.{m}.add_relu({0}, {1})"
    else:
        holes = (pos.span(node.left), pos.span(node.right))
        template = "self.{m}.add_relu({0}, {1})"
        if isinstance(first, nodes.Assign):
            holes = (pos.span(first.targets[0]),) + holes
            template = "{0} = self.{m}.add_relu({1}, {2})"
    span = (*pos.span(first)[:2], *pos.span(last)[2:])
    if pos.has_comment(span, list(holes)):
        return None
    widened = replace(fix, title=f"Replace the add and the ReLU with self.<{MEMBER}> = {fix.member.constructor} "
                                 f"called .add_relu", span=span, template=template, holes=holes,
                      member=replace(fix.member, name=MEMBER))  # keeps its hasattr guard
    return widened, relu

