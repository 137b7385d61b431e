"""What code after `__init__` may do to a container a per-iteration module list is sized from.

`enumerate(self.blocks)` (or `range(len(self.blocks))`) in forward yields positions
below the container's length at that time. A list of `len(self.blocks)` modules built
at the end of `__init__` covers every such position as long as nothing makes the
container longer later. Methods outside forward may still:

* set it to None (timm lcnetv2's `reparameterize()`): the loop then cannot run, in
  the original either;
* replace it by a slice of itself (timm hrnet's `prune_intermediate_layers()`:
  `self.incre_modules = self.incre_modules[:k]`), never longer than before.

A container that may be None when `__init__` ends (`self.dw_conv_list = None` on one
path) sizes the list as `len(self.c or ())`: an empty list where there is nothing to
iterate, instead of `len(None)` failing in `__init__`.
"""

from __future__ import annotations

from astroid import nodes


def never_longer(value: nodes.NodeNG, attr: str) -> bool:
    """`self.<attr> = value` outside `__init__` cannot make the container longer."""
    if isinstance(value, nodes.Const) and value.value is None:
        return True
    return isinstance(value, nodes.Subscript) and isinstance(value.slice, nodes.Slice) and \
        isinstance(value.value, nodes.Attribute) and value.value.attrname == attr and \
        isinstance(value.value.expr, nodes.Name) and value.value.expr.name == "self"


def may_be_none(values: list[nodes.NodeNG]) -> bool:
    """Some assignment stores None (the container is absent on that path)."""
    return any(isinstance(v, nodes.Const) and v.value is None for v in values)
