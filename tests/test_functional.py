"""pylint's own functional tests for every message of the plugin.

Each `tests/functional/<symbol>.py` (dashes as underscores, pylint's convention) carries `# [symbol]` annotations on the lines
that must be reported, and `<name>.txt` the exact messages (symbol, line, column,
end line, end column, object, text, confidence), as pylint's own test suite and
pylint-django do. `options_*.py` files come with a `.rc` file holding the plugin
options they exercise.

To regenerate the expected `.txt` files after a deliberate change (then review
them by eye, they are the specification):

    DISTILLER_UPDATE_FUNCTIONAL=1 .venv/bin/python -m pytest tests/test_functional.py
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pylint.testutils.functional import FunctionalTestFile, LintModuleOutputUpdate
from pylint.testutils.lint_module_test import LintModuleTest

FUNCTIONAL_DIR = Path(__file__).parent / "functional"
UPDATE = os.environ.get("DISTILLER_UPDATE_FUNCTIONAL") == "1"

TESTS = sorted(
    (FunctionalTestFile(str(FUNCTIONAL_DIR), name) for name in os.listdir(FUNCTIONAL_DIR) if name.endswith(".py")),
    key=lambda t: t.base,
)


class _DistillerMixin:
    """Loads the plugin and reports only its messages (as `--disable=all --enable=distiller`)."""

    def __init__(self, test_file: FunctionalTestFile, config=None) -> None:
        super().__init__(test_file, config)  # type: ignore[call-arg]
        linter = self._linter  # type: ignore[attr-defined]
        linter.load_plugin_modules(["pylint_distiller"])
        linter.load_plugin_configuration()
        linter.disable("all")
        linter.enable("distiller")


class DistillerLintModuleTest(_DistillerMixin, LintModuleTest):
    pass


class DistillerLintModuleOutputUpdate(_DistillerMixin, LintModuleOutputUpdate):
    pass


def test_every_message_has_a_functional_test():
    from pylint_distiller.catalogue import RULES

    names = {t.base for t in TESTS}
    wanted = {symbol.replace("-", "_") for symbol in RULES}
    assert wanted <= names, sorted(wanted - names)
    for test in TESTS:
        assert Path(test.expected_output).is_file() or test.base.startswith("options_"), test.base


@pytest.mark.parametrize("test_file", TESTS, ids=[t.base for t in TESTS])
def test_functional(test_file: FunctionalTestFile) -> None:
    __tracebackhide__ = True  # pylint: disable=unused-variable
    cls = DistillerLintModuleOutputUpdate if UPDATE else DistillerLintModuleTest
    # no pytest config: pylint's own `--minimal-messages-config` option is not registered here
    lint_test = cls(test_file, None)
    lint_test.setUp()
    lint_test.runTest()
