"""A fusable chain as the fusion analysis finds it and `fusion_report` writes it into `fuse_model()`."""

from __future__ import annotations

from dataclasses import dataclass

from astroid import nodes

from pylint_distiller.catalogue import FusableChain


@dataclass
class Chain:
    names: tuple[str, ...]  # member paths for fuse_modules: "conv1", "features.0"
    spec: FusableChain
    nodes: tuple[nodes.NodeNG, ...]  # the member calls (forward) or constructor calls (Sequential)
    inferred: bool  # some member type was assumed from a default
    guard: str | None = None  # a condition the fix tests first (`len(self.shortcut) == 2`)
    #: a list-built Sequential (names = its attribute, "" for the class itself) whose children the
    #: fix scans at run time for these chains (`fusion_lists`)
    scan: tuple[FusableChain, ...] = ()
    #: members whose classes show only at run time: `fuse_by_type()` fuses the runs whose exact
    #: types match (`scan` holds the chains they may run, for the message)
    by_type: bool = False
    #: the class's own children, which its forward runs in a row (`own_children_loop`); `ends`
    #: names the children whose outputs the loop also reads (a run ends at one)
    own_children: bool = False
    ends: str | None = None
    #: members an `if self.<m> is not None:` guards (`optional_chains`): fused by type when present
    optional: tuple[str, ...] = ()
