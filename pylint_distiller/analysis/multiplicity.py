"""How many times per forward pass each module class, and so each of its submodule calls, runs.

After the walk, a class whose instance runs more than once per pass (called
twice, or an element of a container indexed many-to-one, ALBERT-style) passes
that multiplicity on to every module call of its own forward: those submodules
run more than once as well.
"""

from __future__ import annotations

from astroid import nodes

from pylint_distiller.analysis.classes import ClassInfo
from pylint_distiller.analysis.paths import may_share_path

_MAX_MULTIPLICITY = 8


class Multiplicity:
    """Mixin of `ForwardAnalysis`: runs per pass and reuse through repeated instances."""

    def _propagate_multiplicity(self) -> None:
        """Runs per pass of every module class, and reuse inside classes that run repeatedly."""
        entries = {info: (totals, calls) for info, _f, totals, calls in self.per_forward}
        for info, (totals, calls) in entries.items():
            injected = self.index.injected_attrs(info)
            if not injected:
                continue
            for call in calls:
                record = self.calls[call]
                if record.attr not in injected or record.element:
                    continue
                # several instances hold this one module: each call of it is one of many
                record.multi = True
                totals[record.attr] = max(totals.get(record.attr, 0), 1) * 2
                if not record.targets:
                    record.targets = tuple(self.index.by_name[n] for n in sorted(injected[record.attr])
                                           if n in self.index.by_name and self.index.by_name[n].is_module)
        # classes another file of the project runs several times per pass (`Mlp` of three aliases)
        mult: dict[ClassInfo, int] = {}
        for klass, runs in self.seed_runs.items():
            info = self.index.classes.get(klass)
            owner = self._forward_owner(info) if info is not None else None
            if owner is not None and runs > mult.get(owner, 1):
                mult[owner] = min(runs, _MAX_MULTIPLICITY)
        for _round in range(len(entries) + 2):
            changed = False
            for info, (totals, calls) in entries.items():
                runs = mult.get(info, 1)
                for call in calls:
                    record = self.calls[call]
                    per_pass = totals.get(record.attr, 0)
                    if record.element and not record.multi:
                        per_pass = 1
                    per_pass = max(per_pass, 1)
                    for target in record.targets:
                        owner = self._forward_owner(target)
                        if owner is None:
                            continue
                        value = min(runs * per_pass, _MAX_MULTIPLICITY)
                        if value > mult.get(owner, 1):
                            mult[owner] = value
                            changed = True
            if not changed:
                break
        self.multiplicity = mult
        self._drop_lone_calls()
        for info, _f, totals, calls in self.per_forward:
            runs = mult.get(info, 1)
            if runs < 2:
                continue
            for call in calls:
                record = self.calls[call]
                record.multi = True
                totals[record.attr] = max(totals.get(record.attr, 0), 1) * runs
            for node in self._forward_ops.get(info, ()):
                site = self.ops.get(node)
                if site is not None:
                    site.multi = True

    def _drop_lone_calls(self) -> None:
        """Forget call sites that are the only call of their module on every path through them.

        `if dist: a = self.drop(a); b = self.drop(b) else: a = self.drop(a)`: the
        module is reused, but only by the two calls of the first branch; the call
        of the other branch is the single call of its path and is not a finding.
        """
        for index, (info, func, totals, calls) in enumerate(self.per_forward):
            by_attr: dict[str, list[nodes.Call]] = {}
            for call in calls:
                record = self.calls[call]
                if totals.get(record.attr, 0) >= 2 and not record.element:
                    group = by_attr.setdefault(record.attr, [])
                    if call not in group:
                        group.append(call)
            lone = set()
            for group in by_attr.values():
                for call in group:
                    if self.calls[call].multi:
                        continue
                    if not any(may_share_path(call, other) for other in group if other is not call):
                        lone.add(call)
            if lone:
                self.per_forward[index] = (info, func, totals, [c for c in calls if c not in lone])
