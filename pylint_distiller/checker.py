"""The pylint checker: one checker named `distiller`, messages from the catalogue.

The checker owns no logic of its own: it runs the shared analysis on the module
pylint already parsed and reports each `Finding` at its exact expression span,
so `--disable=all --enable=distiller` gives precisely this plugin's messages and
editors underline the op itself. Fixes travel out of band (pylint messages have
no fix field): `pylint-distiller fix` and the language server run the same
analysis.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from astroid import nodes
from pylint.checkers import BaseChecker
from pylint.interfaces import HIGH, INFERENCE

from pylint_distiller.analysis import analyze_module
from pylint_distiller.catalogue import RULES, TARGETS
from pylint_distiller.findings import Confidence
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
    )

    def open(self) -> None:
        cfg = self.linter.config
        self._settings = Settings(
            target=cfg.distiller_target,
            module_bases=tuple(cfg.distiller_module_bases),
            ignore_ops=tuple(cfg.distiller_ignore_ops),
            flag_data_movement=cfg.distiller_flag_data_movement,
            report_stateless_reuse=cfg.distiller_report_stateless_reuse,
        )

    def visit_module(self, node: nodes.Module) -> None:
        for finding in analyze_module(node, self._settings):
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


def register(linter: PyLinter) -> None:
    linter.register_checker(DistillerChecker(linter))
