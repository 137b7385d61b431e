"""Fusion decided by run-time type: the generated `fuse_by_type()` and where `fuse_model()` calls it.

Static fusion (`fusion.py`) lists a chain only where the source shows every member's class.
Real models choose most of them at run time: timm's hgnet builds `self.conv = create_conv2d(...)`
and `self.act = nn.ReLU() if use_act else nn.Identity()`, starnet's and repvit's `ConvBN` are
nn.Sequential subclasses filled by `self.add_module("conv", ...)`, hrnet's and repghost's
Sequentials hold what `norm_layer(...)` builds. Left unfused, each BatchNorm is its own quantized
op with its own requantization (hgnet: 6.1 dB, fused 10.8 dB; FX 9.3).

So the generated `fuse_model()` calls a generated module-level `fuse_by_type(module, names,
is_qat)` for

* the members a forward chains through data flow (each output read once, by the next member)
  when some member's class shows only at run time (`FusionAnalysis` finds them: `Chain.by_type`);
* every nn.Sequential its walk reaches whose forward is nn.Sequential's own (its children run one
  after the other, each output going only into the next), whatever built it.

`fuse_by_type` fuses each run of those children whose EXACT types are a chain of the catalogue's
table (the types `fuse_modules` itself requires), longest first, left to right, and leaves every
other run as it is: a ReLU6 after conv+bn leaves conv+bn fused, a `Conv2dSame` is never fused.
Fusion folds the BatchNorm into the conv and turns the later members into `nn.Identity`, so the
float outputs stay (`fuse_model()` runs after the checkpoint is loaded, as torchvision's does).
"""

from __future__ import annotations

from astroid import nodes

from pylint_distiller.analysis.generated_helpers import MARKER, helper_bound
from pylint_distiller.catalogue import FUSABLE_CHAINS, FUSE_FUNCTIONS
from pylint_distiller.findings import Definition

HELPER = "fuse_by_type"
_SEQUENTIAL = "torch.nn.Sequential"
#: the table's chains, longest first: a run is matched against the longest chain it can form
LONGEST_FIRST = sorted(FUSABLE_CHAINS, key=lambda c: -len(c.types))


def helper_name(module: nodes.Module) -> str | None:
    """The helper's name where this file may use it (None: the name means something else here)."""
    return None if helper_bound(module, HELPER) == "taken" else HELPER


def definition(module: nodes.Module, render) -> tuple[tuple[Definition, ...], tuple[str, ...]]:
    """The `fuse_by_type` function (and the imports it needs) for a file that does not define it yet."""
    if helper_bound(module, HELPER) != "free":
        return (), ()
    imports: list[str] = []

    def spell(qname: str) -> str:
        text, more = render(qname)
        imports.extend(more)
        return text

    fuse, fuse_qat = spell(FUSE_FUNCTIONS[0]), spell(FUSE_FUNCTIONS[1])
    table = [f"        (({', '.join(spell(t) for t in c.types)}{',' if len(c.types) == 1 else ''}), {c.qat}),"
             for c in LONGEST_FIRST]
    lines = (
        f"def {HELPER}(module, names, is_qat=False):",
        '    """Fuse each run of the children `names` of `module` whose exact types fuse_modules fuses.',
        "",
        "    The children run one after the other, each output going only into the next (an",
        "    nn.Sequential's children, or members a forward chains), and their types show only at run",
        "    time (a factory, a layer passed in, `add_module`). Runs match longest first, left to right;",
        "    any other run is left as it is. Fusion keeps the float outputs.",
        "",
        f"    {MARKER}",
        '    """',
        "    chains = (  # (types, QAT fusion supports it)",
        *table,
        "    )",
        f"    fuse = {fuse_qat} if is_qat else {fuse}",
        "    names = list(names)",
        "    i = 0",
        "    while i < len(names):",
        f"        kinds = tuple(type(module._modules.get(name)) for name in names[i:i + {len(LONGEST_FIRST[0].types)}])",
        "        for types, qat in chains:",
        "            if kinds[:len(types)] == types and (qat or not is_qat):",
        "                fuse(module, [names[i:i + len(types)]], inplace=True)",
        "                i += len(types) - 1",
        "                break",
        "        i += 1",
    )
    return (Definition(HELPER, lines),), tuple(dict.fromkeys(imports))


def sequential_scan_lines(helper: str, render) -> tuple[list[str], tuple[str, ...]]:
    """The walk's lines (indented for its loop) that fuse a reached nn.Sequential's children by type.

    torch's fused modules (`ConvReLU2d`) are Sequentials too: fusing their children again would nest
    them without end, so modules of `torch.ao` are skipped."""
    seq, imports = render(_SEQUENTIAL)
    return [f"            if type(module).forward is {seq}.forward \\",
            '                    and not type(module).__module__.startswith("torch.ao."):  # not fused already',
            f"                {helper}(module, module._modules, is_qat)  # children in a row: fuse by exact type"], imports


def call_line(helper: str, names: tuple[str, ...], qat_param: str | None, optional: tuple[str, ...] = ()) -> str:
    """`fuse_by_type(self, ["conv", "bn", "act"], is_qat)`: one forward chain fused by run-time type
    (`optional`: the chain has members that may be None, and only the present ones run, in order)."""
    listed = ", ".join(f'"{n}"' for n in names)
    if optional:
        return f"{helper}(self, [n for n in [{listed}] if self._modules.get(n) is not None], {qat_param or 'False'})"
    return f"{helper}(self, [{listed}], {qat_param or 'False'})"
