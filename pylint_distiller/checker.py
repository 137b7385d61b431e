"""The pylint checker: one checker named `distiller`, messages from the catalogue.

The checker owns no logic of its own: it runs the shared analysis on the module
pylint already parsed and reports each `Finding` at its exact expression span,
so `--disable=all --enable=distiller` gives precisely this plugin's messages and
editors underline the op itself. Fixes travel out of band (pylint messages have
no fix field): `pylint-distiller fix` and the language server run the same
analysis.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from astroid import nodes
from pylint.checkers import BaseChecker
from pylint.interfaces import HIGH, INFERENCE

from pylint_distiller.analysis import analyze_in_project, analyze_module
from pylint_distiller.analysis.project import shared_project
from pylint_distiller.catalogue import RULES, TARGETS
from pylint_distiller.findings import Confidence
from pylint_distiller.scope import DEFAULT_EXCLUDE
from pylint_distiller.settings import Settings

if TYPE_CHECKING:
    from pylint.lint import PyLinter

_CONFIDENCE = {Confidence.HIGH: HIGH, Confidence.INFERENCE: INFERENCE}


class DistillerChecker(BaseChecker):
    """Flags PyTorch model code that module-level quantizers cannot see."""

    name = "distiller"
    msgs = {
        rule.msgid: (
            rule.template,
            rule.symbol,
            f"{rule.summary} {rule.why} Fix safety: {rule.fix_safety} See {rule.url}",
        )
        for rule in RULES.values()
    }
    options = (
        (
            "distiller-target",
            {
                "default": "distiller",
                "type": "choice",
                "choices": list(TARGETS),
                "metavar": "<target>",
                "help": "Quantizer the code is prepared for: 'distiller' (distiller.modules) or "
                "'torch-eager' (FloatFunctional, torch.ao.nn.quantizable).",
            },
        ),
        (
            "distiller-module-bases",
            {
                "default": (),
                "type": "csv",
                "metavar": "<names>",
                "help": "Extra base classes (simple or qualified names) whose subclasses are nn.Modules.",
            },
        ),
        (
            "distiller-ignore-ops",
            {
                "default": (),
                "type": "csv",
                "metavar": "<ops>",
                "help": "Ops never to report, by catalogue key or display name "
                "(e.g. 'torch.mean,F.dropout,+').",
            },
        ),
        (
            "distiller-flag-data-movement",
            {
                "default": False,
                "type": "yn",
                "metavar": "<y or n>",
                "help": "Also report data-movement ops (view, reshape, permute, flatten, chunk...).",
            },
        ),
        (
            "distiller-report-stateless-reuse",
            {
                "default": True,
                "type": "yn",
                "metavar": "<y or n>",
                "help": "Report reuse of modules that carry no quantization state (Identity, Dropout).",
            },
        ),
        (
            "distiller-select",
            {
                "default": (),
                "type": "csv",
                "metavar": "<rules>",
                "help": "Report only these rules: symbols (reused-module), ids (W5701) or id prefixes (W57); "
                "default: all. Narrows what --enable/--disable allow, never widens it.",
            },
        ),
        (
            "distiller-ignore",
            {
                "default": (),
                "type": "csv",
                "metavar": "<rules>",
                "help": "Never report these rules (symbols, ids or id prefixes); the more specific of "
                "--distiller-select and --distiller-ignore wins, --distiller-ignore on a tie.",
            },
        ),
        (
            "distiller-exclude",
            {
                "default": DEFAULT_EXCLUDE,
                "type": "csv",
                "metavar": "<patterns>",
                "help": "gitignore-style patterns of files `pylint-distiller check|fix` and its language server "
                "skip. pylint itself does not read them: use --ignore-paths / --ignore-patterns.",
            },
        ),
        (
            "distiller-extend-exclude",
            {
                "default": (),
                "type": "csv",
                "metavar": "<patterns>",
                "help": "Patterns added to --distiller-exclude (for pylint-distiller check|fix and the language "
                "server; pylint itself does not read them).",
            },
        ),
        (
            "distiller-respect-gitignore",
            {
                "default": True,
                "type": "yn",
                "metavar": "<y or n>",
                "help": "Whether pylint-distiller check|fix and its language server skip files .gitignore "
                "ignores (pylint itself does not read .gitignore).",
            },
        ),
    )

    def open(self) -> None:
        cfg = self.linter.config
        try:
            self._settings = Settings(
                target=cfg.distiller_target,
                module_bases=tuple(cfg.distiller_module_bases),
                ignore_ops=tuple(cfg.distiller_ignore_ops),
                flag_data_movement=cfg.distiller_flag_data_movement,
                report_stateless_reuse=cfg.distiller_report_stateless_reuse,
                select=tuple(cfg.distiller_select),
                ignore=tuple(cfg.distiller_ignore),
            )
        except ValueError as exc:  # an unknown rule selector: a usage error, as for a bad --distiller-target
            self.linter._arg_parser.error(str(exc))  # pylint: disable=protected-access

    def visit_module(self, node: nodes.Module) -> None:
        findings = self._in_project(node)
        if findings is None:
            findings = analyze_module(node, self._settings)
        for finding in findings:
            self.add_message(
                finding.symbol,
                node=finding.node,
                line=finding.line,
                args=finding.args,
                confidence=_CONFIDENCE[finding.confidence],
                col_offset=finding.col,
                end_lineno=finding.end_line,
                end_col_offset=finding.end_col,
            )


    def _in_project(self, node: nodes.Module):
        """Findings of `node` with the project around it (its package), or None to analyse it alone.

        The project parses its files itself, the same way in every process, so
        `-j 2` gives what `-j 1` does; findings are mapped back onto pylint's tree.
        """
        if not node.file or not node.file.endswith(".py"):
            return None
        try:
            with node.stream() as stream:
                text = stream.read().decode("utf-8")
        except (OSError, UnicodeDecodeError):
            return None
        project = shared_project(node.file, self._settings)
        entry = project.entry(node.file)
        if entry is None or entry.text != text:
            project.set_text(node.file, text)  # an unsaved buffer (--from-stdin)
        if project.module(node.file) is None:
            return None
        findings = analyze_in_project(project, node.file, self._settings)
        if not findings:
            return findings
        by_span = {}
        for child in node.nodes_of_class(nodes.NodeNG):
            by_span.setdefault((type(child), child.lineno, child.col_offset, child.end_lineno,
                                child.end_col_offset), child)
        out = []
        for finding in findings:
            own = finding.node
            key = (type(own), own.lineno, own.col_offset, own.end_lineno, own.end_col_offset)
            out.append(replace(finding, node=by_span.get(key, node)))
        return out


def register(linter: PyLinter) -> None:
    linter.register_checker(DistillerChecker(linter))
