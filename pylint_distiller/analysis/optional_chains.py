"""Chains whose later members may be None: `if self.norm is not None: x = self.norm(x)`.

Conv/norm/act layers with optional parts are written as

    x = self.conv(x)
    if self.norm is not None:
        x = self.norm(x)
    if self.act is not None:
        x = self.act(x)

(timm's EfficientViM `ConvLayer1d`/`ConvLayer2d`, and much user code with `norm_layer=None`).
The member calls are not linked statement to statement, so the chain was never found: each
conv, BatchNorm and ReLU was quantized on its own, where FX graph mode fuses them (measured:
timm efficientvim_m1 1.2 -> 2.2 dB with these chains fused).

Whichever members are present, the forward runs them one after the other, each output going
only into the next: an absent one is skipped, and after fusion a fused-away member is an
`nn.Identity`, not None, so its guard passes and it returns its input. The chain is therefore
fused by run-time type over the members that are present when `fuse_model()` runs
(`fuse_by_type(self, [n for n in [...] if self._modules.get(n) is not None], ...)`).

Only this exact shape is an optional link: an `if` with no `else` whose test is
`self.<m> is not None` and whose body is the single statement `<v> = self.<m>(<v>)`.
"""

from __future__ import annotations

from astroid import nodes

from pylint_distiller.analysis.syntax import is_self_attr


def guarded_member(stmt: nodes.NodeNG) -> nodes.Call | None:
    """The member call of an optional link `if self.m is not None: v = self.m(v)` (None: not one)."""
    if not isinstance(stmt, nodes.If) or stmt.orelse or len(stmt.body) != 1:
        return None
    test, body = stmt.test, stmt.body[0]
    if not (isinstance(test, nodes.Compare) and len(test.ops) == 1 and test.ops[0][0] == "is not"
            and isinstance(test.ops[0][1], nodes.Const) and test.ops[0][1].value is None
            and isinstance(test.left, nodes.Attribute) and is_self_attr(test.left)):
        return None
    if not (isinstance(body, nodes.Assign) and len(body.targets) == 1 and isinstance(body.targets[0], nodes.AssignName)
            and isinstance(body.value, nodes.Call) and isinstance(body.value.func, nodes.Attribute)
            and is_self_attr(body.value.func) and body.value.func.attrname == test.left.attrname
            and len(body.value.args) == 1 and not body.value.keywords
            and isinstance(body.value.args[0], nodes.Name) and body.value.args[0].name == body.targets[0].name):
        return None
    return body.value


def guard_test(read: nodes.Attribute) -> bool:
    """`read` is the `self.m` of an optional link's test `if self.m is not None:` (not a use of the member's value)."""
    compare = read.parent
    return isinstance(compare, nodes.Compare) and compare.left is read and guarded_member(compare.parent) is not None \
        and compare.parent.test is compare


def producer(call: nodes.Call, members) -> nodes.Call | None:
    """The member call whose value `call` takes when an optional link stands between them or `call` is one:
    `x = self.conv(x)` / `if self.norm is not None: x = self.norm(x)` / (`if self.act ...` or `x = self.act(x)`)."""
    stmt = call.statement()
    anchor = stmt.parent if isinstance(stmt.parent, nodes.If) and guarded_member(stmt.parent) is call else stmt
    if anchor is stmt and not (isinstance(stmt, nodes.Assign) and len(stmt.targets) == 1
                               and isinstance(stmt.targets[0], nodes.AssignName) and len(call.args) == 1
                               and isinstance(call.args[0], nodes.Name)
                               and call.args[0].name == stmt.targets[0].name and stmt.value is call):
        return None  # not `v = self.m(v)`: only a rebinding link is followed through optional links
    name = call.args[0].name if call.args and isinstance(call.args[0], nodes.Name) else None
    if name is None:
        return None
    prev = anchor.previous_sibling()
    while prev is not None and not any(n.name == name for n in prev.nodes_of_class((nodes.Name, nodes.AssignName))):
        prev = prev.previous_sibling()
    guarded = guarded_member(prev) if prev is not None else None
    if guarded is not None and guarded.args[0].name == name:
        found = guarded
    elif anchor is not stmt and isinstance(prev, nodes.Assign) and len(prev.targets) == 1 \
            and isinstance(prev.targets[0], nodes.AssignName) and prev.targets[0].name == name:
        found = prev.value  # the guarded call's own producer: `x = self.conv(x)` before it
    else:
        return None
    return found if found in members else None


def optional_names(calls) -> tuple[str, ...]:
    """The members of a chain's `calls` that an optional link guards."""
    return tuple(c.func.attrname for c in calls
                 if isinstance(c.statement().parent, nodes.If) and guarded_member(c.statement().parent) is c)
