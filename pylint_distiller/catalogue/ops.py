"""Every op the analysis knows, keyed by qualified name, with its replacement per target."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

from pylint_distiller.catalogue.targets import DISTILLER, TORCH_EAGER
from pylint_distiller.catalogue.rules import Applicability


# -------------------------------------------------------------------------- ops
@dataclass(frozen=True)
class Replacement:
    """The module that replaces an op for one target, and how arguments map.

    `ctor` names op parameters passed to the constructor as keywords (when the
    call binds them); `ctor_fixed` are constant constructor keywords;
    `ctor_defaults` are passed even when unbound (Concat's dim must always be
    explicit). `forward` names the op parameters passed to the module call, in
    order; `spread` is the one of them that is a sequence spread into varargs
    (`Concat` takes `*seq`). `method` is set for `FloatFunctional`-style modules
    called through a method (``self.add.add(a, b)``); `scalar_method` is the
    method to use when the second operand is a Python number. `droppable` names
    parameters that may be bound without preventing the fix. `cast` names a
    `dtype` parameter that casts the input first (`F.softmax(x, -1, dtype=d)` is
    `softmax(x.to(d))`), so the module receives ``(x).to(d)``.
    """

    module: str
    member: str
    ctor: tuple[str, ...] = ()
    ctor_fixed: tuple[tuple[str, str], ...] = ()
    ctor_defaults: tuple[tuple[str, str], ...] = ()
    forward: tuple[str, ...] = ("input",)
    spread: str | None = None
    method: str | None = None
    scalar_method: str | None = None
    droppable: tuple[str, ...] = ()
    cast: str | None = None
    tensor_first: bool = False  # the module calls a method on its first input (`x.div(y)`)
    applicability: Applicability = Applicability.SAFE
    note: str = ""


UNSUPPORTED = "unsupported"
NATIVE = "native"


@dataclass(frozen=True)
class OpSpec:
    """One op: its catalogue key, the rule that reports it, its call signature.

    `params` are the op's parameter names in positional order (for tensor methods
    the receiver is ``input``). `weighted` marks functionals that take explicit
    weights (a manual change). `data_movement` ops are reported only when the
    data-movement option is on. `receiver_hint` marks tensor methods whose name is
    specific to tensors, so they are reported even when the receiver's type is
    unknown (``.softmax`` is a tensor method; ``.add`` could be a set's).
    """

    key: str
    rule: str
    params: tuple[str, ...]
    targets: Mapping[str, Replacement | str] = field(default_factory=dict)
    data_movement: bool = False
    weighted: bool = False
    receiver_hint: bool = False
    display: str = ""

    def replacement(self, target: str) -> Replacement | str:
        return self.targets.get(target, UNSUPPORTED)

    @property
    def shown(self) -> str:
        return self.display or self.key


DM = "distiller.modules."
FF = "torch.ao.nn.quantized.FloatFunctional"
NN = "torch.nn."


def _both(rep: Replacement) -> dict[str, Replacement | str]:
    return {DISTILLER: rep, TORCH_EAGER: rep}


def _eltwise(name: str, member: str, inplace: bool, ff_method: str | None, ff_scalar: str | None):
    """Binary arithmetic: Distiller's Eltwise* module, FloatFunctional's method."""
    fixed = (("inplace", "True"),) if inplace else ()
    targets: dict[str, Replacement | str] = {
        DISTILLER: Replacement(DM + name, member, ctor_fixed=fixed, forward=("input", "other"),
                               tensor_first=name in ("EltwiseDiv", "Matmul"))
    }
    if ff_method:
        targets[TORCH_EAGER] = Replacement(
            FF, member, forward=("input", "other"), method=ff_method, scalar_method=ff_scalar
        )
    else:
        targets[TORCH_EAGER] = UNSUPPORTED
    return targets


_BINARY = {
    # op: (Distiller class, member name, FloatFunctional method, scalar method)
    "add": ("EltwiseAdd", "add", "add", "add_scalar"),
    "sub": ("EltwiseSub", "sub", None, None),
    "mul": ("EltwiseMult", "mul", "mul", "mul_scalar"),
    "truediv": ("EltwiseDiv", "div", None, None),
    "matmul": ("Matmul", "matmul", "matmul", None),
}

_OPERATOR_DISPLAY = {
    "add": "+", "sub": "-", "mul": "*", "truediv": "/", "matmul": "@",
    "floordiv": "//", "pow": "**", "mod": "%", "neg": "unary -",
}


def _operator_specs() -> list[OpSpec]:
    specs = []
    for op, sym in _OPERATOR_DISPLAY.items():
        if op in _BINARY:
            cls, member, ffm, ffs = _BINARY[op]
            plain = _eltwise(cls, member, False, ffm, ffs)
            aug = _eltwise(cls, member, True, ffm, ffs)
        else:
            plain = aug = {}
        params = ("input",) if op == "neg" else ("input", "other")
        specs.append(OpSpec(f"operator.{op}", "tensor-operator", params, plain, display=sym))
        if op != "neg":
            specs.append(OpSpec(f"operator.i{op}", "tensor-operator", params, aug, display=sym + "="))
    return specs


def _activation(nn_cls: str, member: str, params=("input",), ctor=(), **kw) -> dict:
    return _both(Replacement(NN + nn_cls, member, ctor=ctor, **kw))


def _functional_specs() -> list[OpSpec]:
    F = "torch.nn.functional."
    inplace = ("input", "inplace")
    specs = [
        ("relu", inplace, _activation("ReLU", "relu", ctor=("inplace",))),
        ("relu6", inplace, _activation("ReLU6", "relu6", ctor=("inplace",))),
        ("elu", ("input", "alpha", "inplace"), _activation("ELU", "elu", ctor=("alpha", "inplace"))),
        ("selu", inplace, _activation("SELU", "selu", ctor=("inplace",))),
        ("celu", ("input", "alpha", "inplace"), _activation("CELU", "celu", ctor=("alpha", "inplace"))),
        ("leaky_relu", ("input", "negative_slope", "inplace"),
         _activation("LeakyReLU", "leaky_relu", ctor=("negative_slope", "inplace"))),
        ("gelu", ("input", "approximate"), _activation("GELU", "gelu", ctor=("approximate",))),
        ("silu", inplace, _activation("SiLU", "silu", ctor=("inplace",))),
        ("mish", inplace, _activation("Mish", "mish", ctor=("inplace",))),
        ("hardswish", inplace, _activation("Hardswish", "hardswish", ctor=("inplace",))),
        ("hardsigmoid", inplace, _activation("Hardsigmoid", "hardsigmoid", ctor=("inplace",))),
        ("hardtanh", ("input", "min_val", "max_val", "inplace"),
         _activation("Hardtanh", "hardtanh", ctor=("min_val", "max_val", "inplace"))),
        ("sigmoid", ("input",), _activation("Sigmoid", "sigmoid")),
        ("tanh", ("input",), _activation("Tanh", "tanh")),
        ("softplus", ("input", "beta", "threshold"), _activation("Softplus", "softplus", ctor=("beta", "threshold"))),
        ("softsign", ("input",), _activation("Softsign", "softsign")),
        ("logsigmoid", ("input",), _activation("LogSigmoid", "logsigmoid")),
        ("glu", ("input", "dim"), _activation("GLU", "glu", ctor=("dim",))),
        ("softmax", ("input", "dim", "_stacklevel", "dtype"),
         _activation("Softmax", "softmax", ctor=("dim",), droppable=("_stacklevel",), cast="dtype")),
        ("log_softmax", ("input", "dim", "_stacklevel", "dtype"),
         _activation("LogSoftmax", "log_softmax", ctor=("dim",), droppable=("_stacklevel",), cast="dtype")),
        ("softmin", ("input", "dim", "_stacklevel", "dtype"),
         _activation("Softmin", "softmin", ctor=("dim",), droppable=("_stacklevel",), cast="dtype")),
        ("pixel_shuffle", ("input", "upscale_factor"),
         _activation("PixelShuffle", "pixel_shuffle", ctor=("upscale_factor",))),
        ("pixel_unshuffle", ("input", "downscale_factor"),
         _activation("PixelUnshuffle", "pixel_unshuffle", ctor=("downscale_factor",))),
    ]
    out = [OpSpec(F + name, "functional-call", params, targets, display="F." + name)
           for name, params, targets in specs]
    # Pooling and resampling: modules for Distiller (it fake-quantizes their
    # output); quantized tensors support them natively in eager mode.
    pools = [
        ("adaptive_avg_pool1d", ("input", "output_size"), "AdaptiveAvgPool1d", ("output_size",)),
        ("adaptive_avg_pool2d", ("input", "output_size"), "AdaptiveAvgPool2d", ("output_size",)),
        ("adaptive_avg_pool3d", ("input", "output_size"), "AdaptiveAvgPool3d", ("output_size",)),
        ("adaptive_max_pool1d", ("input", "output_size", "return_indices"), "AdaptiveMaxPool1d",
         ("output_size", "return_indices")),
        ("adaptive_max_pool2d", ("input", "output_size", "return_indices"), "AdaptiveMaxPool2d",
         ("output_size", "return_indices")),
        ("avg_pool1d", ("input", "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad"),
         "AvgPool1d", ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad")),
        ("avg_pool2d", ("input", "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad",
                        "divisor_override"), "AvgPool2d",
         ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override")),
        ("avg_pool3d", ("input", "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad",
                        "divisor_override"), "AvgPool3d",
         ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override")),
        ("max_pool1d", ("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode",
                        "return_indices"), "MaxPool1d",
         ("kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices")),
        ("max_pool2d", ("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode",
                        "return_indices"), "MaxPool2d",
         ("kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices")),
        ("max_pool3d", ("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode",
                        "return_indices"), "MaxPool3d",
         ("kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices")),
        ("interpolate", ("input", "size", "scale_factor", "mode", "align_corners",
                         "recompute_scale_factor", "antialias"), "Upsample",
         ("size", "scale_factor", "mode", "align_corners", "recompute_scale_factor")),
        ("upsample", ("input", "size", "scale_factor", "mode", "align_corners"), "Upsample",
         ("size", "scale_factor", "mode", "align_corners")),
    ]
    for name, params, cls, ctor in pools:
        member = "upsample" if cls == "Upsample" else name.replace("adaptive_", "")
        out.append(OpSpec(
            F + name, "functional-call", params,
            {DISTILLER: Replacement(NN + cls, member, ctor=ctor), TORCH_EAGER: NATIVE},
            display="F." + name,
        ))
    # Dropout: F.dropout(x, p) trains by default, nn.Dropout follows the module
    # mode; the fix builder checks the `training` argument.
    for name, cls in (("dropout", "Dropout"), ("dropout1d", "Dropout1d"), ("dropout2d", "Dropout2d"),
                      ("dropout3d", "Dropout3d"), ("alpha_dropout", "AlphaDropout")):
        out.append(OpSpec(
            F + name, "functional-call", ("input", "p", "training", "inplace"),
            _both(Replacement(NN + cls, "dropout", ctor=("p", "inplace"), droppable=("training",))),
            display="F." + name,
        ))
    # Functionals that take explicit weights: reported, manual fix.
    for name, params in (
        ("linear", ("input", "weight", "bias")),
        ("bilinear", ("input1", "input2", "weight", "bias")),
        ("conv1d", ("input", "weight", "bias")),
        ("conv2d", ("input", "weight", "bias")),
        ("conv3d", ("input", "weight", "bias")),
        ("conv_transpose1d", ("input", "weight", "bias")),
        ("conv_transpose2d", ("input", "weight", "bias")),
        ("conv_transpose3d", ("input", "weight", "bias")),
        ("layer_norm", ("input", "normalized_shape", "weight", "bias", "eps")),
        ("group_norm", ("input", "num_groups", "weight", "bias", "eps")),
        ("batch_norm", ("input", "running_mean", "running_var", "weight", "bias")),
        ("instance_norm", ("input",)),
        ("rms_norm", ("input", "normalized_shape", "weight", "eps")),
        ("embedding", ("input", "weight")),
        ("prelu", ("input", "weight")),
        ("multi_head_attention_forward", ("query",)),
    ):
        out.append(OpSpec(F + name, "functional-call", params, weighted=True, display="F." + name))
    # Stateless functionals with no module equivalent: reported, no fix.
    for name in ("normalize", "scaled_dot_product_attention", "cosine_similarity", "pairwise_distance",
                 "softsign", "tanhshrink", "hardshrink", "softshrink", "threshold", "rrelu",
                 "local_response_norm", "fold", "grid_sample", "affine_grid",
                 "adaptive_max_pool3d", "embedding_bag", "feature_alpha_dropout", "lp_pool1d", "lp_pool2d",
                 "lp_pool3d", "upsample_bilinear", "upsample_nearest", "relu_", "elu_", "leaky_relu_",
                 "hardtanh_", "threshold_", "celu_", "selu_", "rrelu_", "gumbel_softmax",
                 "cross_entropy", "mse_loss", "l1_loss", "nll_loss", "binary_cross_entropy",
                 "binary_cross_entropy_with_logits", "kl_div", "smooth_l1_loss"):
        key = F + name
        if not any(s.key == key for s in out):
            out.append(OpSpec(key, "functional-call", ("input",), display="F." + name))
    # Data movement among functionals: silent unless asked for.
    for name in ("pad", "one_hot", "unfold"):
        out.append(OpSpec(F + name, "functional-call", ("input",), data_movement=True, display="F." + name))
    return out


def _torch_function_specs() -> list[OpSpec]:
    T = "torch."
    bin_params = ("input", "other")
    specs = [
        OpSpec(T + "cat", "torch-function", ("tensors", "dim"), {
            DISTILLER: Replacement(DM + "Concat", "cat", ctor=("dim",), ctor_defaults=(("dim", "0"),),
                                   forward=("tensors",), spread="tensors"),
            TORCH_EAGER: Replacement(FF, "cat", forward=("tensors", "dim"), method="cat"),
        }),
        OpSpec(T + "stack", "torch-function", ("tensors", "dim"), {
            DISTILLER: Replacement(DM + "Stack", "stack", ctor=("dim",), ctor_defaults=(("dim", "0"),),
                                   forward=("tensors",)),
        }),
        OpSpec(T + "add", "torch-function", bin_params + ("alpha",), _eltwise("EltwiseAdd", "add", False, "add", "add_scalar")),
        OpSpec(T + "sub", "torch-function", bin_params + ("alpha",), _eltwise("EltwiseSub", "sub", False, None, None)),
        OpSpec(T + "mul", "torch-function", bin_params, _eltwise("EltwiseMult", "mul", False, "mul", "mul_scalar")),
        OpSpec(T + "div", "torch-function", bin_params + ("rounding_mode",), _eltwise("EltwiseDiv", "div", False, None, None)),
        OpSpec(T + "matmul", "torch-function", bin_params, _eltwise("Matmul", "matmul", False, "matmul", None)),
        OpSpec(T + "bmm", "torch-function", bin_params, {
            DISTILLER: Replacement(DM + "BatchMatmul", "bmm", forward=("input", "other"), tensor_first=True),
            TORCH_EAGER: Replacement(FF, "bmm", forward=("input", "other"), method="matmul"),
        }),
        OpSpec(T + "mean", "torch-function", ("input", "dim", "keepdim"), {
            DISTILLER: Replacement(DM + "Mean", "mean", ctor=("dim", "keepdim")),
            TORCH_EAGER: NATIVE,
        }),
        OpSpec(T + "norm", "torch-function", ("input", "p", "dim", "keepdim"), {
            DISTILLER: Replacement(DM + "Norm", "norm", ctor=("p", "dim", "keepdim")),
        }),
        OpSpec(T + "sigmoid", "torch-function", ("input",), _activation("Sigmoid", "sigmoid")),
        OpSpec(T + "tanh", "torch-function", ("input",), _activation("Tanh", "tanh")),
        OpSpec(T + "relu", "torch-function", ("input",), _activation("ReLU", "relu")),
        OpSpec(T + "relu_", "torch-function", ("input",),
               _activation("ReLU", "relu", ctor_fixed=(("inplace", "True"),))),
        OpSpec(T + "softmax", "torch-function", ("input", "dim", "dtype"),
               _activation("Softmax", "softmax", ctor=("dim",), cast="dtype")),
        OpSpec(T + "log_softmax", "torch-function", ("input", "dim", "dtype"),
               _activation("LogSoftmax", "log_softmax", ctor=("dim",), cast="dtype")),
        OpSpec(T + "flatten", "torch-function", ("input", "start_dim", "end_dim"), {
            DISTILLER: Replacement(NN + "Flatten", "flatten", ctor=("start_dim", "end_dim"),
                                   ctor_defaults=(("start_dim", "0"),)),
            TORCH_EAGER: NATIVE,
        }, data_movement=True),
        OpSpec(T + "chunk", "torch-function", ("input", "chunks", "dim"), {
            DISTILLER: Replacement(DM + "Chunk", "chunk", ctor=("chunks", "dim")),
            TORCH_EAGER: NATIVE,
        }, data_movement=True),
        OpSpec(T + "split", "torch-function", ("tensor", "split_size_or_sections", "dim"), {
            DISTILLER: Replacement(DM + "Split", "split", ctor=("split_size_or_sections", "dim"),
                                   forward=("tensor",)),
            TORCH_EAGER: NATIVE,
        }, data_movement=True),
    ]
    for name in ("concat", "concatenate"):
        specs.append(OpSpec(T + name, "torch-function", ("tensors", "dim"), specs[0].targets))
    # Compute functions with no module in either target: reported, no fix.
    for name in ("einsum", "mm", "baddbmm", "addmm", "addbmm", "addcmul", "addcdiv", "exp", "log",
                 "log1p", "sqrt", "rsqrt", "pow", "abs", "neg", "clamp", "clip", "sum", "prod",
                 "max", "min", "amax", "amin", "logsumexp", "cumsum", "cumprod", "erf", "sin", "cos",
                 "square", "reciprocal", "var", "std", "where", "lerp", "outer",
                 "tensordot", "cdist", "true_divide", "floor_divide", "remainder", "fmod", "multiply",
                 "subtract", "divide", "maximum", "minimum", "sign", "exp2", "dropout",
                 "layer_norm", "group_norm", "batch_norm", "conv1d", "conv2d", "conv3d",
                 "conv_transpose2d", "scaled_dot_product_attention", "gelu", "silu", "hardswish",
                 "rsub", "diff", "atan2", "sort", "topk", "cosine_similarity",
                 # further compute functions of the torch namespace (no module in either target)
                 "absolute", "acos", "asin", "atan", "tan", "sinh", "cosh", "addmv", "aminmax", "argmax",
                 "argmin", "argsort", "ceil", "floor", "round", "trunc", "frac", "clamp_max", "clamp_min", "hstack",
                 "vstack", "dstack", "column_stack", "cummax", "cummin", "dot", "vdot", "inner", "ger", "mv",
                 "erfc", "erfinv", "expm1", "float_power", "fmax", "fmin", "hypot", "log10", "log2",
                 "median", "nansum", "negative", "sgn", "std_mean", "var_mean", "xlogy", "selu", "celu",
                 "prelu", "rrelu", "threshold", "hardshrink", "embedding", "conv_transpose1d",
                 "conv_transpose3d", "bilinear", "instance_norm", "pixel_shuffle", "pixel_unshuffle",
                 "rms_norm", "alpha_dropout", "feature_alpha_dropout", "embedding_bag", "square_",
                 "addcmul_", "sigmoid_", "tanh_", "exp_", "clamp_", "dropout_"):
        specs.append(OpSpec(T + name, "torch-function", ("input",)))
    for name in ("reshape", "transpose", "permute", "squeeze", "unsqueeze", "narrow", "roll", "flip",
                 "gather", "index_select", "repeat_interleave", "tile", "movedim", "t", "unbind",
                 "tensor_split", "take_along_dim", "broadcast_to", "swapaxes",
                 # masks and triangles: they select values, they compute none
                 "masked_fill", "tril", "triu"):
        specs.append(OpSpec(T + name, "torch-function", ("input",), data_movement=True))
    return specs


def _method(name: str, targets=None, params=("input",), hint=False, dm=False) -> OpSpec:
    return OpSpec("Tensor." + name, "tensor-method", params, targets or {}, data_movement=dm,
                  receiver_hint=hint, display="." + name + "()")


def _tensor_method_specs() -> list[OpSpec]:
    bin_ = ("input", "other")
    specs = []
    for name, (cls, member, ffm, ffs) in (("add", _BINARY["add"]), ("sub", _BINARY["sub"]),
                                          ("mul", _BINARY["mul"]), ("div", _BINARY["truediv"]),
                                          ("matmul", _BINARY["matmul"])):
        specs.append(_method(name, _eltwise(cls, member, False, ffm, ffs), bin_, hint=name == "matmul"))
        if name != "matmul":
            specs.append(_method(name + "_", {DISTILLER: _eltwise(cls, member, True, None, None)[DISTILLER]},
                                 bin_, hint=True))
    specs += [
        _method("bmm", {DISTILLER: Replacement(DM + "BatchMatmul", "bmm", forward=bin_),
                        TORCH_EAGER: Replacement(FF, "bmm", forward=bin_, method="matmul")}, bin_, hint=True),
        _method("sigmoid", _activation("Sigmoid", "sigmoid"), hint=True),
        _method("sigmoid_", hint=True),  # nn.Sigmoid is not in-place: no exact module
        _method("tanh", _activation("Tanh", "tanh")),
        _method("relu", _activation("ReLU", "relu"), hint=True),
        _method("relu_", _activation("ReLU", "relu", ctor_fixed=(("inplace", "True"),)), hint=True),
        _method("softmax", _activation("Softmax", "softmax", ctor=("dim",), cast="dtype"), ("input", "dim", "dtype"),
                hint=True),
        _method("log_softmax", _activation("LogSoftmax", "log_softmax", ctor=("dim",), cast="dtype"),
                ("input", "dim", "dtype"), hint=True),
        _method("mean", {DISTILLER: Replacement(DM + "Mean", "mean", ctor=("dim", "keepdim")),
                         TORCH_EAGER: NATIVE}, ("input", "dim", "keepdim")),
        _method("norm", {DISTILLER: Replacement(DM + "Norm", "norm", ctor=("p", "dim", "keepdim"))},
                ("input", "p", "dim", "keepdim")),
        _method("chunk", {DISTILLER: Replacement(DM + "Chunk", "chunk", ctor=("chunks", "dim")),
                          TORCH_EAGER: NATIVE}, ("input", "chunks", "dim"), dm=True),
        _method("flatten", {DISTILLER: Replacement(NN + "Flatten", "flatten", ctor=("start_dim", "end_dim"),
                                                   ctor_defaults=(("start_dim", "0"),)),
                            TORCH_EAGER: NATIVE}, ("input", "start_dim", "end_dim"), dm=True),
    ]
    hinted = {"rsqrt", "baddbmm", "addmm", "exp_", "clamp_", "pow_",
              "sqrt_", "neg_", "abs_", "float_power", "logsumexp", "erf", "reciprocal", "tanh_"}
    for name in ("exp", "exp_", "log", "log1p", "sqrt", "sqrt_", "rsqrt", "pow", "pow_", "abs", "abs_",
                 "neg", "neg_", "clamp", "clamp_", "clip", "sum", "prod", "max", "min", "amax", "amin",
                 "logsumexp", "cumsum", "erf", "sin", "cos", "square", "reciprocal", "var", "std",
                 "mm", "baddbmm", "addmm", "lerp", "float_power",
                 "true_divide", "floor_divide", "remainder", "fmod", "sign", "tanh_", "addcmul",
                 "addcdiv", "exp2", "diff", "topk", "sort",
                 # further compute methods (no module in either target)
                 "absolute", "acos", "asin", "atan", "atan2", "tan", "sinh", "cosh", "addbmm", "addmv",
                 "aminmax", "argmax", "argmin", "argsort", "ceil", "floor", "round", "trunc", "frac", "clamp_max",
                 "clamp_min", "cummax", "cummin", "cumprod", "divide", "multiply", "subtract", "dot", "vdot",
                 "inner", "outer", "ger", "mv", "erfc", "erfinv", "expm1", "fmax", "fmin", "hypot", "log10",
                 "log2", "maximum", "minimum", "median", "nansum", "negative", "sgn", "xlogy", "prelu",
                 "hardshrink", "where", "log_", "log1p_", "sin_", "cos_", "floor_", "round_", "clamp_min_",
                 "clamp_max_", "addcmul_", "addcdiv_", "lerp_", "square_", "reciprocal_", "rsqrt_",
                 "erf_", "fmod_", "remainder_", "true_divide_", "floor_divide_", "sign_", "exp2_",
                 "cumsum_", "mul", "norm"):
        if not any(s.key == "Tensor." + name for s in specs):
            specs.append(_method(name, hint=name in hinted))
    for name in ("view", "reshape", "permute", "transpose", "flatten", "unsqueeze", "squeeze", "expand",
                 "expand_as", "repeat", "split", "narrow", "flip", "roll", "gather", "index_select",
                 "t", "view_as", "reshape_as", "unbind", "unfold", "contiguous", "repeat_interleave",
                 "movedim", "tile", "swapaxes",
                 # masks and triangles: they select values, they compute none
                 "masked_fill", "masked_fill_", "tril", "triu", "tril_", "triu_"):
        if not any(s.key == "Tensor." + name for s in specs):
            specs.append(_method(name, dm=True))
    return specs


def _index(specs: list[OpSpec]) -> Mapping[str, OpSpec]:
    out: dict[str, OpSpec] = {}
    for spec in specs:
        out.setdefault(spec.key, spec)
    return MappingProxyType(out)


OPS: Mapping[str, OpSpec] = _index(
    _operator_specs() + _functional_specs() + _torch_function_specs() + _tensor_method_specs()
)
