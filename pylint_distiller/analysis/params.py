"""What kind each parameter of a walked function holds when the walk starts.

A forward's positional inputs are tensors unless annotations, defaults, parameter
names (`input_ids`, `past_key_values`, `module`) or the same-file callers say
otherwise. The first walk of a file collects the argument kinds each module
class's callers pass (`SiteKinds`); the second starts each forward with them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from astroid import nodes

from pylint_distiller.analysis import kinds as K
from pylint_distiller.analysis.classes import ClassInfo
from pylint_distiller.analysis.frames import Frame
from pylint_distiller.analysis.syntax import is_staticmethod

if TYPE_CHECKING:
    from pylint_distiller.analysis.values import Evaluator

#: parameter names that hold integer tensors in model code (ids, positions)
_INDEX_PARAM_SUFFIXES = ("_ids", "_idx", "_indices")
_INDEX_PARAMS = frozenset(("input_ids", "position_ids", "token_type_ids", "cache_position", "indices", "labels",
                           "ids"))
#: parameter names that hold key/value caches (objects or tuples of tensors, never one tensor)
_CACHE_PARAMS = frozenset(("cache", "past_key_values", "past_key_value", "layer_past", "cache_params",
                           "inference_params", "past"))
#: unannotated parameter names that hold modules (`eager_attention_forward(module, ...)`)
_MODULE_PARAMS = frozenset(("module", "model", "layer", "block", "submodule", "mod"))


@dataclass
class SiteKinds:
    """Argument kinds of one call of a module class."""

    positional: list[str]
    keywords: dict[str, str]
    open_ended: bool  # *args or **kwargs: any parameter may be passed


class ParamKinds:
    """Mixin of `ForwardAnalysis`: parameter environments and the caller kinds they use."""

    def _caller_kinds(self, info: ClassInfo, func: nodes.FunctionDef) -> dict[str, str] | None:
        """Kinds the same-file callers of `info` pass to its forward (those walked so far).

        Only kinds the callers agree on count: a tensor on any path is a tensor, a
        parameter some caller passes blindly (`*args`, `**kwargs`) stays unknown.
        """
        if self._collect_sites:
            return None
        sites = self._site_kinds.get(info)
        if not sites:
            return None
        args = func.args
        if args.args is None:
            return None
        positional = (list(args.posonlyargs) + list(args.args))[1:]
        names = [(p.name, i) for i, p in enumerate(positional)] + [(p.name, None) for p in args.kwonlyargs]
        out: dict[str, str] = {}
        for name, index in names:
            kind: str | None = None
            for site in sites:
                if index is not None and index < len(site.positional):
                    value = site.positional[index]
                elif name in site.keywords:
                    value = site.keywords[name]
                elif site.open_ended:
                    value = K.UNKNOWN
                else:
                    continue  # not passed: the default
                kind = value if kind is None else K.join(kind, value)
            if kind is not None and (kind in K.PLAIN or kind == K.TENSOR):
                out[name] = kind
        if out:
            # a caller's "tensor" may be a guess (an unpacked module output): it
            # overrides no annotation but a tensor-sequence one (`tuple[torch.Tensor]`)
            annotated = dict(zip((p.name for p in args.posonlyargs + args.args),
                                 args.posonlyargs_annotations + args.annotations))
            annotated.update(zip((p.name for p in args.kwonlyargs), args.kwonlyargs_annotations))
            for name in [n for n, k in out.items() if k == K.TENSOR]:
                if K.annotation_kind(annotated.get(name)) not in (None, K.TENSOR, K.TENSORS):
                    del out[name]
        return out or None

    def _record_site_kinds(self, targets, call: nodes.Call, ev: "Evaluator") -> None:
        if not targets:
            return
        if self._collect_sites and self._current_owner is not None:
            self._edges.setdefault(self._current_owner, set()).update(
                t for t in (self._forward_owner(x) for x in targets) if t is not None)
        positional: list[str] = []
        open_ended = False
        for arg in call.args:
            if isinstance(arg, nodes.Starred):
                open_ended = True
                break
            positional.append(ev.kind_cache.get(arg, K.UNKNOWN))
        keywords = {}
        for kw in call.keywords or ():
            if kw.arg is None:
                open_ended = True
            else:
                keywords[kw.arg] = ev.kind_cache.get(kw.value, K.UNKNOWN)
        site = SiteKinds(positional, keywords, open_ended)
        for target in targets:
            owner = self._forward_owner(target)
            if owner is not None:
                self._site_kinds.setdefault(owner, []).append(site)

    def _param_env(self, func: nodes.FunctionDef, call_kinds: dict[str, str] | None, is_forward: bool) -> dict:
        env: dict[str, str] = {}
        args = func.args
        if args.args is None:  # built from a living object: no signature
            return env
        positional = list(args.posonlyargs) + list(args.args)
        defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
        annotations = list(args.posonlyargs_annotations) + list(args.annotations)
        params = list(zip(positional, defaults, annotations))
        params += list(zip(args.kwonlyargs, args.kw_defaults, args.kwonlyargs_annotations))
        is_method = isinstance(func.parent, nodes.ClassDef) and not is_staticmethod(func)
        for i, (param, default, annotation) in enumerate(params):
            if i == 0 and is_method and positional and param is positional[0]:
                env[param.name] = K.MODULE
                continue
            kind = self._declared_kind(annotation)
            if call_kinds is not None and param.name in call_kinds:
                given = call_kinds[param.name]
                if kind is None or given in (K.TENSOR, K.INDEX) or (given in K.PLAIN and kind == K.TENSOR):
                    kind = given
            if kind is None:
                if param.name in _MODULE_PARAMS and not is_method:
                    kind = K.MODULE
                elif param.name in _CACHE_PARAMS:
                    kind = K.SEQ
                elif default is None or (isinstance(default, nodes.Const) and default.value is None):
                    kind = K.TENSOR if is_forward else K.UNKNOWN
                else:
                    kind = K.literal_kind(default)
            if kind == K.TENSOR and (param.name in _INDEX_PARAMS or param.name.endswith(_INDEX_PARAM_SUFFIXES)):
                kind = K.INDEX
            env[param.name] = kind
        if args.vararg:
            env[args.vararg] = K.TENSORS if is_forward else K.SEQ
        if args.kwarg:
            env[args.kwarg] = K.OTHER
        return env

    def _declared_kind(self, annotation: nodes.NodeNG | None) -> str | None:
        """`annotation_kind` of a parameter annotation, once per annotation (helpers are walked at every call)."""
        if annotation is None:
            return None
        if annotation not in self._declared_kinds:
            self._declared_kinds[annotation] = K.annotation_kind(self._type_alias(annotation))
        return self._declared_kinds[annotation]

    def _type_alias(self, annotation: nodes.NodeNG | None) -> nodes.NodeNG | None:
        """`Size_` where the file says `Size_ = Tuple[int, int]`: the aliased annotation."""
        if isinstance(annotation, nodes.Name):
            scope = self.scope_of(annotation)
            if annotation.name in scope.imports.aliases:
                return annotation
            for node in scope.module.locals.get(annotation.name, ()):
                assign = node.parent
                if isinstance(assign, (nodes.Assign, nodes.AnnAssign)) and assign.parent is scope.module \
                        and isinstance(assign.value, (nodes.Subscript, nodes.Name, nodes.Attribute, nodes.BinOp)):
                    return assign.value
        return annotation

    def _module_param(self, func: nodes.FunctionDef, call: nodes.Call | None, frame: Frame) -> str | None:
        """The helper's parameter that receives the calling module instance, if one does.

        At a call: the parameter bound to `self` (or to the caller's own module
        parameter). For a function handed on as a value: a first parameter
        annotated `nn.Module`, as transformers' attention functions declare it.
        """
        params = list(func.args.posonlyargs or []) + list(func.args.args or [])
        if not params or frame.owner is None and frame.module_param is None:
            return None
        holders = {frame.module_param} if frame.owner is None else {"self"}
        if call is None:
            # handed on as a value and called elsewhere: trust a first parameter declared
            # `nn.Module` or named `module`, as attention-interface functions spell it
            annotation = (list(func.args.posonlyargs_annotations or []) + list(func.args.annotations or []))[0]
            qname = self.scope_of(func).imports.qualify(annotation) if annotation is not None else None
            declared = qname == "torch.nn.Module" or (annotation is None and params[0].name == "module")
            return params[0].name if declared else None
        for param, arg in zip(params, call.args):
            if isinstance(arg, nodes.Starred):
                break
            if isinstance(arg, nodes.Name) and arg.name in holders:
                return param.name
        names = {p.name for p in params}
        for kw in call.keywords or ():
            if kw.arg in names and isinstance(kw.value, nodes.Name) and kw.value.name in holders:
                return kw.arg
        return None
