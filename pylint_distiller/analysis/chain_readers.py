"""Chain members that a second method runs as the same chain (timm's `forward_intermediates`).

Fusion turns the first member of a chain into the fused module and the others into
`nn.Identity`, so it is only correct where every code that calls a member calls the whole
chain, in order, each output going only into the next member. A forward chain is first found
in the forward walk (`fusion.FusionAnalysis._forward_chains`), where a member read anywhere
else blocked it. Every timm model has a second entry point, `forward_intermediates()`, that
re-runs the stem (`x = self.conv1(x); x = self.bn1(x); x = self.act1(x)`): its stem chains were
never fused (legacy_xception, resnet, ...), while FX fuses them.

Here a read of a member outside the forward walk is allowed when it is a call in another
method that runs the same chain: one call per member there, none in a loop, each call
taking the previous one's value as its only argument, read by nothing else. Any other read
(`self.bn2.weight / self.bn2.running_var` in a reparameterisation, a member handed on) still blocks
the chain; a None test, and construction settings and weight-init reads outside forward code, do
not (`fusion_safe_reads`).
"""

from __future__ import annotations

from astroid import nodes

from pylint_distiller.analysis.syntax import in_loop


def called_elsewhere(use: nodes.Attribute, chain_calls: set[nodes.Call]) -> bool:
    """Is `use` (a `self.<member>` read) a plain call in a method, other than the chain's own calls?"""
    call = use.parent
    frame = use.frame()
    return isinstance(call, nodes.Call) and call.func is use and call not in chain_calls \
        and isinstance(frame, nodes.FunctionDef) and isinstance(frame.parent, nodes.ClassDef)


def same_chain_elsewhere(names: tuple[str, ...], chain_calls: set[nodes.Call], uses_of, producer, loops) -> bool:
    """Does every method that calls a member of the chain `names` (other than at `chain_calls`)
    run the whole chain, in order, as one chain? `uses_of(name)` gives the member's reads,
    `producer(call, members)` the member call whose value `call` alone takes (`FusionAnalysis._producer`)."""
    by_method: dict[nodes.FunctionDef, dict[str, list[nodes.Call]]] = {}
    for name in names:
        for use in uses_of(name):
            if use.parent in chain_calls:
                continue
            if not called_elsewhere(use, chain_calls):
                return False
            by_method.setdefault(use.frame(), {}).setdefault(name, []).append(use.parent)
    for method, calls in by_method.items():
        if set(calls) != set(names) or any(len(found) != 1 for found in calls.values()):
            return False  # a part of the chain, or a member called twice
        ordered = [calls[name][0] for name in names]
        if any(in_loop(call, method, loops) for call in ordered):
            return False
        members = dict.fromkeys(ordered)
        if any(producer(later, members) is not earlier for earlier, later in zip(ordered, ordered[1:])):
            return False
    return True
