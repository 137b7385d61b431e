"""Reusing a class's first forward walk in the second walk, where the second would only repeat it.

`ForwardAnalysis` walks a file twice (`forward.py`): the first walk, in file
order, finds what each class's same-file callers pass it; the second, callers
first, starts each forward from those argument kinds. Most forwards start the
second walk from the kinds they started the first one from (callers pass
tensors, the default), and then they walk the same statements again.

A walk's course depends only on its start (the parameter kinds), the return
kinds of the same-file classes it calls (`ForwardAnalysis.module_result`) and
the visit budget; never on the records (op sites, module calls, ...) other
walks left. What it leaves are records keyed by node, merged with what other
classes' walks left under the same node: the first walk to reach a shared op
owns it, so the walk order decides. A class's first-walk records can therefore
stand for its second walk when

* its second walk would start from the same parameter kinds,
* the classes it calls return what they returned when its first walk looked,
* the budget left cannot run out during it, and
* no other class's walk (first or second) wrote a record under a node it wrote:
  its records hold its own visits only, and merge with nobody's.

The records are then put back at the class's turn of the second walk, in the
order its first walk created them, so every dict holds its keys in the order
the full second walk gives them. The last condition can only be checked once
the second walk is over (a class walked again with other kinds may reach new
code); when it fails, the second walk is redone in full (`ForwardAnalysis.run`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pylint_distiller.analysis.classes import ClassInfo
    from pylint_distiller.analysis.forward import ForwardAnalysis


class TouchedKeys(dict):
    """A dict of walk records that notes, in `ForwardAnalysis.touched`, every key a walk writes or reuses.

    `inline` (`setdefault`: the first class to reach a call builds its record) and
    `LiftRecords.callee` (written at every entry of a helper, under the same calls
    as the lift roots and chains) are written from several mixins; noting the keys
    here keeps those call sites as they are.
    """

    def __init__(self, touched: set) -> None:
        super().__init__()
        self.touched = touched

    def setdefault(self, key, default=None):
        self.touched.add(key)
        return super().setdefault(key, default)

    def __setitem__(self, key, value) -> None:
        self.touched.add(key)
        super().__setitem__(key, value)


@dataclass
class ClassWalk:
    """What one class's forward walk read at its start and left behind, to stand for a later walk."""

    info: ClassInfo
    env: dict[str, str]  # parameter kinds it started from
    #: `(owner, ForwardAnalysis.class_result(owner))` for every same-file class call it walked
    looked_up: list
    used: int  # visit budget it used
    left: int  # visit budget left after it (> 0: the budget never stopped it)
    keys: set  # every node it wrote a record under
    entry: tuple  # its `per_forward` entry
    returns: tuple
    forward_ops: set
    #: dict name -> (start, end) of the keys it added, in order (filled in after the walk)
    spans: dict[str, tuple[int, int]] = field(default_factory=dict)
    records: dict[str, list] = field(default_factory=dict)  # dict name -> its [(key, record)]
    site_kinds: list = field(default_factory=list)  # [(callee owner, SiteKinds)] it recorded
    assigned: list = field(default_factory=list)  # [(owner, attribute names)] it assigned
    useful: set = field(default_factory=set)


#: the walk's record dicts a reused class's records are put back in: name -> attribute path
_RECORD_DICTS = ("ops", "calls", "inline", "lifts.roots", "lifts.callee", "lifts.once")


def _record_dict(walk: ForwardAnalysis, name: str) -> dict:
    if name.startswith("lifts."):
        return getattr(walk.lifts, name[6:])
    return getattr(walk, name)


class WalkJournal:
    """Per class: its first walk (`ClassWalk`), and which classes' second walks it stood for."""

    def __init__(self) -> None:
        self.walks: dict[ClassInfo, ClassWalk] = {}
        self.reused: list[ClassWalk] = []
        self.walked_keys: set = set()  # nodes the classes walked again wrote records under
        self._start: dict = {}

    # ----------------------------------------------------------- first walk
    def begin(self, walk: ForwardAnalysis, env: dict[str, str]) -> None:
        """Before one class's first walk from `env`: where each record collection stands."""
        self._start = {
            "env": dict(env),  # the walk binds its locals in `env`
            "sizes": {name: len(_record_dict(walk, name)) for name in _RECORD_DICTS},
            "site_kinds": {owner: len(sites) for owner, sites in walk._site_kinds.items()},
            "assigned": {owner: set(names) for owner, names in walk.forward_assigned.items()},
            "useful": len(walk.lifts.useful),
            "budget": walk._budget,
        }
        walk.touched.clear()
        walk.looked_up = []

    def end(self, walk: ForwardAnalysis, info: ClassInfo) -> None:
        """After one class's first walk: what it read and what it left."""
        start = self._start
        record = ClassWalk(info, start["env"], walk.looked_up, start["budget"] - walk._budget, walk._budget,
                           walk._current_ops | set(walk._current_calls) | walk.touched,
                           walk.per_forward[-1], walk._class_returns[info], walk._forward_ops[info])
        walk.looked_up = None
        for name in _RECORD_DICTS:
            record.spans[name] = (start["sizes"][name], len(_record_dict(walk, name)))
        for owner, sites in walk._site_kinds.items():
            record.site_kinds += [(owner, site) for site in sites[start["site_kinds"].get(owner, 0):]]
        for owner, names in walk.forward_assigned.items():
            new = names - start["assigned"].get(owner, set())
            if new:
                record.assigned.append((owner, new))
        if len(walk.lifts.useful) != start["useful"]:
            record.useful = walk.lifts.useful & record.keys
        self.walks[info] = record

    def finish_first(self, walk: ForwardAnalysis) -> None:
        """After the first walk: keep the classes whose records are theirs alone, with those records."""
        writers: dict = {}
        for record in self.walks.values():
            for key in record.keys:
                writers[key] = writers.get(key, 0) + 1
        items = {name: list(_record_dict(walk, name).items()) for name in _RECORD_DICTS}
        for info, record in list(self.walks.items()):
            if record.left <= 0 or any(writers[key] > 1 for key in record.keys):
                del self.walks[info]
                continue
            record.records = {name: items[name][start:end] for name, (start, end) in record.spans.items()}

    # ---------------------------------------------------------- second walk
    def reusable(self, walk: ForwardAnalysis, info: ClassInfo, env: dict[str, str]) -> ClassWalk | None:
        """The first walk of `info` if its second walk, starting from `env` now, would repeat it."""
        record = self.walks.get(info)
        if record is None or record.env != env or walk._budget - record.used <= 0:
            return None
        if any(walk.class_result(owner) != seen for owner, seen in record.looked_up):
            return None
        return record

    def replay(self, walk: ForwardAnalysis, record: ClassWalk) -> None:
        """Put a class's first-walk records back, as its second walk would have left them."""
        for name, pairs in record.records.items():
            if pairs:
                _record_dict(walk, name).update(pairs)
        walk.lifts.useful |= record.useful
        for owner, site in record.site_kinds:
            walk._site_kinds.setdefault(owner, []).append(site)
        for owner, names in record.assigned:
            walk.forward_assigned.setdefault(owner, set()).update(names)
        walk.per_forward.append(record.entry)
        walk._class_returns[record.info] = record.returns
        walk._forward_ops[record.info] = record.forward_ops
        walk._budget -= record.used
        self.reused.append(record)

    def walked(self, walk: ForwardAnalysis) -> None:
        """After a class's second walk ran in full: the nodes it wrote records under."""
        self.walked_keys |= walk._current_ops
        self.walked_keys.update(walk._current_calls)
        self.walked_keys |= walk.touched

    def held(self) -> bool:
        """True when no class walked again wrote under a node a reused class's records hold."""
        return not any(not self.walked_keys.isdisjoint(record.keys) for record in self.reused)
