"""One binder of a call's arguments to a Python function's parameters.

The float-boundary analysis (`boundaries.py`: is an argument a float parameter?), the call-site
islands (`helper_islands.py`: which argument does the helper write into?) and the dtype reads
(`activation_dtypes.py`: which parameter receives the dtype?) all ask which argument node
binds which parameter name. The answer is the same Python rule for each; what a caller does
with what Python would reject differs, and is named here as a policy, not re-coded:

* a starred positional argument, or more positional arguments than parameters: no binding;
* a keyword that binds a name bound already: no binding (Python raises a TypeError there);
* a `**kwargs` argument: no binding, or (`skip_double_star`) ignored, for a caller that asks
  only about the names bound so far (`**kwargs` binds none of them again);
* a keyword that names no parameter: no binding, or (`keep_unknown`) kept under its name, for a
  caller that reads the arguments it knows and ignores the rest.

The catalogue's own binder (`sites.bind_arguments`) binds an op's documented parameter names,
with a receiver and torch's `input=` alias: it maps onto no function definition.
"""

from __future__ import annotations

from astroid import nodes

from pylint_distiller.analysis.syntax import is_self_attr


def bind_call(call: nodes.Call, params: list[str], keyword_only=(), *, keep_unknown: bool = False,
              skip_double_star: bool = False) -> dict[str, nodes.NodeNG] | None:
    """Parameter name -> argument of `call`, for positional `params` and `keyword_only` names; None: cannot bind."""
    out: dict[str, nodes.NodeNG] = {}
    for i, arg in enumerate(call.args):
        if isinstance(arg, nodes.Starred) or i >= len(params):
            return None
        out[params[i]] = arg
    for kw in call.keywords or ():
        if kw.arg is None:
            if skip_double_star:
                continue
            return None
        if kw.arg in out or (not keep_unknown and kw.arg not in params and kw.arg not in keyword_only):
            return None
        out[kw.arg] = kw.value
    return out


def bind_to(call: nodes.Call, func: nodes.FunctionDef) -> dict[str, nodes.NodeNG] | None:
    """`bind_call` for the parameters of `func` (without `self` where `call` is `self.<method>(...)`)."""
    params = [a.name for a in (func.args.posonlyargs or []) + (func.args.args or [])]
    if isinstance(func.parent, nodes.ClassDef) and params and is_self_attr(call.func):
        params = params[1:]
    return bind_call(call, params, {a.name for a in func.args.kwonlyargs or []})
