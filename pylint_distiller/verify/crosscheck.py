"""Compare static findings with what one traced forward pass saw.

The static analysis reads every line but must guess which values are tensors and
which calls repeat; the run is exact but only sees the path the example input took.
Putting the two side by side measures the static rules on real models:

* both: a static finding on a line where the run saw the same kind of problem;
* runtime-only: the run saw it, the static analysis missed it;
* static-only, executed: the line ran and showed no such problem (a false alarm,
  or a problem the run cannot observe on that input, e.g. a `self.training` path);
* static-only, never ran: the run cannot confirm or refute it (another branch,
  another model class in the same file).

Findings the run cannot observe are kept apart instead of being counted as "never
ran": `unquantizable-module` (an LSTM is a module that runs fine), and a
`shared-module-instance` whose instance did not run twice. A shared instance that
did run twice matches its reused module by attribute names, since the static
finding sits where the instance is bound, not where it runs.

Matching is by (realpath, line), and only between compatible kinds (an op rule
matches an op site, a reuse rule a reused module's call site, `inline-module` a
module constructed in forward). Python 3.11 reports a method call split over lines
at the line of the method name while the static span starts at its receiver, so a
multi-line static finding with no runtime item on its first line matches one inside
its span.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Protocol

from pylint_distiller.verify.runtime import RuntimeReport

__all__ = ["CrossCheck", "Match", "RuntimeItem", "cross_check"]

OP_SYMBOLS = frozenset({"tensor-operator", "torch-function", "functional-call", "tensor-method"})
REUSE_SYMBOLS = frozenset({"reused-module", "shared-module-instance"})
INLINE_SYMBOLS = frozenset({"inline-module"})
UNOBSERVABLE_SYMBOLS = frozenset({"unquantizable-module"})
_KIND_OF_SYMBOL = {
    **{s: "op" for s in OP_SYMBOLS},
    **{s: "reused-module" for s in REUSE_SYMBOLS},
    **{s: "inline-module" for s in INLINE_SYMBOLS},
}


class StaticFinding(Protocol):
    """What the cross-check reads from a static finding (`findings.Finding`)."""

    path: str
    line: int
    col: int
    end_line: int
    end_col: int
    symbol: str
    message: str


@dataclass
class RuntimeItem:
    """One runtime finding, flattened: an op site, a reused module, an inline module."""

    kind: str  # "op" | "reused-module" | "inline-module"
    label: str  # op name, module name or class
    sites: list[tuple[str, int]]  # (realpath, line); a reused module has one per call site
    record: Any = field(repr=False, default=None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "label": self.label,
            "sites": [{"path": p, "line": ln} for p, ln in self.sites],
        }


@dataclass
class Match:
    finding: StaticFinding
    items: list[RuntimeItem]


@dataclass
class CrossCheck:
    both: list[Match] = field(default_factory=list)
    runtime_only: list[RuntimeItem] = field(default_factory=list)
    static_executed: list[StaticFinding] = field(default_factory=list)
    static_not_executed: list[StaticFinding] = field(default_factory=list)
    unobservable: list[StaticFinding] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {
            "both": len(self.both),
            "runtime_only": len(self.runtime_only),
            "static_only_executed": len(self.static_executed),
            "static_only_not_executed": len(self.static_not_executed),
            "not_runtime_observable": len(self.unobservable),
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "counts": self.counts(),
            "both": [
                dict(finding_dict(m.finding), runtime=[i.as_dict() for i in m.items])
                for m in self.both
            ],
            "runtime_only": [i.as_dict() for i in self.runtime_only],
            "static_only_executed": [finding_dict(f) for f in self.static_executed],
            "static_only_not_executed": [finding_dict(f) for f in self.static_not_executed],
            "not_runtime_observable": [finding_dict(f) for f in self.unobservable],
        }


def finding_dict(finding: StaticFinding) -> dict[str, Any]:
    """JSON form of a static finding using only the attributes this module needs."""
    return {
        name: getattr(finding, name, None)
        for name in ("path", "line", "col", "end_line", "end_col", "symbol", "message")
    }


def runtime_items(report: RuntimeReport) -> list[RuntimeItem]:
    items = [RuntimeItem("op", s.op, [(s.path, s.line)], s) for s in report.op_sites]
    items += [
        RuntimeItem("reused-module", m.name, [(c.path, c.line) for c in m.call_sites], m)
        for m in report.reused_modules
    ]
    items += [
        RuntimeItem("inline-module", m.klass, [(m.path, m.line)] if m.path else [], m)
        for m in report.inline_modules
    ]
    return items


def cross_check(report: RuntimeReport, static_findings: Iterable[StaticFinding]) -> CrossCheck:
    """Sort static findings and runtime findings into the buckets described above."""
    items = runtime_items(report)
    by_site: dict[tuple[str, int], list[RuntimeItem]] = {}
    for item in items:
        for site in item.sites:
            by_site.setdefault(site, []).append(item)
    executed = report.executed_lines()
    realpaths: dict[str, str] = {}
    result = CrossCheck()
    matched: set[int] = set()

    for finding in static_findings:
        if finding.symbol in UNOBSERVABLE_SYMBOLS:
            result.unobservable.append(finding)
            continue
        path = realpaths.get(finding.path)
        if path is None:
            path = realpaths[finding.path] = os.path.realpath(finding.path)
        kind = _KIND_OF_SYMBOL.get(finding.symbol)  # None: an unknown rule matches any kind
        last = max(finding.line, finding.end_line or finding.line)
        hits = _compatible(by_site.get((path, finding.line), ()), kind)
        if not hits:
            for line in range(finding.line + 1, last + 1):
                hits += _compatible(by_site.get((path, line), ()), kind)
        if not hits and finding.symbol == "shared-module-instance":
            hits = _shared_instance_hits(finding, items)
            if not hits:
                result.unobservable.append(finding)
                continue
        if hits:
            result.both.append(Match(finding, hits))
            matched.update(id(i) for i in hits)
        elif any((path, line) in executed for line in range(finding.line, last + 1)):
            result.static_executed.append(finding)
        else:
            result.static_not_executed.append(finding)

    result.runtime_only = [i for i in items if id(i) not in matched]
    return result


def _shared_instance_hits(finding: StaticFinding, items: list[RuntimeItem]) -> list[RuntimeItem]:
    """Reused modules registered under several names that the finding names.

    `shared-module-instance` is reported where the instance is bound (`__init__`,
    a class attribute), not where it runs, so lines cannot match; the attribute
    names can. Sharing is only observable when the shared instance runs twice.
    """
    text = " ".join([finding.message, *map(str, getattr(finding, "args", ()) or ())])
    words = set(re.findall(r"[A-Za-z_][A-Za-z_0-9]*", text))
    return [
        item
        for item in items
        if item.kind == "reused-module"
        and len(item.record.aliases) > 1
        and sum(alias.rpartition(".")[2] in words for alias in item.record.aliases) >= 2
    ]


def _compatible(items: Iterable[RuntimeItem], kind: str | None) -> list[RuntimeItem]:
    unique = {id(i): i for i in items if kind is None or i.kind == kind}
    return list(unique.values())
