"""torch-eager: one FloatFunctional shared by every run of an op whose runs cannot each get their own.

An op that runs several times per forward pass gets one module per iteration where
the trip count is static (`loops.py`). Where it is not (FPN's
`for idx in range(len(x) - 2, -1, -1)`, a `zip` with no position, nested loops, a while
loop), the distiller target gives no fix: Distiller keeps one call's statistics. Eager
quantization runs a shared FloatFunctional correctly: it holds no state in float
(same outputs, same state_dict), and after `prepare` its one observer sees every
iteration, so `convert` gives the iterations one scale and zero point between them,
where leaving the op as `+` stops PTQ (`aten::add` on quantized tensors).
"""

from __future__ import annotations

from astroid import nodes

from pylint_distiller.analysis.class_facts import AttrFact
from pylint_distiller.analysis.loops import InLoop
from pylint_distiller.catalogue import TORCH_EAGER
from pylint_distiller.catalogue.ops import FF

SHARED_NOTE = ("one FloatFunctional shared by every run, so its observer's statistics (one scale and "
               "zero point) are shared across the iterations")
#: the same for a float island's stubs (`islands.py`): only the QuantStub has an observer
SHARED_STUBS_NOTE = ("one pair of stubs shared by every run, so the QuantStub's observer statistics (one scale "
                     "and zero point) are shared across the runs")

#: modules eager `prepare` gives no observer and `convert` leaves as they are (measured, torch 2.14):
#: their quantized runs keep the input's scale, so a run in a loop shares nothing with the others
UNOBSERVED_MODULES = frozenset(("torch.nn.ReLU",))
UNOBSERVED_NOTE = ("for torch-eager this costs nothing: eager PTQ gives nn.ReLU no observer (its quantized "
                   "run keeps its input's scale), so the runs share no statistics")


def shares_across_runs(target: str, module: str | None, receiver: str, why: str | None = None) -> bool:
    """May a member of class `module` (qualified name), called on every run of the op, stand in for one per run?

    `why` is the per-iteration refusal (`loops.per_iteration`): only a loop's own (`InLoop`: the
    trip count, the position, nesting) qualifies. A helper called twice or a module class run
    twice keeps its no-fix: a module per call is possible there, by hand.
    """
    return target == TORCH_EAGER and module == FF and receiver == "self" and (why is None or isinstance(why, InLoop))


def built_as(fact: AttrFact | None, imports) -> str | None:
    """The qualified class name of the one constructor call `fact`'s attribute is assigned from, or None."""
    made = {imports.qualify(v.func) if isinstance(v, nodes.Call) else None for v in fact.values} if fact else set()
    return made.pop() if len(made) == 1 else None
