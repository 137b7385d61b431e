"""The statement walk of forward code: control flow, execution paths and name bindings.

Statements are walked in order; each statement's expressions go to a fresh
`values.Evaluator`, whose submodule-call counts become the statement's `Paths`.
Branches join by maximum, loops count their body twice, `with torch.no_grad()`
and tracing-only branches are silent (their ops are not loud findings).
"""

from __future__ import annotations

from collections import Counter

from astroid import nodes

from pylint_distiller.analysis import classes as attrs
from pylint_distiller.analysis import kinds as K
from pylint_distiller.analysis.classes import ClassInfo
from pylint_distiller.analysis.frames import Element, Frame
from pylint_distiller.analysis.node_tables import nodes_in
from pylint_distiller.analysis.paths import Paths, cmax, empty, plus, times
from pylint_distiller.analysis.syntax import is_self_attr, is_staticmethod
from pylint_distiller.analysis.values import Evaluator

_NO_GRAD = frozenset(("torch.no_grad", "torch.inference_mode"))
#: calls that are true only while torch traces, scripts or compiles the model
_TRACING_PROBES = frozenset(("torch.jit.is_tracing", "torch.jit.is_scripting", "torch.onnx.is_in_onnx_export",
                             "torch.compiler.is_compiling", "torch._dynamo.is_compiling",
                             "torch.compiler.is_dynamo_compiling"))
_MAX_DEPTH = 12


class FlowWalk:
    """Mixin of `ForwardAnalysis`: statements, loops, bindings and helper calls."""

    def walk_block(self, stmts, frame: Frame) -> Paths:
        fall: Counter | None = empty()
        done: Counter = empty()
        for stmt in stmts:
            p = self.walk_stmt(stmt, frame)
            done = cmax(done, plus(fall, p.done))
            if p.fall is None:
                return Paths(None, done)
            fall = plus(fall, p.fall)
        return Paths(fall, done)

    def walk_stmt(self, stmt, frame: Frame) -> Paths:  # noqa: C901 - one dispatch over statements
        self._budget -= 1
        ev = Evaluator(self, frame)
        if isinstance(stmt, nodes.Assign):
            kind = ev.eval(stmt.value)
            for target in stmt.targets:
                self._bind_target(target, kind, stmt.value, frame, ev)
            self._track_shared_index(stmt.targets, stmt.value, frame)
            return ev.paths()
        if isinstance(stmt, nodes.AnnAssign):
            if stmt.value is not None:
                kind = ev.eval(stmt.value)
                self._bind_target(stmt.target, kind, stmt.value, frame, ev)
                self._track_shared_index([stmt.target], stmt.value, frame)
            return ev.paths()
        if isinstance(stmt, nodes.AugAssign):
            ev.aug_assign(stmt)
            return ev.paths()
        if isinstance(stmt, nodes.Expr):
            ev.eval(stmt.value)
            return ev.paths()
        if isinstance(stmt, nodes.Return):
            if stmt.value is not None:
                kind = ev.eval(stmt.value)
                frame.returns = K.join(frame.returns, kind)
                self._note_return_elements(stmt.value, ev, frame)
            return Paths(None, ev.counts)
        if isinstance(stmt, nodes.Raise):
            return Paths(None, empty())
        if isinstance(stmt, nodes.If):
            ev.eval(stmt.test)
            quiet_body, quiet_else = self.tracing_only(stmt.test, frame.scope.imports)
            old = frame.silent
            before = dict(frame.env)
            frame.silent = old or quiet_body
            _not_none(stmt.test, "is not", frame.env)
            body = self.walk_block(stmt.body, frame)
            after_body = dict(frame.env)
            if stmt.orelse:  # the else branch starts from what ran before the if, not after the body
                frame.env.clear()
                frame.env.update(before)
                _not_none(stmt.test, "is", frame.env)
            frame.silent = old or quiet_else
            orelse = self.walk_block(stmt.orelse, frame)
            frame.silent = old
            if stmt.orelse:  # a name the else rebinds may hold either branch's value; others keep the body's
                merged = {name: K.join(after_body.get(name), kind) for name, kind in frame.env.items()
                          if kind != before.get(name)}
                frame.env.clear()
                frame.env.update(after_body)
                frame.env.update(merged)
            return ev.then(Paths(cmax(body.fall, orelse.fall), cmax(body.done, orelse.done)))
        if isinstance(stmt, (nodes.For, nodes.While)):
            return self._walk_loop(stmt, frame, ev)
        if isinstance(stmt, nodes.With):
            silent = frame.silent
            for item, _ in stmt.items:
                ev.eval(item)
                target = item.func if isinstance(item, nodes.Call) else item
                if frame.scope.imports.qualify(target) in _NO_GRAD:
                    silent = True
            for _, var in stmt.items:
                if var is not None:
                    self._bind_target(var, K.UNKNOWN, None, frame, ev)
            old, frame.silent = frame.silent, silent
            body = self.walk_block(stmt.body, frame)
            frame.silent = old
            return ev.then(body)
        if isinstance(stmt, nodes.Try):
            body = self.walk_block(stmt.body, frame)
            orelse = self.walk_block(stmt.orelse, frame)
            handler_fall: Counter | None = None
            handler_done: Counter = empty()
            for handler in stmt.handlers:
                if handler.name is not None:
                    frame.env[handler.name.name] = K.OTHER
                h = self.walk_block(handler.body, frame)
                handler_fall = cmax(handler_fall, h.fall)
                handler_done = cmax(handler_done, h.done)
            body_all = cmax(body.fall, body.done) or empty()
            main_fall = None if body.fall is None or orelse.fall is None else plus(body.fall, orelse.fall)
            fall = cmax(main_fall, None if handler_fall is None else plus(body_all, handler_fall))
            done = cmax(cmax(body.done, orelse.done), plus(body_all, handler_done))
            final = self.walk_block(stmt.finalbody, frame)
            if fall is not None and final.fall is not None:
                fall = plus(fall, final.fall)
            elif final.fall is None:
                fall = None
            return Paths(fall, cmax(done, final.done))
        if isinstance(stmt, nodes.Match):
            ev.eval(stmt.subject)
            fall: Counter | None = None
            done: Counter = empty()
            exhaustive = False
            for case in stmt.cases:
                p = self.walk_block(case.body, frame)
                fall, done = cmax(fall, p.fall), cmax(done, p.done)
                exhaustive = exhaustive or (isinstance(case.pattern, nodes.MatchAs) and case.pattern.pattern is None)
            if not exhaustive:
                fall = cmax(fall, empty())
            return ev.then(Paths(fall, done))
        if isinstance(stmt, (nodes.FunctionDef, nodes.ClassDef)):
            frame.env[stmt.name] = K.FUNCTION
            return Paths()
        if isinstance(stmt, nodes.Assert):
            ev.eval(stmt.test)
            return ev.paths()
        if isinstance(stmt, (nodes.Delete, nodes.Pass, nodes.Break, nodes.Continue, nodes.Global,
                             nodes.Nonlocal, nodes.Import, nodes.ImportFrom)):
            return Paths()
        for child in stmt.get_children():  # anything else: evaluate what it holds
            if isinstance(child, nodes.NodeNG) and not child.is_statement:
                ev.eval(child)
        return ev.paths()

    @staticmethod
    def tracing_only(test: nodes.NodeNG, imports) -> tuple[bool, bool]:
        """(body, orelse) that run only while tracing, scripting or compiling, never in eager mode."""
        negated = False
        if isinstance(test, nodes.UnaryOp) and test.op == "not":
            negated, test = True, test.operand
        probes = [test]
        if isinstance(test, nodes.BoolOp) and test.op == "and" and not negated:
            probes = list(test.values)
        for probe in probes:
            if isinstance(probe, nodes.Call):
                name = imports.qualify(probe.func) or (
                    probe.func.name if isinstance(probe.func, nodes.Name) else "")
                if name in _TRACING_PROBES or name.rsplit(".", 1)[-1] in ("is_torchdynamo_compiling",):
                    return (False, True) if negated else (True, False)
        return False, False

    def _note_return_elements(self, value, ev: "Evaluator", frame: Frame) -> None:
        if frame.returns_mixed:
            return
        if isinstance(value, nodes.Tuple) and not any(isinstance(e, nodes.Starred) for e in value.elts):
            elts = [ev.kind_cache.get(e, K.UNKNOWN) for e in value.elts]
        else:
            elts = ev.elt_kinds.get(value)
        if elts is None:
            frame.returns_mixed, frame.returns_elts = True, None
        elif frame.returns_elts is None:
            frame.returns_elts = list(elts)
        elif len(frame.returns_elts) != len(elts):
            frame.returns_mixed, frame.returns_elts = True, None
        else:
            frame.returns_elts = [K.join(a, b) for a, b in zip(frame.returns_elts, elts)]

    def _walk_loop(self, stmt, frame: Frame, ev: "Evaluator") -> Paths:
        if isinstance(stmt, nodes.For):
            kind = ev.eval(stmt.iter)
            self._bind_loop_target(stmt.target, stmt.iter, kind, frame, ev, repeated=frame.multi)
        else:
            ev.eval(stmt.test)
        old, frame.multi = frame.multi, True
        frame.loops.append("loop")
        body = self.walk_block(stmt.body, frame)
        frame.loops.pop()
        frame.multi = old
        orelse = self.walk_block(stmt.orelse, frame)
        once = cmax(body.fall, body.done) or empty()
        fall = plus(times(once, 2), orelse.fall) if orelse.fall is not None else None
        if fall is None and not stmt.orelse:
            fall = times(once, 2)
        return ev.then(Paths(fall, times(body.done, 2)))

    def _track_shared_index(self, targets, value, frame: Frame) -> None:
        """`group = int(i / per_group)` in a loop: an index many loop turns share."""
        names = [t.name for t in targets if isinstance(t, nodes.AssignName)]
        if not names:
            return
        if frame.loops and self._many_to_one(value, frame):
            frame.shared_index.update(names)
        else:
            frame.shared_index.difference_update(names)

    @staticmethod
    def _many_to_one(expr: nodes.NodeNG, frame: Frame) -> bool:
        if isinstance(expr, nodes.Name):
            return expr.name in frame.shared_index
        for binop in nodes_in(expr, nodes.BinOp):
            if binop.op in ("/", "//", "%") and any(
                    n.name in frame.counters or n.name in frame.shared_index
                    for n in nodes_in(binop, nodes.Name)):
                return True
        return False

    # ------------------------------------------------------------- bindings
    _ELEMENT_OF = {K.TENSOR: K.TENSOR, K.TENSORS: K.TENSOR, K.SHAPE: K.NUMBER, K.MODULES: K.MODULE,
                   K.INDEX: K.INDEX, K.INDEXES: K.INDEX}

    def _bind_target(self, target, kind: str, value, frame: Frame, ev: "Evaluator") -> None:
        if isinstance(target, nodes.AssignName):
            frame.env[target.name] = kind
            frame.elements.pop(target.name, None)
            frame.counters.discard(target.name)
        elif isinstance(target, (nodes.Tuple, nodes.List)):
            elts = value.elts if isinstance(value, (nodes.Tuple, nodes.List)) and len(value.elts) == len(target.elts) else None
            known = ev.elt_kinds.get(value) if value is not None else None
            if known is not None and len(known) != len(target.elts):
                known = None
            for i, elt in enumerate(target.elts):
                if elts is not None:
                    sub = ev.kind_cache.get(elts[i], K.UNKNOWN)
                elif known is not None:
                    sub = known[i]
                else:
                    sub = self._ELEMENT_OF.get(kind, K.UNKNOWN)
                if isinstance(elt, nodes.Starred):
                    self._bind_target(elt.value, K.TENSORS if sub == K.TENSOR else K.SEQ, None, frame, ev)
                else:
                    self._bind_target(elt, sub, None, frame, ev)
        elif isinstance(target, nodes.AssignAttr):
            if isinstance(target.expr, nodes.Name) and target.expr.name == "self" and frame.owner is not None:
                self.forward_assigned.setdefault(frame.owner, set()).add(target.attrname)
            else:
                ev.eval(target.expr)
        elif isinstance(target, nodes.Subscript):
            ev.eval(target.value)
            ev.eval(target.slice)
        elif isinstance(target, nodes.Starred):
            self._bind_target(target.value, K.SEQ, None, frame, ev)

    def container_attr(self, node: nodes.NodeNG, owner: ClassInfo | None) -> str | None:
        """The container attribute `node` iterates (`self.blocks`, `self.blocks[1:]`, `.values()`)."""
        if owner is None:
            return None
        if isinstance(node, nodes.Subscript) and isinstance(node.slice, nodes.Slice):
            node = node.value
        if isinstance(node, nodes.Call) and isinstance(node.func, nodes.Attribute) and \
                node.func.attrname in ("values", "children", "modules") and not node.args:
            node = node.func.expr
        if isinstance(node, nodes.Call) and isinstance(node.func, nodes.Name) and node.func.name == "reversed" \
                and len(node.args) == 1:
            node = node.args[0]
        if is_self_attr(node):
            fact = owner.attrs.get(node.attrname)
            if fact is not None and fact.kind == attrs.CONTAINER:
                return node.attrname
        return None

    def element_targets(self, owner: ClassInfo, attr: str) -> tuple[ClassInfo, ...]:
        fact = owner.attrs.get(attr)
        if fact is None:
            return ()
        out = []
        for name in self.index.element_classes(fact):
            info = self.index.by_name.get(name)
            if info is not None and info.is_module and info not in out:
                out.append(info)
        return tuple(out)

    def _bind_element(self, target, attr: str, frame: Frame, repeated: bool) -> None:
        if isinstance(target, nodes.AssignName) and frame.owner is not None:
            frame.elements[target.name] = Element(attr, self.element_targets(frame.owner, attr),
                                                  len(frame.loops), repeated)

    def _bind_loop_target(self, target, iter_node, kind: str, frame: Frame, ev: "Evaluator",
                          repeated: bool = False) -> None:
        element = self._ELEMENT_OF.get(kind, K.UNKNOWN)
        if element == K.NUMBER and kind == K.SHAPE:
            element = K.NUMBER
        container = self.container_attr(iter_node, frame.owner)
        if isinstance(iter_node, nodes.Call) and isinstance(iter_node.func, nodes.Name):
            name = iter_node.func.name
            if name == "range":
                self._bind_target(target, K.NUMBER, None, frame, ev)
                if isinstance(target, nodes.AssignName):
                    frame.counters.add(target.name)
                return
            if name == "enumerate" and iter_node.args and isinstance(target, nodes.Tuple) and len(target.elts) == 2:
                inner = ev.kind_cache.get(iter_node.args[0], K.UNKNOWN)
                inner_el = self._ELEMENT_OF.get(inner, K.UNKNOWN)
                if inner == K.SHAPE:
                    inner_el = K.NUMBER
                self._bind_target(target.elts[0], K.NUMBER, None, frame, ev)
                self._bind_target(target.elts[1], inner_el, None, frame, ev)
                if isinstance(target.elts[0], nodes.AssignName):
                    frame.counters.add(target.elts[0].name)
                attr = self.container_attr(iter_node.args[0], frame.owner)
                if attr is not None:
                    self._bind_element(target.elts[1], attr, frame, repeated)
                return
            if name == "zip" and isinstance(target, nodes.Tuple) and len(target.elts) == len(iter_node.args):
                for elt, arg in zip(target.elts, iter_node.args):
                    inner = ev.kind_cache.get(arg, K.UNKNOWN)
                    sub = {K.MODULES: K.MODULE, K.TENSORS: K.TENSOR, K.TENSOR: K.TENSOR, K.INDEX: K.INDEX,
                           K.INDEXES: K.INDEX}.get(inner, K.UNKNOWN)
                    self._bind_target(elt, sub, None, frame, ev)
                    attr = self.container_attr(arg, frame.owner)
                    if attr is not None:
                        self._bind_element(elt, attr, frame, repeated)
                return
        if isinstance(iter_node, nodes.Call) and isinstance(iter_node.func, nodes.Attribute) and \
                iter_node.func.attrname in ("items", "values") and ev.kind_cache.get(iter_node.func.expr) == K.MODULES:
            element = K.MODULE if iter_node.func.attrname == "values" else K.UNKNOWN
            if iter_node.func.attrname == "items" and isinstance(target, nodes.Tuple) and len(target.elts) == 2:
                self._bind_target(target.elts[0], K.OTHER, None, frame, ev)
                self._bind_target(target.elts[1], K.MODULE, None, frame, ev)
                attr = self.container_attr(iter_node.func.expr, frame.owner)
                if attr is not None:
                    self._bind_element(target.elts[1], attr, frame, repeated)
                return
        self._bind_target(target, element, None, frame, ev)
        if container is not None:
            self._bind_element(target, container, frame, repeated)

    # ----------------------------------------------------------------- helpers
    def call_helper(self, func: nodes.FunctionDef, call: nodes.Call | None, arg_kinds: dict[str, str] | None,
                    frame: Frame, owner: ClassInfo | None, referenced: bool = False, foreign: bool = False):
        """Walk a same-file helper at this call; returns its result kind, paths and tuple element kinds."""
        self.helper_calls.record(call, func, arg_kinds, frame)  # (also a call not walked again below)
        if func in self._stack or frame.depth >= _MAX_DEPTH or self._budget <= 0 or self._skipped(func):
            return K.UNKNOWN, Paths(), None
        env = self._param_env(func, arg_kinds, is_forward=referenced)
        sub = Frame(owner, func, env, multi=frame.multi, silent=frame.silent, depth=frame.depth + 1,
                    foreign=foreign or frame.foreign, scope=self.scope_of(func))
        if isinstance(func.parent, nodes.Module):
            sub.module_param = self._module_param(func, call, frame)
            sub.caller = (frame.owner or frame.caller) if sub.module_param else None
            sub.lift = self.lifts.enter(self, frame, sub, call)
        elif is_staticmethod(func) and not sub.foreign:
            sub.lift = self.lifts.enter(self, frame, sub, call)  # no `self` either: lifted like a helper
        self._stack.append(func)
        try:
            paths = self.walk_block(func.body, sub)
        finally:
            self._stack.pop()
        if func.is_generator():
            return K.SEQ, paths, None
        self.helper_calls.returned(call, sub.returns)
        return sub.returns or K.UNKNOWN, paths, (None if sub.returns_mixed else sub.returns_elts)


def _not_none(test: nodes.NodeNG, op: str, env: dict) -> None:
    """In the branch where `name <op> None` holds, a name last seen as None holds something else.

    hrnet's `y = None` before a loop, then `if y is None: y = f(x) else: y = y + f(x)`:
    the loop body is walked once, where `y` is still None, but the else branch only runs on
    a later turn, when it holds what the body stored (unknown, so `y + f(x)` may be a tensor op).
    """
    if isinstance(test, nodes.Compare) and isinstance(test.left, nodes.Name) and len(test.ops) == 1:
        found, right = test.ops[0]
        if found == op and isinstance(right, nodes.Const) and right.value is None and \
                env.get(test.left.name) == K.OTHER:
            env[test.left.name] = K.UNKNOWN
