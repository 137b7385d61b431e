"""The rule pages are generated, checked in, and true.

* docs/rules/ holds exactly the pages `pylint_distiller.docs` generates, byte for
  byte: a catalogue, analysis or fixer change that alters a page fails here until
  `pylint-distiller rules --write-docs docs/rules` is run again.
* Every rule's `bad` example raises exactly that message, its `good` example
  raises nothing, and `fix` turns `bad` into `good` (plus the imports it adds).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pylint_distiller.api import analyze_source
from pylint_distiller.catalogue import RULES, TARGETS
from pylint_distiller.cli import main as cli_main
from pylint_distiller.docs import (
    EXAMPLE_HEADER,
    example_source,
    prepared_source,
    render_rule_page,
    rule_pages,
    write_rule_pages,
)
from pylint_distiller.fixer.engine import fix_source
from pylint_distiller.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
RULES_DIR = ROOT / "docs" / "rules"
REGENERATE = "run `pylint-distiller rules --write-docs docs/rules` and commit the result"
IMPORTS = EXAMPLE_HEADER + "import distiller.modules\n"

ALL = sorted(RULES)
WITH_GOOD = sorted(s for s, r in RULES.items() if r.good is not None)


# ------------------------------------------------------------ pages do not rot
def test_checked_in_pages_are_exactly_the_generated_ones():
    expected = rule_pages()
    present = {p.name for p in RULES_DIR.glob("*.md")}
    assert present == set(expected), f"docs/rules/ is out of date: {REGENERATE}"
    for name, content in expected.items():
        on_disk = (RULES_DIR / name).read_bytes().decode("utf-8")
        assert on_disk == content, f"docs/rules/{name} differs from the generated page: {REGENERATE}"


def test_one_page_per_message_with_its_title():
    for rule in RULES.values():
        page = rule_pages()[f"{rule.symbol}.md"]
        assert page == render_rule_page(rule)
        assert f"# {rule.symbol} ({rule.msgid})" in page.splitlines()
        for section in ("## What it flags", "## Why it matters for the quantizer", "## Example",
                        "## Fix safety", "## Options"):
            assert section in page, (rule.symbol, section)
        for target in TARGETS:
            assert f"**{target}**" in page
        if rule.good is not None:
            assert "## Prepared (distiller)" in page
            assert rule.good.rstrip("\n") in page
        for option in rule.options:
            assert f"`{option}`" in page


def test_rule_urls_point_at_the_generated_pages():
    for rule in RULES.values():
        assert rule.url.endswith(f"/docs/rules/{rule.symbol}.md")


def test_write_rule_pages_writes_every_page(tmp_path):
    written = write_rule_pages(tmp_path / "out")
    assert sorted(Path(p).name for p in written) == sorted(rule_pages())
    for path in written:
        assert Path(path).read_text(encoding="utf-8") == rule_pages()[Path(path).name]


def test_cli_writes_the_docs(tmp_path):
    assert cli_main(["rules", "--write-docs", str(tmp_path)]) == 0
    assert {p.name: p.read_text(encoding="utf-8") for p in tmp_path.glob("*.md")} == rule_pages()


# ------------------------------------------------------- examples are true
def _symbols(text: str, target: str = "distiller") -> list[str]:
    return [f.symbol for f in analyze_source(text, "example.py", Settings(target=target))]


@pytest.mark.parametrize("symbol", ALL)
def test_bad_example_raises_exactly_its_message(symbol):
    rule = RULES[symbol]
    target = rule.targets[0]
    assert _symbols(IMPORTS + "\n\n" + rule.bad, target) == [symbol]
    assert _symbols(example_source(rule), target) == [symbol]
    for other in set(TARGETS) - set(rule.targets):
        assert symbol not in _symbols(example_source(rule), other)


@pytest.mark.parametrize("symbol", WITH_GOOD)
def test_good_example_is_clean(symbol):
    rule = RULES[symbol]
    assert _symbols(IMPORTS + "\n\n" + rule.good) == []


def _class_bodies(text: str) -> str:
    """The text from the first class on (the examples' imports stripped)."""
    index = text.find("class ")
    assert index >= 0, text
    return text[index:]


@pytest.mark.parametrize("symbol", WITH_GOOD)
def test_fix_turns_bad_into_good(symbol):
    rule = RULES[symbol]
    fixed = fix_source(example_source(rule), "example.py", Settings()).text
    assert _class_bodies(fixed) == rule.good
    # ... and the imports it adds are the ones the prepared page shows
    assert fixed == prepared_source(rule)
    # with distiller.modules already imported, it adds nothing but the fix
    assert fix_source(IMPORTS + "\n\n" + rule.bad, "example.py", Settings()).text == IMPORTS + "\n\n" + rule.good


@pytest.mark.parametrize("symbol", WITH_GOOD)
def test_fixing_good_changes_nothing(symbol):
    rule = RULES[symbol]
    text = IMPORTS + "\n\n" + rule.good
    assert fix_source(text, "example.py", Settings(), unsafe=True).text == text


@pytest.mark.parametrize("symbol", sorted(set(ALL) - set(WITH_GOOD)))
def test_rules_without_good_have_no_safe_fix(symbol):
    """A rule without a prepared example is one `fix` does not fix by default."""
    rule = RULES[symbol]
    assert fix_source(example_source(rule), "example.py", Settings()).text == example_source(rule)
