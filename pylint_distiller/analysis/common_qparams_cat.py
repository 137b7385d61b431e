"""torch-eager: a `torch.cat` that no FloatFunctional can hold goes through a generated helper.

A quantized `torch.cat` (what runs when the call is left as it is) gives its output the
FIRST input's scale and zero point and requantizes the others into that range, clipping
every value beyond it (torch warns: "All inputs of this cat operator must share the same
quantization parameters"). DenseNet's block, `torch.cat([init_features, *new_features])`,
loses most of its later features that way (timm densenet121: -4 dB SQNR, FX 11.5). The fix
is a `FloatFunctional().cat`, whose observer picks the output's range, but some classes take
no member: an `nn.ModuleDict`/`nn.Sequential` subclass whose forward iterates itself (torchvision's
and timm's DenseBlock, timm's vovnet OSA block, MixedConv2d) would run a new member as one of
its items.

There the fix calls `cat_common_qparams(tensors, dim)`, written once into the file: in float
(before convert) it is `torch.cat`; on quantized inputs with different qparams it dequantizes
them, concatenates, and quantizes the result at one scale and zero point that covers the
union of the inputs' representable ranges at their own bit width. No state, no observer, so
the same float outputs and state_dict; inputs that share their qparams keep them exactly.
"""

from __future__ import annotations

from pylint_distiller.analysis.generated_helpers import MARKER, helper_bound
from pylint_distiller.catalogue import TORCH_EAGER
from pylint_distiller.findings import Applicability, Definition, Fix

HELPER = "cat_common_qparams"
#: the ops the helper stands for (`torch.concat`, `torch.concatenate` are aliases of `torch.cat`)
CAT_KEYS = frozenset(("torch.cat", "torch.concat", "torch.concatenate"))

LINES = (
    f"def {HELPER}(tensors, dim=0):",
    '    """`torch.cat(tensors, dim)`; quantized inputs with different scales first get one scale and zero point.',
    "",
    "    A quantized torch.cat keeps the FIRST input's scale and zero point and clips the other inputs",
    "    to its range. Where no FloatFunctional can hold the cat, this picks the output's qparams: the",
    "    union of the inputs' representable ranges. In float, and where the inputs share their qparams,",
    "    it is torch.cat.",
    "",
    f"    {MARKER}",
    '    """',
    "    import torch",
    "",
    "    tensors = list(tensors)",
    "    if not tensors or not all(t.is_quantized and t.qscheme() == torch.per_tensor_affine for t in tensors):",
    "        return torch.cat(tensors, dim)",
    "    dtype = tensors[0].dtype",
    "    qparams = {(t.dtype, t.q_scale(), t.q_zero_point()) for t in tensors}",
    "    if len(qparams) == 1 or any(t.dtype != dtype for t in tensors):",
    "        return torch.cat(tensors, dim)",
    "    info = torch.iinfo(dtype)",
    "    low = min(0.0, *((info.min - zero_point) * scale for _, scale, zero_point in qparams))",
    "    high = max(0.0, *((info.max - zero_point) * scale for _, scale, zero_point in qparams))",
    "    scale = (high - low) / (info.max - info.min)",
    "    zero_point = min(info.max, max(info.min, info.min - round(low / scale)))",
    "    return torch.quantize_per_tensor(torch.cat([t.dequantize() for t in tensors], dim), scale, zero_point, dtype)",
)

NOTE = (f"so it calls the generated {HELPER}(), which is torch.cat in float and after convert gives the "
        "output one scale and zero point covering every input's range (a quantized torch.cat keeps the first "
        "input's and clips the others)")


def helper_fix(target: str, site, pos, class_lines: tuple[int, ...]) -> Fix | None:
    """The helper fix of a cat site that no member can hold, or None.

    Only for torch-eager, for `torch.cat(tensors[, dim])` with exactly those arguments, in a
    file where the helper's name is free or already the generated helper.
    """
    bound = site.bound
    if target != TORCH_EAGER or site.spec.key not in CAT_KEYS or not bound or not class_lines \
            or set(bound) - {"tensors", "dim"} or "tensors" not in bound:
        return None
    root = site.node.root()
    state = helper_bound(root, HELPER)
    if state == "taken":
        return None
    holes = [pos.span(bound["tensors"])]
    template = HELPER + "({0}"
    if "dim" in bound:
        holes.append(pos.span(bound["dim"]))
        template += ", dim={1}"
    template += ")"
    span = pos.span(site.node)
    if pos.has_comment(span, holes):
        return None
    return Fix(
        title=f"Concatenate through the generated {HELPER}() (no member can be added)",
        applicability=Applicability.SAFE,
        span=span,
        template=template,
        holes=tuple(holes),
        class_lines=class_lines,
        definitions=() if state == "ours" else (Definition(HELPER, LINES),),
    )
