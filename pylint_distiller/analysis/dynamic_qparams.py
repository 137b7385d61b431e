"""torch-eager: a tensor `a + b` or `a * b` that no FloatFunctional can hold goes through a generated helper.

timm's CoaT shares one `ConvPosEnc` between its serial blocks (`shared_cpe=self.cpe1`), so the
add in its forward, `x = self.proj(feat) + feat`, runs once per block, and so does the mul of
its shared `ConvRelPosEnc`: a FloatFunctional there would be one module run by every block (a
reused module, which `fix` never creates), and the plain operator stops eager PTQ (`aten::add` on
quantized tensors has no kernel). The same holds for every add or mul that `plans._memberless`
finds no member for: its module class or helper runs several times per pass, or the class can
take no member (an `nn.Sequential` subclass iterating itself).

There the fix calls `add_dynamic_qparams(a, b)` (`mul_dynamic_qparams(a, b)`), written once into
the file: in float (before convert), and for anything but two quantized tensors of one 8-bit
dtype, it is `a + b` (`a * b`); on two such tensors it computes on the dequantized inputs and
quantizes the result at its own range, measured on each call (`torch.quantize_per_tensor_dynamic`,
with the reduced range the x86/fbgemm default observers use). No state and no observer, so the
same float outputs and state_dict, and no module run twice. Measured on that shape
(tests/test_dynamic_qparams.py, three seeds): 27-28 dB, where one FloatFunctional shared by
the runs gives 23-25 and a static range covering every possible result 14-15. Its cost: a min/max
reduction of that tensor per call, and its qparams are per call, not fixed at convert.
"""

from __future__ import annotations

from astroid import nodes

from pylint_distiller.analysis.generated_helpers import MARKER, helper_bound
from pylint_distiller.catalogue import TORCH_EAGER
from pylint_distiller.findings import Applicability, Definition, Fix

#: op key -> (helper name, operator)
HELPERS = {"operator.add": ("add_dynamic_qparams", "+"), "operator.mul": ("mul_dynamic_qparams", "*")}


def lines(name: str, symbol: str) -> tuple[str, ...]:
    """The helper's source lines."""
    return (
        f"def {name}(a, b):",
        f'    """`a {symbol} b`; two quantized tensors are computed in float and the result quantized at its own range.',
        "",
        f"    Eager quantization has no `{symbol}` for quantized tensors, and where no FloatFunctional can hold",
        "    the op (its module runs several times per pass) no observer picks the result's range: this",
        "    measures it on each call (dynamic qparams; the reduced range of the x86/fbgemm observers).",
        f"    In float it is `a {symbol} b`.",
        "",
        f"    {MARKER}",
        '    """',
        "    import torch",
        "",
        "    if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.is_quantized and b.is_quantized",
        "            and a.dtype == b.dtype and a.dtype in (torch.quint8, torch.qint8)):",
        f"        return a {symbol} b",
        '    reduce_range = torch.backends.quantized.engine in ("x86", "fbgemm")',
        f"    return torch.quantize_per_tensor_dynamic(a.dequantize() {symbol} b.dequantize(), a.dtype, reduce_range)",
    )


def note(name: str, symbol: str) -> str:
    return (f"so it calls the generated {name}(), which is `{symbol}` in float and after convert computes on the "
            "dequantized inputs and quantizes the result at its own range, measured on each call (no observer)")


def helper_fix(target: str, site, pos, class_lines: tuple[int, ...]):
    """(helper name, note, fix) for a tensor `a + b` / `a * b` (not `+=`, which updates in place) no member
    can hold, or None."""
    node, bound = site.node, site.bound
    if target != TORCH_EAGER or site.spec.key not in HELPERS or not isinstance(node, nodes.BinOp) \
            or not class_lines or set(bound or ()) != {"input", "other"}:
        return None
    name, symbol = HELPERS[site.spec.key]
    state = helper_bound(node.root(), name)
    if state == "taken":
        return None
    holes = [pos.span(bound["input"]), pos.span(bound["other"])]
    span = pos.span(node)
    if pos.has_comment(span, holes):
        return None
    fix = Fix(
        title=f"Compute through the generated {name}() (no member can be added)",
        applicability=Applicability.SAFE,
        span=span,
        template=name + "({0}, {1})",
        holes=tuple(holes),
        class_lines=class_lines,
        definitions=() if state == "ours" else (Definition(name, lines(name, symbol)),),
    )
    return name, note(name, symbol), fix
