"""Rule selection (`--select`/`--ignore`, `distiller-select`/`distiller-ignore`), as ruff does it.

A selector is a rule symbol (``reused-module``), its id (``W5701``) or a prefix of
ids (``W57``, ``W570``: every rule whose id starts with it); ids and prefixes are
case-insensitive. Everything is derived from the catalogue (`RULES`), so a new
rule is selectable the moment it is added there.

A rule is reported when the most specific selector that matches it comes from
`select` (no `select` at all selects every rule, least specifically) and is more
specific than any matching `ignore` selector; on a tie `ignore` wins. So
``select=W57, ignore=W5701`` is every rule but W5701, and ``select=W5701,
ignore=W57`` is W5701 alone. A symbol or a full id is the most specific selector.
"""

from __future__ import annotations

from functools import lru_cache

from pylint_distiller.catalogue import RULES

#: specificity of a symbol or a full id: more than any prefix
_EXACT = 1_000


def _match(selector: str) -> tuple[frozenset[str], int]:
    """(symbols it selects, specificity); ValueError for a selector matching no rule."""
    text = selector.strip()
    if text in RULES:
        return frozenset((text,)), _EXACT
    code = text.upper()
    matched = frozenset(r.symbol for r in RULES.values() if r.msgid.startswith(code)) if code else frozenset()
    if not matched:
        some = next(iter(RULES.values()))
        raise ValueError(f"unknown rule selector {selector!r}: expected a rule symbol ({some.symbol}), an id "
                         f"({some.msgid}) or an id prefix ({some.msgid[:3]}); `pylint-distiller rules` lists them")
    exact = any(r.msgid == code for r in RULES.values())
    return matched, _EXACT if exact else len(code)


def validate(selectors: tuple[str, ...]) -> None:
    """Raise ValueError naming the first selector that matches no rule."""
    for selector in selectors:
        _match(selector)


@lru_cache(maxsize=64)
def selected(select: tuple[str, ...], ignore: tuple[str, ...]) -> frozenset[str]:
    """The symbols of the rules reported under `select` and `ignore`."""
    best_select = {symbol: 0 for symbol in RULES} if not select else {}
    for selector in select:
        symbols, weight = _match(selector)
        for symbol in symbols:
            best_select[symbol] = max(best_select.get(symbol, -1), weight)
    best_ignore: dict[str, int] = {}
    for selector in ignore:
        symbols, weight = _match(selector)
        for symbol in symbols:
            best_ignore[symbol] = max(best_ignore.get(symbol, -1), weight)
    return frozenset(symbol for symbol, weight in best_select.items() if weight > best_ignore.get(symbol, -1))
