"""What the forward walk learns about module-level helpers that receive no module.

`rotate_half(x)` and `apply_rotary_pos_emb(q, k, cos, sin)` get no module to hold
members, so their ops cannot be fixed where they are. `lifting.py` instead turns
such a helper into a module class held by the class that calls it. For that it
needs, per op site, the call in a module class's method that the helper run
started from (the *root*), whether that root call runs more than once per forward
pass (one lifted instance would then run twice), and which nested helper calls
lead to op sites (only those get their own instances). The walk records these
here, at each helper frame it enters and each op it records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from astroid import nodes

from pylint_distiller.analysis.frames import Frame

if TYPE_CHECKING:
    from pylint_distiller.analysis.classes import ClassInfo
    from pylint_distiller.analysis.sites import OpSite


@dataclass
class LiftRoot:
    """A call of a module-level helper (or of a static method) from a module class's method."""

    call: nodes.Call
    func: nodes.FunctionDef
    forward_class: ClassInfo | None  # the class whose forward walk reached it (its runs per pass count)
    multi: bool = False  # runs more than once per forward pass of one instance
    varies: bool = False  # runs different functions in different walks
    walk: int = -1
    walk_visits: int = 0


@dataclass
class LiftRecords:
    roots: dict[nodes.Call, LiftRoot] = field(default_factory=dict)
    #: helper calls (root or nested) under which an op site was recorded
    useful: set[nodes.Call] = field(default_factory=set)
    #: the functions a helper call walked (a nested call is lifted into the class of its function)
    callee: dict[nodes.Call, nodes.FunctionDef] = field(default_factory=dict)

    #: root call -> op sites it runs once per run of the root (not in a loop on the way)
    once: dict[nodes.Call, set] = field(default_factory=dict)

    def enter(self, walk, frame: Frame, sub: Frame, call: nodes.Call | None) -> tuple[nodes.Call, ...] | None:
        """The lift chain of a module-level helper frame `sub` entered at `call` from `frame`."""
        if call is None or sub.module_param:
            return None
        if frame.lift is not None:
            chain = frame.lift + (call,)
        elif frame.owner is not None:
            chain = (call,)
            root = self.roots.get(call)
            if root is None:
                root = self.roots[call] = LiftRoot(call, sub.function, walk._current_owner)
            root.varies = root.varies or root.func is not sub.function  # (a method overridden in a subclass)
            if root.walk != walk.walk_id:
                root.walk, root.walk_visits = walk.walk_id, 0
            root.walk_visits += 1
            root.multi = root.multi or frame.multi or root.walk_visits > 1
        else:
            return None
        self.callee[call] = sub.function
        return chain

    def record_op(self, frame: Frame, site: OpSite) -> None:
        if frame.lift is None:
            return
        site.lift_roots.add(frame.lift[0])
        if not frame.multi:
            self.once.setdefault(frame.lift[0], set()).add(site.node)
        self.useful.update(frame.lift)
