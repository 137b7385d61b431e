"""One file's findings in project mode: its own forwards, plus what other files' forwards reach in it.

Each file still owns its findings (design.md): an op of a helper in `utils.py`
that `Detector.forward` in `model.py` runs is reported in `utils.py`, naming
`Detector`. Two facts cross files, both read from the cached walks of the files
that import this one (`ProjectIndex.dependents`):

* op sites of this file that those walks visited (helpers, inherited forwards),
  with whether they ran repeatedly and which classes reached them;
* runs per pass of this file's module classes as those files call them
  (`self.mlp2 = self.mlp3 = Mlp()` runs one `Mlp` twice), which make the module
  calls of their forwards reused (`multiplicity.py` seeds).

The result depends only on the files' contents, never on which files a process
analysed before, so pylint's `-j 2` reports what `-j 1` does.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from astroid import nodes

from pylint_distiller.analysis.forward import ForwardAnalysis
from pylint_distiller.analysis.positions import Positions
from pylint_distiller.analysis.project import ProjectIndex
from pylint_distiller.analysis.report import Reporter
from pylint_distiller.analysis.sites import OpSite
from pylint_distiller.analysis.plans import Planner
from pylint_distiller.findings import Finding, Fix
from pylint_distiller.settings import Settings


@dataclass
class Reached:
    """What forwards of other files run in one file."""

    sites: list[OpSite] = field(default_factory=list)
    runs: dict[nodes.ClassDef, int] = field(default_factory=dict)  # runs per pass of its classes
    forwards: list = field(default_factory=list)  # (per_forward entry, walk) with calls in the file


def reached_in(project: ProjectIndex, path: str) -> Reached:
    """Op sites and module calls of `path` that other files' forwards run, and runs of its classes there."""
    module = project.module(path)
    sites: dict[nodes.NodeNG, OpSite] = {}
    out = Reached()
    runs = out.runs
    if module is None:
        return out
    for dependent in project.dependents(path):
        walk = project.walk(dependent)
        if walk is None:
            continue
        for entry in walk.per_forward:
            if any(call.root() is module for call in entry[3]):
                out.forwards.append((entry, walk))
        for site in walk.ops.values():
            if site.node.root() is not module:
                continue
            names = {info.name for info in site.reached_by} or ({site.owner.name} if site.owner else set())
            known = sites.get(site.node)
            if known is None:
                sites[site.node] = replace(site, elsewhere=tuple(sorted(names)), callers=set(site.callers),
                                           reached_by=set(site.reached_by))
            else:
                sites[site.node] = replace(known, multi=known.multi or site.multi, loud=known.loud or site.loud,
                                           elsewhere=tuple(sorted(set(known.elsewhere) | names)))
        for info, count in walk.multiplicity.items():
            if count > 1 and info.node.root() is module:
                runs[info.node] = max(runs.get(info.node, 1), count)
    out.sites = list(sites.values())
    return out


def _walk(project: ProjectIndex, path: str, runs) -> ForwardAnalysis:
    """The file's walk, seeded with the runs other files give its classes (both cached by the project)."""
    return project.seeded_walk(path, runs) if runs else project.walk(path)


def lift_fixes(project: ProjectIndex, path: str, settings: Settings) -> list[tuple[Fix, OpSite]]:
    """Fixes of `path` that lift a helper of another project file into a class there (`lifting.py`),
    each with the first op site (in the helper's file) it gives a module."""
    entry = project.entry(path)
    index = project.index(path)
    if entry is None or index is None or not index.module_classes():
        return []
    walk = _walk(project, path, reached_in(project, path).runs)
    if all(root.func.root() is entry.module for root in walk.lifts.roots.values()):
        return []
    return Planner(index, walk, Positions(entry.text), settings.target).lifter.across(settings)


def analyze_in_project(project: ProjectIndex, path: str, settings: Settings | None = None) -> list[Finding]:
    """Findings of one project file, reported under `path` as given (an empty list when it does not parse)."""
    settings = settings or project.settings
    entry = project.entry(path)
    index = project.index(path)
    if entry is None or index is None:
        return []
    found = reached_in(project, path)
    reached, runs = found.sites, found.runs
    if not index.module_classes() and not reached and not found.forwards:
        return []
    walk = _walk(project, path, runs)
    own = {node for node in walk.ops if node.root() is entry.module}
    for i, site in enumerate(reached):
        if site.node in own and not (walk.ops[site.node].owner is None and walk.ops[site.node].module_param):
            # also this file's own op: its own plan holds (a member of the class the code is in),
            # made unsafe when another file runs it repeatedly
            reached[i] = replace(site, elsewhere=())
    reporter = Reporter(index, walk, Positions(entry.text), settings, path, reached=reached,
                        reached_forwards=found.forwards)
    return reporter.run()
