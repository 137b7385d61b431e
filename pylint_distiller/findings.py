"""The two value types every consumer shares: a `Finding` and its `Fix` plan.

The analysis produces findings; the pylint checker turns them into messages, the
rewrite engine applies their fixes, `verify` cross-checks them against a model run
and the language server publishes them. Keeping them plain, frozen data (no astroid
nodes inside) is what lets all four consumers, and JSON output, share them.

Positions follow astroid/pylint: lines are 1-based, columns are 0-based offsets in
*characters* of the line (Python's `ast` col_offset is in UTF-8 bytes; the analysis
converts). `end_line`/`end_col` are exclusive ends of the flagged expression.
`Applicability` is catalogue data (every op row has one); it is re-exported here.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from pylint_distiller.catalogue import RULES, Applicability

__all__ = ["Applicability", "Confidence", "Definition", "Edit", "Finding", "Fix", "Member", "NewClass", "Span"]


@dataclass(frozen=True)
class Edit:
    """Replace the text between two (line, col) positions with `text`.

    An insertion has start == end. Columns are character offsets in the line.
    """

    line: int
    col: int
    end_line: int
    end_col: int
    text: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "start": {"line": self.line, "col": self.col},
            "end": {"line": self.end_line, "col": self.end_col},
            "text": self.text,
        }


@dataclass(frozen=True)
class Member:
    """A module member the fix adds at the end of the owning class's `__init__`.

    `name` is the preferred attribute name (the engine makes it unique);
    `constructor` the expression text, e.g. ``distiller.modules.EltwiseAdd(inplace=True)``.
    A dotted name (``up.qconfig``) sets an attribute of an existing member and is kept as is.
    """

    name: str
    constructor: str
    #: attributes `__init__` may not create (conditionally assigned): the member is only
    #: created when all of them exist (`if hasattr(self, "ln_1_kv"): ...`), as its original is
    guard: tuple[str, ...] = ()

    def statement(self, name: str) -> str:
        """The assignment line, without its guard."""
        return f"self.{name} = {self.constructor}"

    def condition(self) -> str:
        return " and ".join(f'hasattr(self, "{attr}")' for attr in self.guard)


Span = tuple[int, int, int, int]  # (line, col, end_line, end_col), columns in characters


@dataclass(frozen=True)
class Method:
    """A method a fix adds to its class, or the lines it puts at the start of an existing one.

    `lines` are source lines indented relative to the class body in units of four
    spaces (the engine re-indents them to the file's own indentation). A new method
    (``extend=False``) goes at the end of the class; with ``extend=True`` the class
    already has a method `name` and `lines` are statements put at the start of its
    body, after its docstring and any leading ``if ...: return`` guard.
    """

    name: str
    lines: tuple[str, ...]
    extend: bool = False


@dataclass(frozen=True)
class NewClass:
    """A module-level class a fix adds after line `after_line` (a helper lifted into a module class).

    `lines` are the class's source lines, indented in the file's own unit; fixes that
    add the same class (several call sites of one helper) add it once. A class for
    another file (`path`) is added there by the caller of the engine, in the same
    all-or-nothing write as this file (`fixer/together.py`).
    """

    after_line: int
    name: str
    lines: tuple[str, ...]
    imports: tuple[str, ...] = ()  # import lines the class needs in its file
    path: str = ""  # the project file it goes into ("" for the file being fixed)


@dataclass(frozen=True)
class Definition:
    """A top-level definition a fix needs in the file (a class its method uses), added once.

    The engine puts `lines` (unindented source, four-space units) before the first top-level
    statement that holds a class the fix changes, unless the file already binds `name`.
    """

    name: str
    lines: tuple[str, ...]


@dataclass(frozen=True)
class Fix:
    """A fix plan for one finding: data, applied by the rewrite engine.

    `span` is the text the fix replaces and `template` its replacement, where
    ``{m}`` stands for the new member's attribute name (made unique by the engine)
    and ``{0}``, ``{1}``... for the current text of `holes` (spans of the original
    source, such as the operands of ``a + b``). Holes let nested fixes compose in
    one pass: ``(a + b) * c`` becomes ``self.mul(self.add(a, b), c)``. `member` is
    added at the end of ``__init__`` of each class defined at `class_lines` (one
    class for a method; every calling class for a module-level helper that receives
    the module as an argument). `extra_members` are further members of the same
    classes, named ``{m1}``, ``{m2}``... in the template (a float island's stubs).
    """

    title: str
    applicability: Applicability
    span: Span | None = None
    template: str = ""
    holes: tuple[Span, ...] = ()
    member: Member | None = None
    imports: tuple[str, ...] = ()
    class_lines: tuple[int, ...] = ()
    extra_members: tuple[Member, ...] = ()
    method: Method | None = None  # added to (or extending) the class at class_lines[0]
    classes: tuple[NewClass, ...] = ()  # module-level classes the fix adds (`lifting.py`)
    definitions: tuple[Definition, ...] = ()  # top-level definitions the method uses

    @property
    def applies(self) -> bool:
        return self.applicability is not Applicability.MANUAL and (self.span is not None or self.method is not None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "applicability": self.applicability.value,
            "member": None
            if self.member is None
            else {"name": self.member.name, "constructor": self.member.constructor,
                  "guard": list(self.member.guard)},
            "imports": list(self.imports),
            "method": None if self.method is None else {"name": self.method.name, "extend": self.method.extend},
            "classes": [c.name for c in self.classes],
        }


class Confidence(str, enum.Enum):
    """Mirrors pylint's HIGH / INFERENCE levels.

    HIGH: the evidence is direct (a resolved torch name, a value produced by a
    submodule call). INFERENCE: one step of guessing (an unresolved base class that
    defines forward, an attribute assigned from an unknown factory).
    """

    HIGH = "HIGH"
    INFERENCE = "INFERENCE"


@dataclass(frozen=True)
class Finding:
    """One quantization-unfriendly pattern at one expression."""

    symbol: str
    path: str
    line: int
    col: int
    end_line: int
    end_col: int
    args: tuple[str, ...]
    message: str
    confidence: Confidence = Confidence.HIGH
    fix: Fix | None = None
    klass: str | None = None  # the nn.Module subclass whose forward owns the op
    op: str | None = None  # catalogue key of the op, e.g. "torch.cat" or "operator.add"
    #: the astroid node, for the pylint checker (node-scoped messages need one); never serialised
    node: Any = field(default=None, compare=False, hash=False, repr=False)

    @property
    def msgid(self) -> str:
        return RULES[self.symbol].msgid

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "symbol": self.symbol,
            "code": self.msgid,
            "message": self.message,
            "line": self.line,
            "col": self.col,
            "end_line": self.end_line,
            "end_col": self.end_col,
            "confidence": self.confidence.value,
            "class": self.klass,
            "op": self.op,
            "fix": None if self.fix is None else self.fix.as_dict(),
        }
