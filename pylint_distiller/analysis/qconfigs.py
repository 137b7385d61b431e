"""Per-module qconfigs the torch-eager target needs, set at the end of `__init__`.

`prepare` keeps a child's own `qconfig` over its parent's (`propagate_qconfig_`), so a
member can be configured where it is built:

* `nn.ConvTranspose1d/2d`: the x86 default qconfig observes weights per channel, which
  their convert rejects; a per-tensor weight qconfig (x86 activations) converts;
* `nn.PReLU`: in eager's module mapping, but its convert fails: `qconfig = None` keeps it
  float (its calls run in float islands);
* a module whose `.weight` forward reads (`F.linear(x, self.qkv.weight)`): after convert
  a quantized Linear's `weight` is a method, so it stays float (`qconfig = None`).

A `qconfig` attribute is no state: the state_dict and the float outputs do not change
(safe). It is set only for a member assigned directly in `__init__`'s body (not under a
condition), or built with one type on every path of `__init__`, so the line at the end
always finds it.
"""

from __future__ import annotations

from astroid import nodes

from pylint_distiller import eager_support as E
from pylint_distiller.analysis import classes as attrs
from pylint_distiller.analysis.classes import ClassInfo
from pylint_distiller.analysis.conditions import surely_assigned
from pylint_distiller.analysis.float_built import returned_by_forward
from pylint_distiller.analysis.node_tables import nodes_in
from pylint_distiller.analysis.operands import QUANT_STUB, is_quant_stub, parameters_in
from pylint_distiller.analysis.plans import _EARLY_RETURN, Plan, Planner, init_of
from pylint_distiller.analysis.weight_reads import metadata_read
from pylint_distiller.catalogue import STATELESS_MODULES
from pylint_distiller.findings import Applicability, Fix, Member


def parameter_fed(info: ClassInfo) -> dict[str, nodes.Call]:
    """Member modules every call of which (outside `__init__`) takes float parameters only:
    `self.cpb_mlp(self.relative_coords_table)` (SwinV2's continuous position bias). One call each."""
    calls: dict[str, list[nodes.Call]] = {}
    for method in info.node.mymethods():
        if method.name == "__init__":
            continue
        for call in method.nodes_of_class(nodes.Call):
            func = call.func
            if isinstance(func, nodes.Attribute) and isinstance(func.expr, nodes.Name) and func.expr.name == "self" \
                    and func.attrname in info.attrs:
                calls.setdefault(func.attrname, []).append(call)
    return {attr: found[0] for attr, found in calls.items()
            if info.attrs[attr].kind in (attrs.MODULE, attrs.CONTAINER) and all(parameters_in(c, info) for c in found)}


class QConfigPlanner:
    def __init__(self, planner: Planner) -> None:
        self.p = planner
        self.pos = planner.pos

    def qconfig_findings(self, info: ClassInfo) -> list[tuple[nodes.NodeNG, str, Plan]]:
        """Members whose own qconfig eager needs: ConvTranspose (per-tensor weights), PReLU (stays float).

        The qconfig is set at the end of `__init__` (`self.up.qconfig = ...`): `prepare` keeps a
        child's own qconfig over its parent's (`propagate_qconfig_`). A `qconfig` attribute is no
        state: the state_dict and the float outputs do not change (safe).
        """
        out = []
        init = init_of(info.node)
        if init is None:
            return out
        configured = {n.expr.attrname for n in info.node.nodes_of_class(nodes.AssignAttr) if n.attrname == "qconfig"
                      and isinstance(n.expr, nodes.Attribute) and isinstance(n.expr.expr, nodes.Name)
                      and n.expr.expr.name == "self"}
        configured |= {n.expr.value.attrname for n in info.node.nodes_of_class(nodes.AssignAttr)
                       if n.attrname == "qconfig" and isinstance(n.expr, nodes.Subscript)
                       and isinstance(n.expr.value, nodes.Attribute)}
        weights_read, called = self._weight_reads(info)
        fed_parameters = parameter_fed(info)
        for attr, fact in info.attrs.items():
            if attr not in configured and len(fact.values) > 1:
                found = self._built_on_every_path(info, init, attr, fact)
                if found is not None:
                    out.append(found)
                continue
            if attr in configured or len(fact.values) != 1 or not isinstance(fact.values[0], nodes.Call):
                continue
            ctor = fact.values[0]
            # (first: a member called on float values only stays float, so its `.weight` stays a tensor too)
            if attr in fed_parameters and fact.qname not in STATELESS_MODULES and not is_quant_stub(fact):
                out.append(self._parameter_fed_finding(info, init, attr, ctor, fed_parameters[attr]))
                continue
            if fact.kind == attrs.MODULE and attr in weights_read and fact.qname in E.QUANTIZED_MODULES \
                    and fact.qname not in STATELESS_MODULES:
                if attr not in called:  # (one also called keeps its qconfig: `weight_reads.py` moves the read)
                    out.append(self._weight_read_finding(info, init, attr, fact, ctor, weights_read[attr]))
                continue
            if fact.kind == attrs.MODULE:
                elements = [(f"self.{attr}", attr, ctor)]
            elif fact.kind == attrs.CONTAINER and fact.qname == "torch.nn.Sequential" and not ctor.keywords:
                elements = [(f"self.{attr}[{i}]", f"{attr}[{i}]", arg) for i, arg in enumerate(ctor.args)
                            if isinstance(arg, nodes.Call)]
            else:
                continue
            for shown, member, call in elements:
                qname = self.p.imports.qualify(call.func)
                found = self._qconfig_finding(info, init, shown, member, ctor, call, qname)
                if found is not None:
                    out.append(found)
        return out

    def _weight_reads(self, info: ClassInfo) -> tuple[dict[str, nodes.Attribute], set[str]]:
        """Members whose `.weight`/`.bias` forward code reads, and members it calls.

        A `@torch.no_grad()` method that no other method calls is no forward code (timm's
        `fuse()` folding a BatchNorm into the Linear after it, run before deployment): its reads
        keep nothing float."""
        reads: dict[str, nodes.Attribute] = {}
        called: set[str] = set()
        methods = list(info.node.mymethods())
        used = {n.attrname for m in methods for n in nodes_in(m, nodes.Attribute)
                if isinstance(n.expr, nodes.Name) and n.expr.name == "self" and n.attrname != m.name}
        for method in methods:
            if method.name == "__init__" or self.p.walk._skipped(method) and method.name not in used:
                continue
            for node in method.nodes_of_class((nodes.Attribute, nodes.Call)):
                if isinstance(node, nodes.Call):
                    func = node.func
                    if isinstance(func, nodes.Attribute) and isinstance(func.expr, nodes.Name) \
                            and func.expr.name == "self":
                        called.add(func.attrname)
                elif node.attrname in ("weight", "bias") and isinstance(node.expr, nodes.Attribute) \
                        and isinstance(node.expr.expr, nodes.Name) and node.expr.expr.name == "self" \
                        and not metadata_read(node):  # `.weight.dtype`: `weight_reads.py` moves the read
                    reads.setdefault(node.expr.attrname, node)
        return reads, called

    def _parameter_fed_finding(self, info, init, attr, ctor, call):
        if returned_by_forward(call):
            return self._returned_float_finding(info, attr, call)
        message = (f"self.{attr} is called on float parameters or buffers only ({call.as_string()[:60]}): after "
                   f"convert a quantized module cannot take a float tensor; keep self.{attr} float "
                   "(qconfig = None), its result stays a float tensor")
        return self._qconfig_edit(info, init, ctor, ctor, attr, "None", (), f"Set self.{attr}.qconfig = None",
                                  message)

    def _returned_float_finding(self, info, attr, call):
        """The member's result leaves forward, where callers take it for an activation: quantize its input
        (`self.token_projection(self.token_projection_quant(pos))`) so that it quantizes and returns one."""
        message = (f"self.{attr} is called on float tensors only ({call.as_string()[:60]}), and forward returns its "
                   f"result, which a caller takes for a quantized activation: after convert a quantized module "
                   f"cannot take a float tensor; give its input a QuantStub")
        if len(call.args) != 1 or call.keywords or isinstance(call.args[0], nodes.Starred):
            return call, message, Plan("", None, "only a call with one tensor argument gets a QuantStub (manual)")
        if not self.p._extendable(info.node.lineno):
            return call, message, Plan("", None, _EARLY_RETURN)
        stub, imports = self.p.render(QUANT_STUB)
        arg = self.pos.span(call.args[0])
        fix = Fix(title=f"Quantize the input of self.{attr}", applicability=Applicability.SAFE, span=arg,
                  template="self.{m}({0})", holes=(arg,), member=Member(f"{attr}_quant", f"{stub}()"),
                  imports=imports, class_lines=(info.node.lineno,))
        return call, message, Plan("QuantStub", fix)

    def _weight_read_finding(self, info, init, attr, fact, ctor, read):
        short = (fact.qname or "").replace("torch.nn.", "nn.")
        message = (f"forward reads {read.as_string()}: after convert, a quantized {short}'s weight is a method, "
                   f"not a tensor; keep self.{attr} float (qconfig = None)")
        return self._qconfig_edit(info, init, ctor, ctor, attr, "None", (), f"Set self.{attr}.qconfig = None",
                                  message)

    def _built_on_every_path(self, info, init, attr, fact):
        """timm lowformer's `if ...: self.upsampling = nn.ConvTranspose2d(...) else: ... = nn.ConvTranspose2d(...)`:
        one type, built on every path of `__init__` (never None): a qconfig at its end always finds it."""
        qnames = {self.p.imports.qualify(v.func) if isinstance(v, nodes.Call) and v.frame() is init else None
                  for v in fact.values}
        if len(qnames) != 1 or None in qnames or fact.kind != attrs.MODULE or not surely_assigned(info, attr):
            return None
        ctor = fact.values[0]
        return self._qconfig_finding(info, init, f"self.{attr}", attr, ctor, ctor, qnames.pop(), every_path=True)

    def _qconfig_finding(self, info, init, shown, member, ctor, call, qname, every_path=False):
        if qname in E.PER_TENSOR_WEIGHT_MODULES:
            qconfig, imports = self._per_tensor_qconfig()
            message = (f"{qname.replace('torch.nn.', 'nn.')} does not convert with the x86 default qconfig (its "
                       f"per-channel weight observer is not supported); give {shown} a per-tensor weight qconfig")
            title = f"Set {shown}.qconfig = {qconfig}"
        elif qname in E.MAPPED_FLOAT_ONLY_MODULES:
            qconfig, imports = "None", ()
            message = (f"{qname.replace('torch.nn.', 'nn.')} has no working quantized module (its convert fails): "
                       f"keep {shown} float with qconfig = None (its calls run in float islands)")
            title = f"Set {shown}.qconfig = None"
        else:
            return None
        return self._qconfig_edit(info, init, ctor, call, member, qconfig, imports, title, message, every_path)

    def _qconfig_edit(self, info, init, ctor, call, member, qconfig, imports, title, message, every_path=False):
        """`self.<member>.qconfig = <qconfig>` at the end of `__init__` (after the member is built)."""
        statement = ctor.statement()
        if not every_path and (statement.parent is not init or not isinstance(statement, nodes.Assign)):
            return call, message, Plan("", None, "it is not assigned directly in __init__'s body, so a qconfig set "
                                                 "at its end might not find it (manual)")
        if not self.p._extendable(info.node.lineno):
            return call, message, Plan("", None, _EARLY_RETURN)
        span = self.pos.span(call)
        fix = Fix(title=title, applicability=Applicability.SAFE, span=span, template="{0}", holes=(span,),
                  member=Member(f"{member}.qconfig", qconfig), imports=imports, class_lines=(info.node.lineno,))
        return call, message, Plan(qconfig, fix)

    def _per_tensor_qconfig(self) -> tuple[str, tuple[str, ...]]:
        qconfig, imports = self.p.render("torch.ao.quantization.QConfig")
        default, more = self.p.render("torch.ao.quantization.get_default_qconfig")
        weight, most = self.p.render("torch.ao.quantization.default_weight_observer")
        text = f'{qconfig}(activation={default}("x86").activation, weight={weight})'
        return text, tuple(dict.fromkeys(imports + more + most))
