"""The rule catalogue: every message and every op, as data.

One source of truth for the checker (what to report), the rewrite engine (what
replaces it, per target), the rule pages and the tests. Nothing here knows about
astroid; the analysis looks ops up by their qualified key:

* ``operator.add`` ... for Python operators on tensors (``a + b``), and
  ``operator.iadd`` ... for their augmented forms (``a += b``);
* ``torch.cat`` ... for functions of the torch namespace;
* ``torch.nn.functional.relu`` ... for functionals;
* ``Tensor.add`` ... for tensor methods (the receiver binds to ``input``).

A target column holds a `Replacement` (the module that makes the op visible to
that quantizer), `UNSUPPORTED` (report, no fix: the quantizer has no module for
it) or `NATIVE` (not reported for that target: its quantized tensors support the
op as is, as torchvision's hand-prepared models show for pooling, mean, flatten).

The data lives in four modules: `targets` (targets, message ids), `rules` (the messages),
`ops` (the op rows) and `modules` (what is known of torch.nn modules).
"""

from pylint_distiller.catalogue.targets import (  # noqa: F401 - the catalogue's public names
    BASE_ID,
    DISTILLER,
    DOCS_URL,
    TARGETS,
    TORCH_EAGER,
)
from pylint_distiller.catalogue.rules import (  # noqa: F401 - the catalogue's public names
    Applicability,
    RULES,
    Rule,
)
from pylint_distiller.catalogue.ops import (  # noqa: F401 - the catalogue's public names
    DM,
    FF,
    NATIVE,
    NN,
    OPS,
    OpSpec,
    Replacement,
    UNSUPPORTED,
)
from pylint_distiller.catalogue.modules import (  # noqa: F401 - the catalogue's public names
    CONTAINER_MODULES,
    FUSABLE_CHAINS,
    FUSE_FUNCTIONS,
    FUSE_METHOD,
    FusableChain,
    KNOWN_SEQUENTIALS,
    LayerArg,
    MODULE_ATTRIBUTES,
    NON_TENSOR_METHODS,
    QUANT_NEUTRAL_MODULES,
    QuantizableVariant,
    STATELESS_MODULES,
    STATELESS_QUANT_MODULES,
    TENSOR_CLASSES,
    TENSOR_FACTORIES,
    TENSOR_METADATA_ATTRS,
    TRAINING_ONLY_SUFFIXES,
    UNQUANTIZABLE,
)
