"""Every node of a tree in walk order, once per tree: "which calls are in this function" by slicing.

The analyses ask the same question many times, of many subtrees: the calls of a
method, the attributes of a file, the assignments of `__init__`. astroid's
`nodes_of_class` answers each one with a fresh recursive generator walk (a
generator frame per node visited), and the same functions are walked again for
every class, subclass and plan that asks. Here a tree is walked once into a
pre-order list with the end of each node's subtree; a subtree's nodes of some
types are then a slice of a per-type index list (bisect), in the same order
`nodes_of_class` yields them (the node itself first, then its children's
subtrees in `get_children` order).

The table hangs on the tree's root (`Module`), so it lives and dies with the tree;
trees are never changed after parsing (the fixer re-parses after each edit).
"""

from __future__ import annotations

from bisect import bisect_left

from astroid import nodes

_ATTR = "_distiller_node_table"
#: node classes that never have children: those whose `get_children` is `Pass`'s (Name, Const, AssignName...)
_LEAVES = frozenset(klass for klass in vars(nodes).values()
                    if isinstance(klass, type) and getattr(klass, "get_children", None) is nodes.Pass.get_children)


class _Table:
    __slots__ = ("order", "end", "position", "by_type", "by_kinds")

    def __init__(self, root: nodes.NodeNG) -> None:
        order: list[nodes.NodeNG] = []
        end: list[int] = []
        by_type: dict[type, list[int]] = {}
        position: dict[int, int] = {}

        def visit(node: nodes.NodeNG) -> None:
            i = position[id(node)] = len(order)
            order.append(node)
            end.append(0)
            found = by_type.get(node.__class__)
            if found is None:
                by_type[node.__class__] = [i]
            else:
                found.append(i)
            for child in node.get_children():
                klass = child.__class__
                if klass in _LEAVES:  # names and constants, ~40% of the nodes: no call, no generator
                    j = position[id(child)] = len(order)
                    order.append(child)
                    end.append(j + 1)
                    found = by_type.get(klass)
                    if found is None:
                        by_type[klass] = [j]
                    else:
                        found.append(j)
                else:
                    visit(child)
            end[i] = len(order)

        visit(root)
        self.order, self.end, self.by_type, self.position = order, end, by_type, position
        self.by_kinds: dict[object, list[int]] = {}

    def indexes(self, kinds) -> list[int]:
        """Positions of the nodes that are instances of `kinds` (a class or a tuple), ascending."""
        found = self.by_kinds.get(kinds)
        if found is None:
            lists = [positions for klass, positions in self.by_type.items() if issubclass(klass, kinds)]
            found = lists[0] if len(lists) == 1 else sorted(i for positions in lists for i in positions)
            self.by_kinds[kinds] = found
        return found


def _table(root: nodes.NodeNG) -> _Table:
    table = root.__dict__.get(_ATTR)
    if table is None:
        table = _Table(root)
        setattr(root, _ATTR, table)
    return table


def nodes_in(node: nodes.NodeNG, kinds) -> list[nodes.NodeNG]:
    """`list(node.nodes_of_class(kinds))`, from the table of `node`'s tree."""
    root = node.root()
    table = _table(root)
    start = table.position.get(id(node))
    if start is None:  # not reached from the root's children (a detached node): walk it as astroid does
        return list(node.nodes_of_class(kinds))
    positions = table.indexes(kinds)
    stop = table.end[start]
    order = table.order
    return [order[i] for i in positions[bisect_left(positions, start):bisect_left(positions, stop)]]
