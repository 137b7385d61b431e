"""The second forward walk reuses a class's first walk only where the result is the same (`walk_reuse.py`).

Every test compares the walk with reuse against the walk without it (every class
walked twice, as before): every record the report and the fixer read, in the
order the dicts hold them, must be the same, and so must the findings. The walk
order decides which class owns an op several classes reach, so the files here
hold ops reached by several classes, classes whose callers pass non-default
kinds (walked again) and classes that call each other out of file order.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path

import pytest

from pylint_distiller.analysis import analyze_module
from pylint_distiller.analysis.classes import ModuleIndex
from pylint_distiller.analysis.forward import ForwardAnalysis
from pylint_distiller.analysis.imports import ImportMap
from pylint_distiller.analysis.walk_reuse import WalkJournal
from pylint_distiller.api import parse
from pylint_distiller.settings import Settings

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

SHARED = '''
import torch
import torch.nn as nn
import torch.nn.functional as F


def shared_gate(x):
    return torch.sigmoid(x) * x


class Base(nn.Module):
    def scale(self, x):
        return x * 2.0


class Leaf(Base):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return self.scale(self.fc(x)) + 1


class Other(Base):
    def __init__(self):
        super().__init__()
        self.leaf = Leaf()

    def forward(self, x):
        return self.scale(self.leaf(x))


class Sized(nn.Module):
    def forward(self, x, size):
        y = x.view(size, -1)
        return F.relu(y) + size


class Gated(nn.Module):
    def forward(self, x):
        return shared_gate(x) + x


class Lone(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.act = nn.ReLU()

    def forward(self, x):
        h = self.fc(x)
        return torch.cat([h, x], dim=1) * 3


class Top(nn.Module):
    def __init__(self):
        super().__init__()
        self.other = Other()
        self.sized = Sized()
        self.gated = Gated()
        self.lone = Lone()

    def forward(self, x):
        x = self.sized(x, 4)
        x = self.gated(x) + shared_gate(x)
        return self.lone(self.other(x))
'''


def _walk(text: str, path: str = "<string>") -> ForwardAnalysis:
    module = parse(text, path)
    index = ModuleIndex(module, ImportMap(module), Settings().module_bases)
    walk = ForwardAnalysis(index, module)
    walk.run()
    return walk


def _pos(node) -> tuple:
    return (node.lineno, node.col_offset, type(node).__name__)


def _names(infos) -> list:
    return sorted(info.name for info in infos if info is not None)


def _state(walk: ForwardAnalysis) -> dict:
    """Everything the report and the fixer read from a walk, in dict order (walk ids left out)."""
    lifts = walk.lifts
    return {
        "ops": [(_pos(n), s.spec.key, s.kinds,
                 sorted(s.bound) if s.bound is not None else None, s.owner.name if s.owner else None, s.visits,
                 s.multi, s.loud, s.via_attribute, s.walk_visits, s.module_param, _names(s.callers),
                 _names(s.reached_by), s.elsewhere, sorted(_pos(c) for c in s.lift_roots))
                for n, s in walk.ops.items()],
        "calls": [(_pos(n), r.attr, r.owner.name, r.visits, r.multi, r.element, _names(r.targets), r.walk_visits)
                  for n, r in walk.calls.items()],
        "inline": [(_pos(n), r.qname, r.owner.name if r.owner else None, r.multi) for n, r in walk.inline.items()],
        "per_forward": [(info.name, _pos(func), sorted((k if isinstance(k, str) else str(_pos(k)), v) for k, v in totals.items()), [_pos(c) for c in calls])
                        for info, func, totals, calls in walk.per_forward],
        "multiplicity": sorted((info.name, n) for info, n in walk.multiplicity.items()),
        "assigned": sorted((info.name, sorted(names)) for info, names in walk.forward_assigned.items()),
        "returns": sorted((info.name, repr(value)) for info, value in walk._class_returns.items()),
        "forward_ops": sorted((info.name, sorted(_pos(n) for n in ops)) for info, ops in walk._forward_ops.items()),
        "roots": [(_pos(c), r.func.name, r.forward_class.name if r.forward_class else None, r.multi, r.varies,
                   r.walk_visits) for c, r in lifts.roots.items()],
        "callee": [(_pos(c), f.name) for c, f in lifts.callee.items()],
        "useful": sorted(_pos(c) for c in lifts.useful),
        "once": [(_pos(c), sorted(_pos(n) for n in ops)) for c, ops in lifts.once.items()],
        # helper calls (call-site islands, once-per-pass checks): a reused class ran its helpers in the first walk
        "helper_calls": sorted((_pos(c), r.func.name, r.owner.name if r.owner else None,
                                sorted((k, sorted(v)) for k, v in r.kinds.items()), r.in_loop, r.runs, r.foreign,
                                sorted(map(str, r.results)), sorted(f.name for f in r.others))
                               for c, r in walk.helper_calls.records.items()),
        "walked": sorted(_pos(f) for f in walk.helper_calls.walked),
    }


@pytest.fixture
def reuse_log(monkeypatch):
    """Class names whose second walk a first walk stood for."""
    names: list[str] = []
    original = WalkJournal.replay

    def replay(self, walk, record):
        names.append(record.info.name)
        return original(self, walk, record)

    monkeypatch.setattr(WalkJournal, "replay", replay)
    return names


def _full(monkeypatch, text: str, path: str = "<string>"):
    """The walk with every class walked twice (no reuse), and its findings."""
    with monkeypatch.context() as patch:
        patch.setattr(WalkJournal, "reusable", lambda self, walk, info, env: None)
        return _state(_walk(text, path)), _findings(text, path)


def _findings(text: str, path: str) -> list:
    return [f.as_dict()
            for f in analyze_module(parse(text, path), Settings(), text=text, path=path)]


def test_reuse_keeps_every_record_and_its_order(monkeypatch, reuse_log):
    full, full_findings = _full(monkeypatch, SHARED)
    assert _state(_walk(SHARED)) == full
    assert _findings(SHARED, "<string>") == full_findings
    # Lone and Sized's callee-free walks are reused; Sized starts from `size` = a number now
    assert "Lone" in reuse_log
    assert "Sized" not in reuse_log
    # Leaf and Other both reach Base.scale's op: neither may keep its first walk's records
    assert "Leaf" not in reuse_log and "Other" not in reuse_log


def test_shared_op_is_owned_in_callers_first_order(monkeypatch, reuse_log):
    """`Base.scale`'s op belongs to the class the second walk reaches it from first: Other calls Leaf."""
    walk = _walk(SHARED)
    scale = next(site for node, site in walk.ops.items() if site.node.scope().name == "scale")
    assert scale.owner.name == "Other"  # file order would make it Leaf's
    assert _names(scale.reached_by) == ["Leaf", "Other"]


def test_fallback_walks_again_in_full(monkeypatch, reuse_log):
    """When a class walked again wrote where a reused one did, the second walk is redone without reuse."""
    full, _ = _full(monkeypatch, SHARED)
    monkeypatch.setattr(WalkJournal, "held", lambda self: False)
    assert _state(_walk(SHARED)) == full
    assert reuse_log  # the first attempt reused classes before the check threw it away


def test_held_sees_a_reused_node_written_again():
    journal = WalkJournal()

    class Record:  # the part of a ClassWalk `held` reads
        keys = {1, 2}

    journal.reused.append(Record())
    journal.walked_keys = {3}
    assert journal.held()
    journal.walked_keys.add(2)
    assert not journal.held()


def _corpus() -> list[Path]:
    files = sorted(EXAMPLES.glob("*.py"))
    try:
        import transformers  # noqa: F401 - only its source is read
    except ImportError:
        return files
    models = os.path.join(os.path.dirname(transformers.__file__), "models")
    for name in ("clip", "swin", "bert", "albert", "mixtral", "blt", "aria", "t5"):
        files += [Path(p) for p in sorted(glob.glob(os.path.join(models, name, "modeling_*.py")))]
    return files


@pytest.mark.parametrize("path", _corpus(), ids=lambda p: p.name)
def test_real_files_same_with_and_without_reuse(monkeypatch, reuse_log, path):
    text = path.read_text(encoding="utf-8")
    full, full_findings = _full(monkeypatch, text, str(path))
    reuse_log.clear()
    assert _state(_walk(text, str(path))) == full
    assert _findings(text, str(path)) == full_findings


LAST = SHARED + '''

def last_helper(x):
    return torch.tanh(x) - x


class Last(nn.Module):
    """Walked last in file order, second in callers-first order: the budget left differs."""

    def forward(self, x):
        return last_helper(x) * 0.5
'''


@pytest.mark.parametrize("budget", range(2, 24, 2))
def test_visit_budget_running_out_gives_the_same_walk(monkeypatch, budget):
    """Where the visit budget cut a first walk short, the second walk (more budget left) is not reused."""
    from pylint_distiller.analysis import forward

    monkeypatch.setattr(forward, "_VISIT_BUDGET", budget)
    full, _ = _full(monkeypatch, LAST)
    assert _state(_walk(LAST)) == full
