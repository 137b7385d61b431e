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
    conv, norm, sequential, identity = (spell(f"torch.nn.{n}") for n in ("Conv2d", "BatchNorm2d", "Sequential",
                                                                         "Identity"))
    torch = spell("torch")
    table = [f"        (({', '.join(spell(t) for t in c.types)}{',' if len(c.types) == 1 else ''}), {c.qat}),"
             for c in LONGEST_FIRST]
    lines = (
        f"def {HELPER}(module, names, is_qat=False):",
        '    """Fuse each run of the children `names` of `module` whose exact types fuse_modules fuses.',
        "",
        "    The children run one after the other, each output going only into the next (an",
        "    nn.Sequential's children, or members a forward chains), and their types show only at run",
        "    time (a factory, a layer passed in, `add_module`). Runs match longest first, left to right;",
        "    any other run is left as it is; an nn.Identity in a run (timm's `drop_block` between bn and",
        "    act) passes its input on unchanged, so it does not break the run, and an nn.Sequential in",
        "    a run (timm resnest's deep stem before `bn1`) adds its children to it. Fusion keeps the",
        "    float outputs.",
        "",
        "    For PTQ (eval mode), a BatchNorm2d subclass with a forward of its own that follows a conv",
        "    (timm's BatchNormAct2d: norm, then its drop and act children) is replaced by its plain",
        "    layers, an nn.Sequential of a BatchNorm2d sharing its tensors and its other children, when a",
        "    fixed probe gives the same output; conv+bn(+relu) then fuses. Otherwise it is left as it is.",
        "",
        f"    {MARKER}",
        '    """',
        "    chains = (  # (types, QAT fusion supports it)",
        *table,
        "    )",
        f"    fuse = {fuse_qat} if is_qat else {fuse}",
        "    names = list(names)",
        "",
        "    def child(name):  # a direct child, or one of a norm's plain layers (`bn.0`)",
        '        parent, _, last = name.rpartition(".")',
        "        return (module.get_submodule(parent) if parent else module)._modules.get(last)",
        "",
        "",
        "    def expand(name):  # an nn.Sequential runs its children in a row: they join the run",
        "        part = child(name)",
        f"        if type(part) is not {sequential}:  # exactly: a subclass may run another forward",
        "            return [name]",
        '        return [inner for key in part._modules for inner in expand(f"{name}.{key}")]',
        "",
        "    names = [inner for name in names for inner in expand(name)]",
        f"    names = [name for name in names if type(child(name)) is not {identity}]  # a no-op in every mode",
        "    i = 1",
        "    while i < len(names) and not is_qat:",
        "        bn, kind = child(names[i]), type(child(names[i]))",
        f"        if type(child(names[i - 1])) is {conv} and isinstance(bn, {norm}) and kind is not {norm} \\",
        '                and not kind.__module__.startswith("torch.") and not bn.training \\',
        "                and bn.running_mean is not None:",
        f"            plain = {norm}(bn.num_features, bn.eps, bn.momentum, bn.affine)",
        "            plain.running_mean, plain.running_var = bn.running_mean, bn.running_var",
        "            if bn.affine:",
        "                plain.weight, plain.bias = bn.weight, bn.bias",
        f"            layers = {sequential}(plain.eval(), *(m for m in bn.children() if type(m) is not {identity}))",
        f"            probe = {torch}.randn(2, bn.num_features, 3, 3, generator={torch}.Generator().manual_seed(0))",
        "            probe = probe.to(bn.running_mean)  # its dtype and device",
        f"            with {torch}.no_grad():",
        "                try:",
        f"                    same = {torch}.allclose(bn(probe), layers(probe), rtol=1e-4, atol=1e-5)",
        "                except (RuntimeError, TypeError, ValueError):  # not a norm of this shape: left as it is",
        "                    same = False",
        "            if same:",
        "                setattr(module, names[i], layers)",
        '                names[i:i + 1] = [f"{names[i]}.{j}" for j in range(len(layers))]',
        "        i += 1",
        "    i = 0",
        "    while i < len(names):",
        f"        kinds = tuple(type(child(name)) for name in names[i:i + {len(LONGEST_FIRST[0].types)}])",
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


def children_lines(helper: str, ends: str | None, qat_param: str | None) -> list[str]:
    """The class's own children, run in a row by its forward, fused by type; a child named in
    `ends` (its output is also read) closes a run (`own_children_loop`)."""
    qat = qat_param or "False"
    if ends is None:
        return [f"{helper}(self, self._modules, {qat})  # the children forward runs in a row"]
    return ["run = []  # the children forward runs in a row; one whose output it also reads ends a run",
            "for child in self._modules:",
            "    run.append(child)",
            f"    if child in {ends}:",
            f"        {helper}(self, run, {qat})",
            "        run = []",
            f"{helper}(self, run, {qat})"]
