"""What kind of value an expression holds, as far as quantization cares.

Most arithmetic in model files is on shapes, counts and Python containers, not
on activations, so a value is a tensor only on evidence (design.md, "tensor
facts"). Every kind is a short string so the walker's environments stay cheap.
"""

from __future__ import annotations

from astroid import nodes

TENSOR = "T"  # evidence of a tensor
TENSORS = "TS"  # a Python sequence of tensors (iterating/indexing yields tensors)
INDEX = "I"  # a tensor that holds no activations: ids, positions, bool masks, indices
INDEXES = "IS"  # a Python sequence of such tensors
SHAPE = "SH"  # a torch.Size / tuple of ints
SEQ = "S"  # some other Python sequence (tuple, list): `+` concatenates
NUMBER = "N"  # a Python number (shape arithmetic, counters, constants)
OTHER = "O"  # str, bool, None, dict: never a tensor
MODULE = "M"  # an nn.Module instance
MODULES = "MS"  # a container of modules (ModuleList, Sequential, ModuleDict)
FUNCTION = "F"
UNKNOWN = "U"

#: kinds that make `+`/`*` a container operation, never a tensor op
CONTAINERS = frozenset((TENSORS, INDEXES, SHAPE, SEQ, OTHER))

#: kinds of values that are certainly not activations (no quantization finding on them)
PLAIN = frozenset((NUMBER, SHAPE, SEQ, OTHER, INDEX, INDEXES, MODULE, MODULES, FUNCTION))


def join(a: str | None, b: str | None) -> str:
    """The kind of a value that may come from either of two paths."""
    if a is None:
        return b or UNKNOWN
    if b is None or a == b:
        return a
    if TENSOR in (a, b):
        return TENSOR
    if UNKNOWN in (a, b):
        return UNKNOWN
    if INDEX in (a, b) and {a, b} - {INDEX} <= {NUMBER, OTHER}:
        return INDEX  # `pos = 0` on one path, `pos = torch.arange(n)` on another
    if {a, b} <= {TENSORS, INDEXES}:
        return TENSORS
    if {a, b} <= {SHAPE, SEQ}:
        return SEQ
    if OTHER in (a, b) and {a, b} - {OTHER} <= {NUMBER, SHAPE, SEQ, TENSORS}:
        # `x = None` then `x = 3`: the non-None path decides
        return (set((a, b)) - {OTHER}).pop()
    return UNKNOWN


def literal_kind(node: nodes.NodeNG | None) -> str:
    """Kind of a literal default value or constant."""
    if isinstance(node, nodes.Const):
        if isinstance(node.value, bool) or node.value is None or isinstance(node.value, (str, bytes)):
            return OTHER
        if isinstance(node.value, (int, float, complex)):
            return NUMBER
    if isinstance(node, nodes.UnaryOp) and isinstance(node.operand, nodes.Const):
        return literal_kind(node.operand)
    if isinstance(node, (nodes.Tuple, nodes.List)):
        return SEQ
    return UNKNOWN


_SEQ_ANNOTATIONS = ("tuple", "Tuple", "list", "List", "Sequence", "Iterable", "dict", "Dict", "Cache")


_INDEX_TENSORS = ("LongTensor", "IntTensor", "BoolTensor", "ByteTensor")


def annotation_kind(annotation: nodes.NodeNG | None) -> str | None:
    """Kind promised by a parameter annotation (`torch.Tensor`, `int`...), if any."""
    if annotation is None:
        return None
    text = annotation.as_string()
    bare = text.replace("Optional[", "").replace("typing.", "").strip()
    if bare.startswith(_SEQ_ANNOTATIONS):
        return TENSORS if "Tensor" in bare and bare.startswith(("list", "List", "tuple", "Tuple")) else SEQ
    if "Tensor" in text:
        if any(name in text for name in _INDEX_TENSORS) and "FloatTensor" not in text:
            return INDEX
        return TENSOR
    head = bare.split("|")[0].split("[")[0].strip()
    if head.rsplit(".", 1)[-1] in ("Module", "PreTrainedModel"):
        return MODULE
    head = bare.split("|")[0].split("]")[0].strip()
    if head in ("int", "float"):
        return NUMBER
    if head in ("bool", "str", "None"):
        return OTHER
    return None
