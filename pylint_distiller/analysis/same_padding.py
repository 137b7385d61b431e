"""torch-eager: `nn.Conv2d(..., padding="same")` has no quantized form; explicit padding does, where it is equal.

`convert` builds `torch.ao.nn.quantized.Conv2d` from the float conv, and its weight prepack
(`quantized::conv2d_prepack`) takes numeric padding only, so a "same" conv stops PTQ (FX
convert fails the same way: timm convmixer). torch computes "same" as a total padding of
`dilation * (kernel_size - 1)` per dimension, half on each side, the odd one on the right.
Where every total is even the halves are equal, and `padding=dilation * (kernel_size - 1) // 2`
runs the very same convolution (the same `F.conv2d` on the same zero-padded input; a
non-zero `padding_mode` pads both sides by that amount too). State_dict keys do not change
(padding is no parameter); only the module's `padding` attribute reads a tuple instead of
"same".

The fix writes the number where kernel size and dilation are literals, and otherwise a call
of the generated `explicit_same_padding(kernel_size, dilation, dims)`, which returns the
explicit padding where every total is even and "same" otherwise (the original value: the
model is unchanged, and still not quantizable there). Its arguments are the texts the call
already passes, read again: only names, attributes and literals, which read the same twice.
An even kernel with dilation 1 (an odd total) gets no fix: no symmetric padding is equal.
"""

from __future__ import annotations

from astroid import nodes

from pylint_distiller.analysis.generated_helpers import MARKER, helper_bound
from pylint_distiller.analysis.plans import Plan
from pylint_distiller.findings import Applicability, Definition, Fix

HELPER = "explicit_same_padding"
#: conv classes and their number of spatial dimensions
CONVS = {"torch.nn.Conv1d": 1, "torch.nn.Conv2d": 2, "torch.nn.Conv3d": 3}
_PARAMS = ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation")

LINES = (
    f"def {HELPER}(kernel_size, dilation, dims):",
    '    """The explicit padding equal to `padding="same"`, or "same" where none is (an odd total padding).',
    "",
    "    torch pads `dilation * (kernel_size - 1)` per dimension, half on each side: where every",
    "    total is even both halves are equal and this number gives the same convolution, which",
    "    eager quantization can convert (its quantized conv takes numeric padding only).",
    "",
    f"    {MARKER}",
    '    """',
    "    kernel = (kernel_size,) * dims if isinstance(kernel_size, int) else tuple(kernel_size)",
    "    dilation = (dilation,) * dims if isinstance(dilation, int) else tuple(dilation)",
    "    totals = [d * (k - 1) for k, d in zip(kernel, dilation)]",
    "    if any(total % 2 for total in totals):",
    '        return "same"',
    "    return tuple(total // 2 for total in totals)",
)

MESSAGE = ("{name}(padding=\"same\") has no quantized form in eager mode: convert's quantized conv takes numeric "
           "padding only (quantized::conv2d_prepack fails)")


def same_padding_findings(info, planner):
    """(call node, message, plan) for each "same" conv built in the class's `__init__`."""
    init = info.init()
    if init is None:
        return []
    out = []
    for call in init.nodes_of_class(nodes.Call):
        qname = planner.imports.qualify(call.func)
        keyword = next((kw for kw in call.keywords or () if kw.arg == "padding"), None)
        if qname not in CONVS or keyword is None or not (
                isinstance(keyword.value, nodes.Const) and keyword.value.value == "same"):
            continue
        name = qname.replace("torch.nn.", "nn.")
        out.append((call, MESSAGE.format(name=name), _plan(call, keyword.value, CONVS[qname], planner,
                                                            (info.node.lineno,))))
    return out


def _plan(call: nodes.Call, value: nodes.Const, dims: int, planner, class_lines: tuple[int, ...]) -> Plan:
    suggestion = "explicit symmetric padding (dilation * (kernel_size - 1) // 2 per side)"
    args = _arguments(call)
    if args is None:
        return Plan(suggestion, None, "its arguments cannot be mapped (starred or unknown keyword arguments) (manual)")
    kernel, dilation = args.get("kernel_size"), args.get("dilation")
    if kernel is None:
        return Plan(suggestion, None, "its kernel_size is not passed (manual)")
    sizes, dilations = _literal(kernel, dims), (1,) * dims if dilation is None else _literal(dilation, dims)
    span = planner.pos.span(value)
    if sizes is not None and dilations is not None:
        totals = [d * (k - 1) for k, d in zip(sizes, dilations)]
        if any(total % 2 for total in totals):
            return Plan(suggestion, None, "its total padding dilation * (kernel_size - 1) is odd, which torch pads "
                                          "one more on the right: no symmetric padding is equal (manual)")
        halves = [total // 2 for total in totals]
        text = str(halves[0]) if isinstance(kernel, nodes.Const) and len(set(halves)) == 1 else \
            "(" + ", ".join(map(str, halves)) + ("," if dims == 1 else "") + ")"
        return Plan(suggestion, Fix(title=f'Replace padding="same" with padding={text} (the same convolution)',
                                    applicability=Applicability.SAFE, span=span, template=text))
    if not all(_rereadable(n) for n in (kernel, dilation) if n is not None):
        return Plan(suggestion, None, "its kernel_size or dilation is an expression that may not read the same "
                                      "twice (manual)")
    bound = helper_bound(call.root(), HELPER)
    if bound == "taken":
        return Plan(suggestion, None, f"this file binds {HELPER} to something else (manual)")
    holes = [planner.pos.span(kernel)] + ([planner.pos.span(dilation)] if dilation is not None else [])
    template = f"{HELPER}({{0}}, {'{1}' if dilation is not None else '1'}, {dims})"
    definitions = () if bound == "ours" else (Definition(HELPER, LINES),)
    return Plan(suggestion, Fix(
        title=f'Replace padding="same" with {HELPER}(kernel_size, dilation, {dims}): the explicit padding where '
              'it is equal, else "same" as before',
        applicability=Applicability.SAFE, span=span, template=template, holes=tuple(holes),
        definitions=definitions, class_lines=class_lines))


def _arguments(call: nodes.Call) -> dict[str, nodes.NodeNG] | None:
    out: dict[str, nodes.NodeNG] = {}
    for i, arg in enumerate(call.args):
        if isinstance(arg, nodes.Starred) or i >= len(_PARAMS):
            return None
        out[_PARAMS[i]] = arg
    for kw in call.keywords or ():
        if kw.arg is None:
            if not _known_dict(kw.value):
                return None
            continue
        out[kw.arg] = kw.value
    return out


def _known_dict(node: nodes.NodeNG) -> bool:
    """`**dd` with `dd = {'device': device, 'dtype': dtype}` bound once: it passes neither size nor dilation."""
    if not isinstance(node, nodes.Name):
        return False
    bindings = node.frame().locals.get(node.name, [])
    if len(bindings) != 1 or not isinstance(bindings[0], nodes.AssignName):
        return False
    assign = bindings[0].parent
    if not isinstance(assign, nodes.Assign) or not isinstance(assign.value, nodes.Dict):
        return False
    keys = [k for k, _ in assign.value.items]
    return all(isinstance(k, nodes.Const) and k.value not in _PARAMS for k in keys)


def _literal(node: nodes.NodeNG, dims: int) -> tuple[int, ...] | None:
    if isinstance(node, nodes.Const) and isinstance(node.value, int) and not isinstance(node.value, bool):
        return (node.value,) * dims
    if isinstance(node, (nodes.Tuple, nodes.List)) and len(node.elts) == dims:
        values = [_literal(e, 1) for e in node.elts]
        return None if any(v is None for v in values) else tuple(v[0] for v in values)
    return None


def _rereadable(node: nodes.NodeNG) -> bool:
    """A name, an attribute chain of a name, a literal, or a tuple of them: reading it again gives the same value."""
    if isinstance(node, (nodes.Name, nodes.Const)):
        return True
    if isinstance(node, nodes.Attribute):
        return _rereadable(node.expr)
    if isinstance(node, (nodes.Tuple, nodes.List)):
        return all(_rereadable(e) for e in node.elts)
    return False
