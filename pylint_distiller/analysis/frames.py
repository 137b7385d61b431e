"""The state of one function walk: local kinds, loop nesting, container elements, its file's names."""

from __future__ import annotations

from dataclasses import dataclass, field

from astroid import nodes

from pylint_distiller.analysis.classes import ClassInfo
from pylint_distiller.analysis.imports import ImportMap


@dataclass
class Element:
    """A local name bound to one element of a module container by a loop."""

    attr: str  # the container attribute
    targets: tuple[ClassInfo, ...]
    depth: int  # len(frame.loops) when the binding loop started
    repeated: bool  # the binding loop itself runs more than once per pass


@dataclass
class Scope:
    """The names a walked function sees: its own file's imports and module-level functions.

    A helper imported from another file of the project is walked with that file's
    scope, so `torch` there means what that file's imports say.
    """

    module: nodes.Module
    imports: ImportMap
    functions: dict[str, nodes.FunctionDef]


@dataclass
class Frame:
    owner: ClassInfo | None
    function: nodes.FunctionDef
    env: dict[str, str]
    multi: bool
    silent: bool
    depth: int
    returns: str | None = None
    returns_elts: list[str] | None = None  # element kinds when every return is a tuple of one length
    returns_mixed: bool = False
    elements: dict[str, Element] = field(default_factory=dict)
    loops: list[str] = field(default_factory=list)
    counters: set[str] = field(default_factory=set)  # loop counters (`for i in range(n)`)
    shared_index: set[str] = field(default_factory=set)  # many-to-one functions of counters (`i // k`)
    foreign: bool = False  # a method of a submodule (`self.attn.prepare(x)`): its module calls are its own
    # a module-level helper that receives the calling module (`eager_attention_forward(self, ...)`):
    module_param: str | None = None  # the parameter holding that module
    caller: ClassInfo | None = None  # the module class that passed itself
    scope: Scope | None = None  # set by every walk that creates a frame
    #: in a module-level helper that receives no module: the calls from a module class's method
    #: down to this frame (`lifting.py` lifts the helper into a module class at the first one)
    lift: tuple[nodes.Call, ...] | None = None
