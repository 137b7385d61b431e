"""What the analysis knows of torch.nn modules: state, containers, fusable chains, variants."""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

from pylint_distiller.catalogue.targets import DISTILLER
from pylint_distiller.catalogue.ops import DM, NN


# ----------------------------------------------------------- module knowledge
#: torch.nn modules that hold no parameters and no buffers: reusing one is not
#: weight tying, and a copy of its constructor is an exact duplicate.
STATELESS_MODULES = frozenset(
    NN + name
    for name in (
        "ReLU ReLU6 LeakyReLU ELU SELU CELU GELU SiLU Mish Hardswish Hardsigmoid Hardtanh Sigmoid Tanh "
        "Softplus Softsign Softmax Softmin LogSoftmax LogSigmoid GLU Threshold Tanhshrink Softshrink "
        "Hardshrink Identity Flatten Unflatten Dropout Dropout1d Dropout2d Dropout3d AlphaDropout "
        "FeatureAlphaDropout MaxPool1d MaxPool2d MaxPool3d AvgPool1d AvgPool2d AvgPool3d "
        "AdaptiveAvgPool1d AdaptiveAvgPool2d AdaptiveAvgPool3d AdaptiveMaxPool1d AdaptiveMaxPool2d "
        "AdaptiveMaxPool3d Upsample UpsamplingNearest2d UpsamplingBilinear2d PixelShuffle PixelUnshuffle "
        "ZeroPad1d ZeroPad2d ZeroPad3d ConstantPad1d ConstantPad2d ConstantPad3d ReflectionPad1d "
        "ReflectionPad2d ReplicationPad1d ReplicationPad2d ChannelShuffle CosineSimilarity "
        "PairwiseDistance"
    ).split()
)

#: Quantization helper modules that hold no parameters in float: sharing one
#: shares an observer, never weights (FloatFunctional, the stubs).
STATELESS_QUANT_MODULES = frozenset(
    prefix + name
    for prefix in ("torch.ao.nn.quantized.", "torch.nn.quantized.")
    for name in ("FloatFunctional", "FXFloatFunctional")
) | frozenset(
    prefix + name
    for prefix in ("torch.ao.quantization.", "torch.quantization.")
    for name in ("QuantStub", "DeQuantStub")
)

#: Stateless modules whose reuse does not matter to a quantizer: they carry no
#: observer (identity, dropout). Reported only with distiller-report-stateless-reuse.
QUANT_NEUTRAL_MODULES = frozenset(
    NN + name
    for name in "Identity Dropout Dropout1d Dropout2d Dropout3d AlphaDropout FeatureAlphaDropout".split()
)

#: torch.nn classes whose instances are tensors, not modules.
TENSOR_CLASSES = frozenset(("Parameter", "Buffer", "UninitializedParameter", "UninitializedBuffer"))

#: Name suffixes of modules that belong to training, not to the model a quantizer
#: converts (losses are built per step, often inside forward): never inline-module.
TRAINING_ONLY_SUFFIXES = ("Loss",)

@dataclass(frozen=True)
class FusableChain:
    """Module types, in call order, that `torch.ao.quantization.fuse_modules` fuses into one.

    The rows of torch's `_DEFAULT_OP_LIST_TO_FUSER_METHOD` (fuser_method_mappings.py,
    torch 2.14): exact types, so `nn.ReLU6`, `nn.LeakyReLU` or a BatchNorm subclass
    never fuse. `qat` is False where `fuse_modules_qat` raises (ConvTranspose+BN).
    """

    types: tuple[str, ...]
    fused: str  # the intrinsic module fuse_modules builds (eval mode), for messages
    qat: bool = True


FUSABLE_CHAINS: tuple[FusableChain, ...] = tuple(
    FusableChain(tuple(NN + t for t in types.split()), fused, qat)
    for types, fused, qat in (
        ("Conv1d BatchNorm1d ReLU", "ConvReLU1d", True),
        ("Conv2d BatchNorm2d ReLU", "ConvReLU2d", True),
        ("Conv3d BatchNorm3d ReLU", "ConvReLU3d", True),
        ("Conv1d BatchNorm1d", "Conv1d", True),
        ("Conv2d BatchNorm2d", "Conv2d", True),
        ("Conv3d BatchNorm3d", "Conv3d", True),
        ("Conv1d ReLU", "ConvReLU1d", True),
        ("Conv2d ReLU", "ConvReLU2d", True),
        ("Conv3d ReLU", "ConvReLU3d", True),
        ("Linear BatchNorm1d", "Linear", True),
        ("Linear ReLU", "LinearReLU", True),
        ("BatchNorm2d ReLU", "BNReLU2d", True),
        ("BatchNorm3d ReLU", "BNReLU3d", True),
        ("ConvTranspose1d BatchNorm1d", "ConvTranspose1d", False),
        ("ConvTranspose2d BatchNorm2d", "ConvTranspose2d", False),
        ("ConvTranspose3d BatchNorm3d", "ConvTranspose3d", False),
    )
)

@dataclass(frozen=True)
class LayerArg:
    """One child of a library `nn.Sequential` subclass: the constructor argument that gives its
    class (by keyword or position; an explicit None leaves the child out) and the default class."""

    keyword: str | None
    position: int | None
    default: str


#: Library Sequential subclasses whose children follow their constructor arguments, so a
#: chain inside them is known statically (children named "0", "1", "2" in this order).
KNOWN_SEQUENTIALS: Mapping[str, tuple[LayerArg, ...]] = MappingProxyType({
    f"torchvision.ops.misc.Conv{n}dNormActivation": (
        LayerArg(None, None, f"{NN}Conv{n}d"),
        LayerArg("norm_layer", 6, f"{NN}BatchNorm{n}d"),
        LayerArg("activation_layer", 7, NN + "ReLU"),
    )
    for n in (1, 2, 3)
})

#: The method the fusion fix adds, torchvision's name and signature for it.
FUSE_METHOD = "fuse_model"
FUSE_FUNCTIONS = ("torch.ao.quantization.fuse_modules", "torch.ao.quantization.fuse_modules_qat")

#: torch.nn containers: calling one runs its children, iterating one yields modules.
CONTAINER_MODULES = frozenset(NN + n for n in ("Sequential", "ModuleList", "ModuleDict"))


@dataclass(frozen=True)
class QuantizableVariant:
    """What replaces an unquantizable module, per target (None: no variant)."""

    distiller: str | None
    eager: str | None
    distiller_ctor: tuple[tuple[str, str], ...] = ()  # explicit keywords the variant needs
    #: eager `prepare` swaps it for its quantizable variant itself (default custom module config:
    #: `get_default_custom_config_dict()`), so torch-eager code keeps the torch module (measured)
    eager_prepare: bool = False

    def for_target(self, target: str) -> str | None:
        return self.distiller if target == DISTILLER else self.eager


UNQUANTIZABLE: Mapping[str, QuantizableVariant] = MappingProxyType(
    {
        NN + "LSTM": QuantizableVariant(DM + "DistillerLSTM", "torch.ao.nn.quantizable.LSTM", eager_prepare=True),
        NN + "LSTMCell": QuantizableVariant(DM + "DistillerLSTMCell", None),
        NN + "GRU": QuantizableVariant(None, None),
        NN + "GRUCell": QuantizableVariant(None, None),
        NN + "RNN": QuantizableVariant(None, None),
        NN + "RNNCell": QuantizableVariant(None, None),
        NN + "MultiheadAttention": QuantizableVariant(None, "torch.ao.nn.quantizable.MultiheadAttention",
                                                     eager_prepare=True),
        NN + "TransformerEncoderLayer": QuantizableVariant(None, None),
        NN + "TransformerDecoderLayer": QuantizableVariant(None, None),
        NN + "Transformer": QuantizableVariant(None, None),
    }
)

#: torch functions that make new tensors: not ops, but their results are tensors.
TENSOR_FACTORIES = frozenset(
    "torch." + n
    for n in (
        "zeros ones empty full arange linspace logspace randn rand randint randn_like rand_like "
        "randint_like randperm tensor as_tensor from_numpy zeros_like ones_like full_like empty_like "
        "eye bernoulli multinomial normal stack_like complex polar"
    ).split()
)

#: Attributes of a tensor that are not tensors (shape facts, dtype, device).
TENSOR_METADATA_ATTRS = frozenset(
    "shape ndim dtype device is_cuda requires_grad layout is_sparse is_quantized names grad_fn".split()
)

#: Tensor methods whose result is not a tensor (shape arithmetic lives here).
NON_TENSOR_METHODS = frozenset(
    "size dim numel item tolist stride element_size nelement is_contiguous data_ptr get_device "
    "is_floating_point dim_order".split()
)

#: Methods of nn.Module that a new member name must never shadow.
MODULE_ATTRIBUTES = frozenset(
    "T_destination add_module apply bfloat16 buffers call_super_init children compile cpu cuda "
    "double dump_patches eval extra_repr float forward get_buffer get_extra_state get_parameter "
    "get_submodule half ipu load_state_dict modules mtia named_buffers named_children "
    "named_modules named_parameters parameters register_backward_hook register_buffer "
    "register_forward_hook register_forward_pre_hook register_full_backward_hook "
    "register_full_backward_pre_hook register_load_state_dict_post_hook register_module "
    "register_parameter register_state_dict_pre_hook requires_grad_ set_extra_state "
    "set_submodule share_memory state_dict to to_empty train training type xpu zero_grad "
    "config device dtype training".split()
)
