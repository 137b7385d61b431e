"""Calls of helpers (methods and same-file functions) that the forward walk runs, with their context.

The walk enters a helper at each call it reaches (`flow.call_helper`); this records, per
call node, the helper, the class whose code holds the call, the kinds of the arguments it
passes, and whether the call itself runs more than once per pass (in a loop, or in code
that runs twice). Two facts follow that a text search of the class cannot give:

* which functions forward code runs at all: a method called from `forward_train` or
  `forward_intermediates` only is not forward code, so its calls do not make a helper run
  twice (`loops._once_per_pass`);
* per call site: a call-site float island (`helper_islands.py`) needs each call to run
  once, and to know which arguments are tensors (`self.cyclic_shift(x, reverse=True)`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from astroid import nodes

from pylint_distiller.analysis.classes import ClassInfo
from pylint_distiller.analysis.frames import Frame


@dataclass
class HelperCall:
    """One call of a helper that forward code runs."""

    node: nodes.Call
    func: nodes.FunctionDef
    owner: ClassInfo | None  # the module class whose code holds the call (None: a module-level helper's)
    #: parameter name -> every kind an argument of this call had (one per walk that reached it)
    kinds: dict[str, set[str]] = field(default_factory=dict)
    in_loop: bool = False  # some walk reached it in a loop, a comprehension or a repeated helper
    runs: int = 0  # the most runs per pass on one path of a forward (calls in exclusive branches are one)
    foreign: bool = False  # in a submodule's method (`self.attn.prepare(x)`)
    results: set = field(default_factory=set)  # kinds the helper returned at this call (None: never walked)
    others: set = field(default_factory=set)  # other functions the same call runs (an override in a subclass)

    @property
    def multi(self) -> bool:
        """The call runs more than once per forward pass."""
        return self.in_loop or self.runs > 1


class HelperCalls:
    """Every helper call a forward walk ran (keyed by call node), and the functions it entered."""

    def __init__(self) -> None:
        self.records: dict[nodes.Call, HelperCall] = {}
        self.walked: set[nodes.FunctionDef] = set()

    def record(self, call: nodes.Call | None, func: nodes.FunctionDef,
               kinds: dict[str, str] | None, frame: Frame) -> None:
        self.walked.add(func)
        if call is None:
            return  # a function handed on as a value: walked once where referenced, no call site
        record = self.records.get(call)
        if record is None:
            record = self.records[call] = HelperCall(call, func, frame.owner, foreign=frame.foreign)
        record.in_loop = record.in_loop or frame.multi
        if record.func is not func:
            record.others.add(func)  # `self.helper(x)` in a base's forward: a subclass overrides the helper
        for name, kind in (kinds or {}).items():
            record.kinds.setdefault(name, set()).add(kind)

    def returned(self, call: nodes.Call | None, kind: str | None) -> None:
        """The kind the helper's walk at this call returned (a tensor, a tuple of tensors, ...)."""
        record = self.records.get(call) if call is not None else None
        if record is not None:
            record.results.add(kind)

    def count_runs(self, per_forward) -> None:
        """Runs per pass of each call from the forwards' path counts (`calls.py` counts each call node
        per path, as it counts submodule calls: `if ...: self.f(x) else: self.f(x)` runs once)."""
        for _info, _func, totals, _calls in per_forward:
            for key, value in totals.items():
                record = self.records.get(key) if isinstance(key, nodes.Call) else None
                if record is not None:
                    record.runs = max(record.runs, value)

    def calls_of(self, func: nodes.FunctionDef) -> list[HelperCall]:
        """The walked calls that run `func`, in file order."""
        return sorted((r for r in self.records.values() if r.func is func),
                      key=lambda r: (r.node.lineno, r.node.col_offset))

    def runs(self, function: nodes.NodeNG) -> bool:
        """Forward code runs `function` (a forward, or a helper the walk entered)."""
        return function in self.walked
