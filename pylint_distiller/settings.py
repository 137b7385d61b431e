"""User settings shared by the plugin, the CLI and the language server.

pylint reads them from its own options (`distiller-*`); the CLI and the language
server read the same keys from ``[tool.pylint.distiller]`` (or the pylint
``[tool.pylint.*]`` section that holds them) of the nearest pyproject.toml, so one
configuration drives every entry point. `select`/`ignore` (`pylint_distiller.selection`)
apply everywhere, the pylint plugin included; `exclude`, `extend_exclude` and
`respect_gitignore` (`pylint_distiller.scope`) decide which files the CLI and the
language server look at, relative to `project_root`, and pylint accepts but leaves them
to its own `ignore-paths`.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path

from pylint_distiller import selection
from pylint_distiller.catalogue import DISTILLER, TARGETS
from pylint_distiller.scope import DEFAULT_EXCLUDE


@dataclass(frozen=True)
class Settings:
    target: str = DISTILLER
    module_bases: tuple[str, ...] = ()
    ignore_ops: tuple[str, ...] = ()
    flag_data_movement: bool = False
    report_stateless_reuse: bool = True
    select: tuple[str, ...] = ()  # rule selectors (symbols, ids, id prefixes); empty: every rule
    ignore: tuple[str, ...] = ()
    exclude: tuple[str, ...] = DEFAULT_EXCLUDE  # gitignore-style patterns, relative to project_root
    extend_exclude: tuple[str, ...] = ()
    respect_gitignore: bool = True
    project_root: str | None = None  # the folder of the pyproject.toml read (None: the current directory)

    def __post_init__(self) -> None:
        if self.target not in TARGETS:
            raise ValueError(f"unknown target {self.target!r}; expected one of {', '.join(TARGETS)}")
        selection.validate(self.select)
        selection.validate(self.ignore)

    def reports(self, symbol: str) -> bool:
        """Whether rule `symbol` is selected (`select`/`ignore`; pragmas are applied separately)."""
        return symbol in selection.selected(self.select, self.ignore)

    def ignores(self, key: str, shown: str) -> bool:
        """An op is ignored by its catalogue key (`torch.cat`) or display (`F.relu`, `+`)."""
        return key in self.ignore_ops or shown in self.ignore_ops


#: option name (as in pylint and pyproject) -> Settings field
OPTION_FIELDS = {
    "distiller-target": "target",
    "distiller-module-bases": "module_bases",
    "distiller-ignore-ops": "ignore_ops",
    "distiller-flag-data-movement": "flag_data_movement",
    "distiller-report-stateless-reuse": "report_stateless_reuse",
    "distiller-select": "select",
    "distiller-ignore": "ignore",
    "distiller-exclude": "exclude",
    "distiller-extend-exclude": "extend_exclude",
    "distiller-respect-gitignore": "respect_gitignore",
}
_LISTS = ("module_bases", "ignore_ops", "select", "ignore", "exclude", "extend_exclude")
_FLAGS = ("flag_data_movement", "report_stateless_reuse", "respect_gitignore")


def _coerce(field_name: str, value: object) -> object:
    if field_name in _LISTS:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",")]
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"{field_name.replace('_', '-')}: expected a list of strings, got {value!r}")
        return tuple(v for v in value if v)
    if field_name in _FLAGS:
        if isinstance(value, str):
            return value.strip().lower() in ("y", "yes", "true", "1")
        return bool(value)
    return value


def from_mapping(values: dict, base: Settings | None = None) -> Settings:
    """Build Settings from option names (`distiller-target`) or field names."""
    changes = {}
    for key, value in values.items():
        name = OPTION_FIELDS.get(key, key.replace("-", "_"))
        if name in Settings.__dataclass_fields__:
            changes[name] = _coerce(name, value)
    return replace(base or Settings(), **changes)


def find_pyproject(start: str | os.PathLike) -> Path | None:
    path = Path(start).resolve()
    for folder in (path, *path.parents) if path.is_dir() else path.parents:
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def from_pyproject(start: str | os.PathLike) -> Settings:
    """Read `distiller-*` keys from any ``[tool.pylint.*]`` table of the nearest pyproject."""
    pyproject = find_pyproject(start)
    if pyproject is None:
        return Settings()
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return Settings()
    pylint_cfg = data.get("tool", {}).get("pylint", {})
    found: dict = {}
    for table in (pylint_cfg, *[v for v in pylint_cfg.values() if isinstance(v, dict)]):
        found.update({k: v for k, v in table.items() if k in OPTION_FIELDS})
    found["project_root"] = str(pyproject.parent)
    return from_mapping(found)

