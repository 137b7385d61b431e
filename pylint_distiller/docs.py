"""Rule pages, generated from the catalogue: ``docs/rules/<symbol>.md``.

Every page is data from `catalogue.RULES` and `catalogue.OPS`, plus what the
analysis and the rewrite engine actually do with the rule's example for each
target (the message, the fix and the prepared code), so a page cannot say
something the tool does not do. ``pylint-distiller rules --write-docs docs/rules``
regenerates them; tests/test_rule_docs.py fails when the checked-in pages differ.
"""

from __future__ import annotations

import os
from pathlib import Path

from pylint_distiller.catalogue import (
    DISTILLER,
    NATIVE,
    OPS,
    RULES,
    TARGETS,
    TORCH_EAGER,
    UNQUANTIZABLE,
    OpSpec,
    Replacement,
    Rule,
)
from pylint_distiller.findings import Applicability

#: the imports every rule example is analysed with (and shown with)
EXAMPLE_HEADER = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n"
GENERATED_NOTE = ("<!-- Generated from pylint_distiller/catalogue/ by "
                  "`pylint-distiller rules --write-docs docs/rules`. Do not edit by hand. -->")
INDEX_NAME = "README.md"

_TARGET_NAMES = {
    DISTILLER: "Distiller (`distiller.modules`)",
    TORCH_EAGER: "PyTorch eager mode (`torch.ao.nn.quantized.FloatFunctional`, `torch.ao.nn.quantizable`)",
}
_CATEGORIES = {"C": "convention", "R": "refactor", "W": "warning", "E": "error", "F": "fatal", "I": "info"}


def example_source(rule: Rule) -> str:
    """The rule's `bad` example as a complete module (the imports it needs)."""
    return f"{EXAMPLE_HEADER}\n\n{rule.bad}"


def prepared_source(rule: Rule) -> str | None:
    """The rule's `good` example as the complete module `pylint-distiller fix` produces."""
    if rule.good is None:
        return None
    header = EXAMPLE_HEADER + ("import distiller.modules\n" if "distiller.modules." in rule.good else "")
    return f"{header}\n\n{rule.good}"


def _settings(target: str):
    from pylint_distiller.settings import Settings

    return Settings(target=target)


def _example_findings(rule: Rule, target: str):
    from pylint_distiller.api import analyze_source

    return [f for f in analyze_source(example_source(rule), "example.py", _settings(target))
            if f.symbol == rule.symbol]


def _fixed_example(rule: Rule, target: str, unsafe: bool) -> str:
    from pylint_distiller.fixer.engine import fix_source

    return fix_source(example_source(rule), "example.py", _settings(target), unsafe=unsafe).text


# ------------------------------------------------------------------ pieces
def _code(text: str) -> str:
    """Inline code that survives backticks and pipes in the text."""
    text = text.replace("|", "\\|")
    fence = "``" if "`" in text else "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _short(module: str) -> str:
    """`torch.nn.ReLU` -> `nn.ReLU`, `torch.ao.nn.quantized.FloatFunctional` -> `FloatFunctional`."""
    if module.startswith("torch.nn."):
        return "nn." + module[len("torch.nn."):]
    if module.startswith("torch.ao.nn.quantized."):
        return module[len("torch.ao.nn.quantized."):]
    return module


def _replacement_cell(spec: OpSpec, target: str) -> str:
    rep = spec.replacement(target)
    if rep == NATIVE:
        return "not reported (supported as is)"
    if not isinstance(rep, Replacement):
        return "reported, no fix"
    cell = _short(rep.module)
    if rep.ctor_fixed:
        cell += "(" + ", ".join(f"{k}={v}" for k, v in rep.ctor_fixed) + ")"
    if rep.method:
        cell += f".{rep.method}"
    cell = _code(cell)
    if rep.scalar_method:
        cell += f" ({_code('.' + rep.scalar_method)} with a number)"
    if rep.applicability is not Applicability.SAFE:
        cell += f" ({rep.applicability.value})"
    if rep.note:
        cell += f": {rep.note}"
    return cell


def _ops_section(rule: Rule) -> list[str]:
    specs = [s for s in OPS.values() if s.rule == rule.symbol]
    if not specs:
        return []
    mapped = [s for s in specs if any(isinstance(s.replacement(t), Replacement) for t in TARGETS)]
    weighted = [s for s in specs if s.weighted and s not in mapped]
    unmapped = [s for s in specs if s not in mapped and s not in weighted]
    out = ["### Ops it reports", ""]
    if mapped:
        out += ["Ops with a module replacement, per target (the fix uses it when the call's arguments "
                "map onto the module exactly):", "",
                "| Op | distiller | torch-eager |", "|---|---|---|"]
        for spec in mapped:
            name = _code(spec.shown) + (" (data movement)" if spec.data_movement else "")
            out.append(f"| {name} | {_replacement_cell(spec, DISTILLER)} | "
                       f"{_replacement_cell(spec, TORCH_EAGER)} |")
        out.append("")
    compute = [s for s in unmapped if not s.data_movement]
    movement = [s for s in unmapped if s.data_movement]
    if compute:
        out += ["Reported with no fix (neither target has a module for them): "
                + ", ".join(_code(s.shown) for s in compute) + ".", ""]
    if weighted:
        out += ["Reported with no fix, a manual change (they take explicit weights, so a module must own "
                "them): " + ", ".join(_code(s.shown) for s in weighted) + ".", ""]
    if movement:
        out += ["Data movement, reported only with `distiller-flag-data-movement`, no fix: "
                + ", ".join(_code(s.shown) for s in movement) + ".", ""]
    if any(s.data_movement for s in mapped):
        out += ["Ops marked *data movement* are reported only with `distiller-flag-data-movement`.", ""]
    return out


def _unquantizable_section() -> list[str]:
    out = ["### Modules it reports", "", "| Module | distiller | torch-eager |", "|---|---|---|"]
    for module, variant in UNQUANTIZABLE.items():
        cells = [_code(v) if v else "reported, no fix" for v in (variant.distiller, variant.eager)]
        out.append(f"| {_code(_short(module))} | {cells[0]} | {cells[1]} |")
    return out + [""]


def _target_section(rule: Rule) -> list[str]:
    out = ["### Per target", ""]
    for target in TARGETS:
        findings = _example_findings(rule, target)
        out.append(f"**{target}**: {_TARGET_NAMES[target]}.")
        out.append("")
        if not findings:
            out += ["The example below is not reported for this target.", ""]
            continue
        for finding in findings:
            out.append(f"- Message on the example: {_code(f'{finding.msgid} {finding.message}')}")
            fix = finding.fix
            if fix is None:
                out.append("- Fix: none (a manual change).")
            elif fix.applicability is Applicability.MANUAL or not fix.applies:
                out.append(f"- Fix: manual: {_code(fix.title)}")
            else:
                flag = "" if fix.applicability is Applicability.SAFE else " (`--unsafe-fixes`)"
                out.append(f"- Fix: **{fix.applicability.value}**{flag}: {_code(fix.title)}")
        out.append("")
    return out


def _prepared_section(rule: Rule) -> list[str]:
    out: list[str] = []
    original = example_source(rule)
    good = prepared_source(rule)
    shown: dict[str, str] = {}  # prepared text -> the target it was shown for
    if good is not None:
        out += ["## Prepared (distiller)", "",
                "What `pylint-distiller fix` writes for the example:", "",
                "```python", good.rstrip("\n"), "```", ""]
        shown[good] = DISTILLER
    for target in TARGETS:
        if target == DISTILLER and good is not None:
            continue
        findings = _example_findings(rule, target)
        fixable = [f for f in findings if f.fix is not None and f.fix.applies]
        if not fixable:
            continue
        unsafe = any(f.fix.applicability is Applicability.UNSAFE for f in fixable)
        fixed = _fixed_example(rule, target, unsafe)
        if fixed == original:
            continue
        command = "pylint-distiller fix" + (" --unsafe-fixes" if unsafe else "")
        if target != DISTILLER:
            command += f" --target {target}"
        if fixed in shown:
            out += [f"For {target}, `{command}` writes the same as for {shown[fixed]}.", ""]
            continue
        shown[fixed] = target
        out += [f"## Prepared ({target})", "", f"What `{command}` writes for the example:", "",
                "```python", fixed.rstrip("\n"), "```", ""]
    return out


def _options_section(rule: Rule) -> list[str]:
    from pylint_distiller.checker import DistillerChecker

    helps = {name: spec.get("help", "") for name, spec in DistillerChecker.options}
    defaults = {name: spec.get("default") for name, spec in DistillerChecker.options}
    options = list(rule.options)
    if "distiller-module-bases" not in options:
        options.append("distiller-module-bases")
    out = ["## Options", ""]
    for name in options:
        out.append(f"- `{name}`: {helps.get(name, '').strip()}")
    out += ["", "Set them in `pyproject.toml` (read by pylint, `pylint-distiller` and the language server):",
            "", "```toml", "[tool.pylint.distiller]"]
    for name in options:
        out.append(f"{name} = {_toml(defaults.get(name))}  # the default")
    out += ["```", ""]
    return out


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return str(value)


# -------------------------------------------------------------------- pages
def render_rule_page(rule: Rule) -> str:
    """The Markdown page of one rule."""
    category = _CATEGORIES.get(rule.category, rule.category)
    lines = [
        GENERATED_NOTE,
        "",
        f"# {rule.symbol} ({rule.msgid})",
        "",
        f"Message `{rule.msgid}` / `{rule.symbol}`, a {category} of the `distiller` checker "
        "(`pylint --load-plugins=pylint_distiller`).",
        "",
        "## What it flags",
        "",
        rule.summary,
        "",
    ]
    lines += _ops_section(rule)
    if rule.symbol == "unquantizable-module":
        lines += _unquantizable_section()
    lines += ["## Why it matters for the quantizer", "", rule.why, ""]
    lines += _target_section(rule)
    lines += ["## Example", "", "```python", example_source(rule).rstrip("\n"), "```", ""]
    lines += _prepared_section(rule)
    lines += ["## Fix safety", "", rule.fix_safety, ""]
    lines += _options_section(rule)
    silence = (f"On one line: `# pylint: disable={rule.symbol}` (the language server's "
               f"\"Disable {rule.symbol} for this line\" action writes it).")
    if "distiller-ignore-ops" in rule.options:
        silence += " For an op you never want reported, use `distiller-ignore-ops`."
    lines += ["## Silencing it", "", silence, ""]
    return "\n".join(lines)


def render_index() -> str:
    lines = [GENERATED_NOTE, "", "# Rules", "",
             "Every message of the `distiller` checker; fixes are applied by `pylint-distiller fix` "
             "and offered as quick fixes by `pylint-distiller lsp`.", "",
             "| Message | Symbol | What it flags |", "|---|---|---|"]
    for rule in RULES.values():
        summary = rule.summary.replace("|", "\\|")
        lines.append(f"| {rule.msgid} | [{rule.symbol}]({rule.symbol}.md) | {summary} |")
    return "\n".join(lines) + "\n"


def rule_pages() -> dict[str, str]:
    """File name -> content of every generated page (the rule pages and the index)."""
    pages = {f"{rule.symbol}.md": render_rule_page(rule) for rule in RULES.values()}
    pages[INDEX_NAME] = render_index()
    return pages


def write_rule_pages(directory: str | os.PathLike) -> list[str]:
    """Write every page into `directory` (created if needed); returns the paths written."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in rule_pages().items():
        path = folder / name
        with open(path, "w", encoding="utf-8", newline="\n") as stream:
            stream.write(content)
        written.append(str(path))
    return written
