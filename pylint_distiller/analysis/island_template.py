"""The text of one float island: the original operands as holes, stub calls around the activations.

`islands.IslandPlanner` decides what runs in float; this builds the replacement text it
puts at the call site. Each activation operand becomes `self.<dequant member>(<hole>)`,
the whole expression `self.<quant member>(...)`; everything else is copied from the
source as a hole (`{0}`, `{1}`...), so comments and spelling inside the kept spans stay.
With `pick` (`[i]`) the members are per-iteration lists indexed by the loop position.
"""

from __future__ import annotations

from astroid import nodes

#: operands that need no parentheses when they become part of a larger expression
_ATOMS = (nodes.Name, nodes.Attribute, nodes.Call, nodes.Subscript, nodes.Const, nodes.List, nodes.Tuple,
          nodes.Dict, nodes.Set, nodes.ListComp, nodes.SetComp, nodes.DictComp)


class IslandTemplate:
    """Builds an island's template: holes for the original operands, stub calls around activations."""

    def __init__(self, pos, receiver: str, activations: set[int], pick: str = "") -> None:
        self.pos = pos
        self.receiver = receiver
        self.activations = activations
        self.pick = pick  # `[i]`: the members are per-iteration lists
        self.holes: list = []
        self.dequants = 0

    def hole(self, node: nodes.NodeNG) -> str:
        self.holes.append(self.pos.span(node))
        return "{%d}" % (len(self.holes) - 1)

    def _member(self, index: int) -> str:
        return ("{m}" if index == 0 else "{m%d}" % index) + self.pick

    def operand(self, node: nodes.NodeNG, parent_op: nodes.NodeNG | None) -> str:
        if id(node) in self.activations:
            self.dequants += 1
            return f"{self.receiver}.{self._member(self.dequants - 1)}({self.hole(node)})"
        text = self.hole(node)
        if parent_op is not None and not isinstance(node, _ATOMS):
            return f"({text})"  # the span of `(a + b)` holds no parentheses
        return text

    def call(self, node: nodes.Call, method: bool) -> str | None:
        func = node.func
        if method:
            head = self.operand(func.expr, func) + "." + func.attrname
        else:
            head = self.hole(func)
        args = []
        for arg in node.args:
            if isinstance(arg, nodes.Starred):
                if id(arg) in self.activations or any(id(e) in self.activations for e in arg.nodes_of_class(
                        nodes.NodeNG)):
                    return None
                args.append("*" + self.hole(arg.value))
            elif isinstance(arg, (nodes.List, nodes.Tuple, nodes.BinOp)) and id(arg) not in self.activations and any(
                    id(e) in self.activations for e in arg.nodes_of_class(nodes.NodeNG)):
                text = self._sequence(arg)
                if text is None:
                    return None
                args.append(text)
            else:
                args.append(self.operand(arg, None))
        for kw in node.keywords or ():
            if kw.arg is None:
                return None
            args.append(f"{kw.arg}=" + self.operand(kw.value, None))
        return head + "(" + ", ".join(args) + ")"

    def verbatim(self, node: nodes.NodeNG, acts: list[nodes.NodeNG]) -> str | None:
        """`node`'s text kept whole (comments included) as holes between its activations, each dequantized:
        `F.batch_norm(\n x,\n # note\n self.running_mean, ...)` -> `{0}self.{m}({1}){2}`."""
        spans = sorted(self.pos.span(a) for a in acts)
        outer = self.pos.span(node)
        if not spans or any(a[2:] > b[:2] for a, b in zip(spans, spans[1:])) \
                or spans[0][:2] <= outer[:2] or spans[-1][2:] >= outer[2:]:
            return None  # overlapping operands, or one at an edge of the node (a method's receiver)
        out, pos = [], outer[:2]
        for span in spans:
            out.append(self._gap(pos, span[:2]))
            self.dequants += 1
            out.append(f"{self.receiver}.{self._member(self.dequants - 1)}({self._gap(span[:2], span[2:])})")
            pos = span[2:]
        out.append(self._gap(pos, outer[2:]))
        return "".join(out)

    def _gap(self, start: tuple[int, int], end: tuple[int, int]) -> str:
        self.holes.append(start + end)
        return "{%d}" % (len(self.holes) - 1)

    def _sequence(self, node: nodes.NodeNG) -> str | None:
        """A sequence operand rebuilt with its activations dequantized: `[a, x]`, `to_cat + [x]`."""
        if isinstance(node, nodes.BinOp) and node.op == "+":
            left, right = self._sequence(node.left), self._sequence(node.right)
            return None if left is None or right is None else f"{left} + {right}"
        if isinstance(node, (nodes.List, nodes.Tuple)):
            if any(isinstance(e, nodes.Starred) for e in node.elts):
                return None
            elts = [self.operand(e, None) for e in node.elts]
            if isinstance(node, nodes.List):
                return "[" + ", ".join(elts) + "]"
            return "(" + ", ".join(elts) + ("," if len(elts) == 1 else "") + ")"
        if id(node) in self.activations or isinstance(node, nodes.BinOp):
            return None
        return self.hole(node)

    def quantized(self, body: str) -> str:
        return f"{self.receiver}.{self._member(self.dequants)}({body})"
