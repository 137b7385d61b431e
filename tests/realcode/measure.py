"""Measure the static analysis against what real models do when they run.

For each model (tiny configs of installed packages: transformers, efficientnet_pytorch,
and torchvision/timm when importable) one forward pass runs under a
`torch.overrides.TorchFunctionMode` and global module hooks. The run gives:

* runtime ops: (file, line) of every compute op (a torch function, tensor method or
  operator whose category is compute, reading a floating-point tensor of rank > 0)
  called from model code while the innermost running module has children (a
  container whose forward glues children together), helpers it calls included;
* reused modules: module instances whose forward ran more than once, with the
  lines that called them;
* executed lines of every model file (``sys.settrace``) and the exact source span
  (``co_positions``) of every torch call, of any category.

`pylint_distiller.api.analyze_file` then runs on the model files, and we compute:

* op recall: runtime op lines covered by a static op finding on that line;
* reuse recall: reused modules with a static ``reused-module`` /
  ``shared-module-instance`` finding on one of their call lines;
* precision: static op findings on executed lines whose exact span executed a
  torch compute op ("strict": it read an activation; "loose": any tensor).

The tracer is self-contained (it needs the exact spans of all ops, which the
product's `verify.runtime` does not keep); with ``--compare-runtime`` the op lines
are cross-checked against `pylint_distiller.verify.runtime.trace_model`.

Usage::

    .venv/bin/python tests/realcode/measure.py [MODEL ...|all|held-out] [--details] [--json OUT]
        [--attn eager|sdpa] [--compare-runtime] [--single-file]

Without model names it measures the default set (transformers + efficientnet_pytorch,
the models the analysis was tuned on). `held-out` is a wider set built generically
from default configs (more transformers models, timm, torchvision) kept apart to
check that improvements generalise. torchvision/timm need to be importable:
``MEASURE_EXTRA_PATH=<dir>`` appends a directory holding them (the script stubs
torchvision's C extension, which only its detection ops need), and
``MEASURE_PACKAGE_ROOT=<dir>`` measures another copy of the package (e.g. an older
checkout, for before/after numbers). ``--details`` lists every miss and every
static finding on an executed line that did not sit on an executed op.

Importable: `MODELS`, `HELD_OUT`, `measure(name)`, `run(names)`, `Tracer`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import sysconfig
import threading
import time
import types
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable

HERE = os.path.dirname(os.path.realpath(__file__))
# MEASURE_PACKAGE_ROOT measures another copy of the package (e.g. an older checkout)
ROOT = os.environ.get("MEASURE_PACKAGE_ROOT") or os.path.dirname(os.path.dirname(HERE))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import torch  # noqa: E402
from torch import nn  # noqa: E402
from torch.nn.modules import module as _module_mod  # noqa: E402
from torch.overrides import TorchFunctionMode  # noqa: E402

from pylint_distiller.api import analyze_file  # noqa: E402
# verify's own op vocabulary: the measurement and `verify` agree on what a compute op is
from pylint_distiller.verify.runtime import classify_op, op_name, reads_activation  # noqa: E402

OP_RULES = frozenset({"tensor-operator", "torch-function", "functional-call", "tensor-method"})
REUSE_RULES = frozenset({"reused-module", "shared-module-instance"})

# ------------------------------------------------------------------------ tracer
_TORCH_DIR = os.path.realpath(os.path.dirname(torch.__file__)) + os.sep
_TORCH_MODULE_DIRS = tuple(_TORCH_DIR + d + os.sep for d in ("nn/modules", "ao/nn", "nn/quantized",
                                                               "nn/intrinsic", "nn/qat", "nn/quantizable"))
_STDLIB = os.path.realpath(sysconfig.get_paths()["stdlib"]) + os.sep
_SELF_DIRS = (os.path.realpath(os.path.join(ROOT, "pylint_distiller")) + os.sep, HERE + os.sep)

_USER, _TORCH, _TORCH_MODULE, _SKIP = range(4)


@dataclass
class Event:
    path: str
    span: tuple[int, int, int, int]  # line, end_line, col, end_col (bytes, as co_positions)
    op: str
    category: str
    activation: bool
    container: bool  # innermost running module has children and is not torch's own
    count: int = 0

    @property
    def line(self) -> int:
        return self.span[0]

    @property
    def finding(self) -> bool:
        """What a quantizer misses: a compute op on activations glued by a container."""
        return self.category in ("compute", "unknown") and self.activation and self.container


@dataclass
class ModuleRun:
    name: str
    klass: str
    calls: int
    sites: set[tuple[str, int]]


class Tracer:
    """Records ops, module calls and executed lines of one forward pass."""

    def __init__(self) -> None:
        self.thread = threading.get_ident()
        self.active = False
        self.kinds: dict[Any, tuple[int, str]] = {}
        self.positions: dict[Any, list] = {}
        self.names: dict[Any, tuple[str, str]] = {}
        self.events: dict[tuple, Event] = {}
        self.stack: list[nn.Module] = []
        self.calls: Counter = Counter()
        self.modules: dict[int, nn.Module] = {}
        self.sites: dict[int, set[tuple[str, int]]] = defaultdict(set)
        self.lines: set[tuple[str, int]] = set()
        self.children: dict[int, bool] = {}
        self.constructed: set[int] = set()

    def _kind(self, code) -> tuple[int, str]:
        kind = self.kinds.get(code)
        if kind is None:
            path = code.co_filename
            path = path if path.startswith("<") else os.path.realpath(path)
            if path.startswith(_TORCH_DIR):
                is_mod = code.co_name == "forward" or path.startswith(_TORCH_MODULE_DIRS)
                kind = (_TORCH_MODULE if is_mod else _TORCH, path)
            elif path.startswith(_SELF_DIRS) or path.startswith("<") or (
                    path.startswith(_STDLIB) and "site-packages" not in path):
                kind = (_SKIP, path)
            else:
                kind = (_USER, path)
            self.kinds[code] = kind
        return kind

    def _user_frame(self, frame, owner=None, method=""):
        crossed = False
        while frame is not None:
            kind, path = self._kind(frame.f_code)
            if kind == _USER:
                if owner is None or frame.f_code.co_name != method or frame.f_locals.get("self") is not owner:
                    return frame, path, crossed
            elif kind == _TORCH_MODULE:
                crossed = True
            frame = frame.f_back
        return None, "", crossed

    def _span(self, frame) -> tuple[int, int, int, int]:
        code = frame.f_code
        pos = self.positions.get(code)
        if pos is None:
            pos = self.positions[code] = list(code.co_positions())
        i = frame.f_lasti // 2
        if 0 <= i < len(pos) and pos[i][0] is not None:
            line, end_line, col, end_col = pos[i]
            return (line, end_line or line, col if col is not None else -1, end_col if end_col is not None else -1)
        return (frame.f_lineno, frame.f_lineno, -1, -1)

    def _has_children(self, mod) -> bool:
        has = self.children.get(id(mod))
        if has is None:
            has = self.children[id(mod)] = next(iter(mod.children()), None) is not None
        return has

    # callbacks
    def on_op(self, func, args, kwargs) -> None:
        if not self.active or threading.get_ident() != self.thread:
            return
        frame, path, crossed = self._user_frame(sys._getframe(2))
        if frame is None or crossed:
            return
        info = self.names.get(func)
        if info is None:
            name = op_name(func)
            info = self.names[func] = (name, classify_op(name))
        name, category = info
        if category == "metadata":
            return
        top = self.stack[-1] if self.stack else None
        container = top is not None and self._has_children(top) and not type(top).__module__.startswith("torch.")
        activation = reads_activation(args, kwargs) if category in ("compute", "unknown") else False
        span = self._span(frame)
        key = (path, span, name, activation, container)
        ev = self.events.get(key)
        if ev is None:
            ev = self.events[key] = Event(path, span, name, category, activation, container)
        ev.count += 1

    def on_pre(self, mod, _args) -> None:
        if not self.active or threading.get_ident() != self.thread:
            return
        self.stack.append(mod)
        self.calls[id(mod)] += 1
        self.modules[id(mod)] = mod
        if len(self.stack) > 1:
            frame, path, _ = self._user_frame(sys._getframe(1), mod, "__call__")
            if frame is not None:
                self.sites[id(mod)].add((path, frame.f_lineno))

    def on_post(self, mod, _args, _out) -> None:
        if not self.active or threading.get_ident() != self.thread:
            return
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i] is mod:
                del self.stack[i:]
                break

    def run(self, model: nn.Module, args: tuple, kwargs: dict) -> None:
        tracer = self
        lines = self.lines
        wanted: dict[str, bool] = {}

        class Mode(TorchFunctionMode):
            def __torch_function__(self, func, _types, args=(), kwargs=None):
                tracer.on_op(func, args, kwargs)
                return func(*args, **(kwargs or {}))

        def local(frame, event, _arg):
            if event == "line":
                lines.add((tracer._kind(frame.f_code)[1], frame.f_lineno))
            return local

        def global_trace(frame, _event, _arg):
            fn = frame.f_code.co_filename
            ok = wanted.get(fn)
            if ok is None:
                ok = wanted[fn] = tracer._kind(frame.f_code)[0] == _USER
            return local if ok else None

        original_init = nn.Module.__init__

        def traced_init(mod, *a, **kw):
            original_init(mod, *a, **kw)
            if tracer.active:
                tracer.constructed.add(id(mod))

        pre = _module_mod.register_module_forward_pre_hook(self.on_pre)
        post = _module_mod.register_module_forward_hook(self.on_post, always_call=True)
        old = sys.gettrace()
        nn.Module.__init__ = traced_init
        try:
            with torch.no_grad(), Mode():
                self.active = True
                sys.settrace(global_trace)
                try:
                    model(*args, **kwargs)
                finally:
                    sys.settrace(old)
                    self.active = False
        finally:
            nn.Module.__init__ = original_init
            pre.remove()
            post.remove()

    def reused(self, model: nn.Module) -> list[ModuleRun]:
        names: dict[int, str] = {}
        for name, mod in model.named_modules(remove_duplicate=False):
            names.setdefault(id(mod), name)
        out = []
        for key, calls in self.calls.items():
            mod = self.modules[key]
            if calls < 2 or mod is model or key in self.constructed:
                continue
            out.append(ModuleRun(names.get(key, "?"), type(mod).__qualname__, calls, set(self.sites.get(key, ()))))
        return out


def model_files(model: nn.Module) -> list[str]:
    """Source files of the (non-torch) classes of the model's modules."""
    import inspect

    files: dict[str, None] = {}
    for cls in {type(m) for m in model.modules()}:
        for klass in cls.__mro__:
            if klass in (nn.Module, object):
                break
            try:
                path = inspect.getsourcefile(klass)
            except (TypeError, OSError):
                continue
            if path:
                real = os.path.realpath(path)
                if not real.startswith(_TORCH_DIR):
                    files.setdefault(real, None)
    return list(files)


# ------------------------------------------------------------------------- models
def _tf():
    import transformers

    return transformers


_TEXT = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
             max_position_embeddings=64)
_DECODER = dict(_TEXT, num_key_value_heads=2)


def _ids(batch=2, seq=7, vocab=99):
    g = torch.Generator().manual_seed(0)
    return torch.randint(3, vocab, (batch, seq), generator=g)


def _pixels(size=32, channels=3, batch=2):
    return torch.randn(batch, channels, size, size, generator=torch.Generator().manual_seed(0))


#: attention implementation for transformers models ("sdpa" runs attention in
#: transformers/integrations/sdpa_attention.py, "eager" in the model file itself)
ATTN_IMPLEMENTATION = os.environ.get("MEASURE_ATTN", "eager")


def _hf(config_name: str, model_name: str, inputs: Callable[[], dict], **cfg):
    def build():
        tf = _tf()
        config = getattr(tf, config_name)(**cfg)
        if ATTN_IMPLEMENTATION:
            config._attn_implementation = ATTN_IMPLEMENTATION  # pylint: disable=protected-access
        model = getattr(tf, model_name)(config)
        return model, (), inputs()

    return build


def _text(**extra):
    return lambda: dict(input_ids=_ids(), **{k: v() for k, v in extra.items()})


def _vision(size=32, key="pixel_values", channels=3):
    return lambda: {key: _pixels(size, channels)}


def _efficientnet_pytorch():
    from efficientnet_pytorch import EfficientNet

    model = EfficientNet.from_name("efficientnet-b0", image_size=32)
    return model, (_pixels(32),), {}


def _torchvision(name: str, size=64, **kw):
    def build():
        tv = _import_torchvision()
        model = getattr(tv.models, name)(**kw)
        return model, (_pixels(size),), {}

    return build


def _timm(name: str, size=64, **kw):
    def build():
        _import_torchvision()
        import timm

        model = timm.create_model(name, pretrained=False, **kw)
        return model, (_pixels(size),), {}

    return build


def _import_torchvision():
    """torchvision, even when its C extension does not match torch (models only)."""
    extra = os.environ.get("MEASURE_EXTRA_PATH")
    if extra and extra not in sys.path:
        sys.path.append(extra)
    if "torchvision" not in sys.modules:
        sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))
    import torchvision

    return torchvision


_WHISPER_IN = lambda: dict(input_features=torch.randn(1, 80, 60, generator=torch.Generator().manual_seed(0)),  # noqa: E731
                           decoder_input_ids=_ids(1, 5))

MODELS: dict[str, Callable[[], tuple[nn.Module, tuple, dict]]] = {
    "bert": _hf("BertConfig", "BertModel", _text(), **_TEXT),
    "roberta": _hf("RobertaConfig", "RobertaModel", _text(), **_TEXT),
    "distilbert": _hf("DistilBertConfig", "DistilBertModel", _text(), vocab_size=99, dim=32, n_layers=2, n_heads=4,
                      hidden_dim=37),
    "albert": _hf("AlbertConfig", "AlbertModel", _text(), **dict(_TEXT, embedding_size=16)),
    "electra": _hf("ElectraConfig", "ElectraModel", _text(), **dict(_TEXT, embedding_size=16)),
    "gpt2": _hf("GPT2Config", "GPT2Model", _text(), vocab_size=99, n_embd=32, n_layer=2, n_head=4, n_positions=64),
    "llama": _hf("LlamaConfig", "LlamaModel", _text(), **_DECODER),
    "mistral": _hf("MistralConfig", "MistralModel", _text(), **_DECODER),
    "qwen2": _hf("Qwen2Config", "Qwen2Model", _text(), **_DECODER),
    "phi": _hf("PhiConfig", "PhiModel", _text(), **_DECODER),
    "gemma": _hf("GemmaConfig", "GemmaModel", _text(), **dict(_DECODER, head_dim=8)),
    "opt": _hf("OPTConfig", "OPTModel", _text(), vocab_size=99, hidden_size=32, num_hidden_layers=2,
               num_attention_heads=4, ffn_dim=37, word_embed_proj_dim=32, max_position_embeddings=64),
    "gpt_neox": _hf("GPTNeoXConfig", "GPTNeoXModel", _text(), **_TEXT),
    "falcon": _hf("FalconConfig", "FalconModel", _text(), vocab_size=99, hidden_size=32, num_hidden_layers=2,
                  num_attention_heads=4),
    "t5": _hf("T5Config", "T5Model", _text(decoder_input_ids=lambda: _ids(2, 5)), vocab_size=99, d_model=32, d_kv=8,
              d_ff=37, num_layers=2, num_heads=4),
    "bart": _hf("BartConfig", "BartModel", _text(), vocab_size=99, d_model=32, encoder_layers=2, decoder_layers=2,
                encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=37, decoder_ffn_dim=37,
                max_position_embeddings=64),
    "whisper": _hf("WhisperConfig", "WhisperModel", _WHISPER_IN, vocab_size=99, d_model=32, encoder_layers=2,
                   decoder_layers=2, encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=37,
                   decoder_ffn_dim=37, max_source_positions=30, max_target_positions=64, num_mel_bins=80, pad_token_id=1,
                   bos_token_id=2, eos_token_id=2, decoder_start_token_id=2),
    "wav2vec2": _hf("Wav2Vec2Config", "Wav2Vec2Model",
                    lambda: dict(input_values=torch.randn(1, 800, generator=torch.Generator().manual_seed(0))),
                    **dict(_TEXT, conv_dim=(16, 16), conv_stride=(5, 2), conv_kernel=(10, 3),
                           num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2)),
    "vit": _hf("ViTConfig", "ViTModel", _vision(), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
               intermediate_size=37, image_size=32, patch_size=8),
    "deit": _hf("DeiTConfig", "DeiTModel", _vision(), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                intermediate_size=37, image_size=32, patch_size=8),
    "beit": _hf("BeitConfig", "BeitModel", _vision(), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                intermediate_size=37, image_size=32, patch_size=8, use_relative_position_bias=True),
    "dinov2": _hf("Dinov2Config", "Dinov2Model", _vision(), hidden_size=32, num_hidden_layers=2,
                  num_attention_heads=4, mlp_ratio=2, image_size=32, patch_size=8),
    "convnext": _hf("ConvNextConfig", "ConvNextModel", _vision(), hidden_sizes=[8, 16, 32, 64], depths=[1, 1, 2, 1]),
    "resnet": _hf("ResNetConfig", "ResNetModel", _vision(), embedding_size=8, hidden_sizes=[8, 16, 32, 64],
                  depths=[1, 2, 1, 1]),
    "resnet_basic": _hf("ResNetConfig", "ResNetModel", _vision(), embedding_size=8, hidden_sizes=[8, 16, 32, 64],
                        depths=[1, 2, 1, 1], layer_type="basic"),
    "regnet": _hf("RegNetConfig", "RegNetModel", _vision(), embedding_size=8, hidden_sizes=[8, 16, 32, 64],
                  depths=[1, 1, 2, 1], groups_width=8),
    "mobilenet_v2": _hf("MobileNetV2Config", "MobileNetV2Model", _vision(), depth_multiplier=0.25, image_size=32),
    "mobilenet_v1": _hf("MobileNetV1Config", "MobileNetV1Model", _vision(), depth_multiplier=0.25, image_size=32),
    "swin": _hf("SwinConfig", "SwinModel", _vision(), image_size=32, patch_size=4, embed_dim=16, depths=[1, 2],
                num_heads=[2, 4], window_size=4),
    "clip_text": _hf("CLIPTextConfig", "CLIPTextModel", _text(), **_TEXT),
    "clip_vision": _hf("CLIPVisionConfig", "CLIPVisionModel", _vision(), hidden_size=32, num_hidden_layers=2,
                       num_attention_heads=4, intermediate_size=37, image_size=32, patch_size=8),
    "mobilevit": _hf("MobileViTConfig", "MobileViTModel", _vision(64), image_size=64,
                     hidden_sizes=[16, 24, 32], neck_hidden_sizes=[8, 8, 16, 16, 24, 24, 32]),
    "segformer": _hf("SegformerConfig", "SegformerModel", _vision(64), hidden_sizes=[8, 16, 24, 32],
                     num_attention_heads=[1, 2, 2, 4], depths=[1, 1, 1, 1], decoder_hidden_size=32),
    "efficientnet": _hf("EfficientNetConfig", "EfficientNetModel", _vision(32), image_size=32,
                        width_coefficient=0.25, depth_coefficient=0.5, hidden_dim=320),
    "levit": _hf("LevitConfig", "LevitModel", _vision(64), image_size=64, hidden_sizes=[32, 48, 64],
                 num_attention_heads=[2, 3, 4], depths=[1, 1, 1], key_dim=[8, 8, 8]),
    "poolformer": _hf("PoolFormerConfig", "PoolFormerModel", _vision(64), hidden_sizes=[8, 16, 32, 64],
                      depths=[1, 1, 1, 1]),
    "efficientnet_pytorch": _efficientnet_pytorch,
    "tv_resnet18": _torchvision("resnet18"),
    "tv_mobilenet_v3": _torchvision("mobilenet_v3_small"),
    "tv_shufflenet": _torchvision("shufflenet_v2_x0_5"),
    "tv_inception": _torchvision("inception_v3", size=80, init_weights=False, aux_logits=False),
    "tv_vit": _torchvision("VisionTransformer", size=32, image_size=32, patch_size=8, num_layers=2, num_heads=4,
                           hidden_dim=32, mlp_dim=37),
    "tv_convnext": _torchvision("convnext_tiny"),
    "tv_swin": _torchvision("swin_t"),
    "tv_googlenet": _torchvision("googlenet", init_weights=False, aux_logits=False),
    "tv_densenet": _torchvision("densenet121"),
    "tv_efficientnet": _torchvision("efficientnet_b0"),
    "timm_resnet": _timm("resnet18"),
    "timm_vit": _timm("vit_tiny_patch16_224", size=32, img_size=32, patch_size=8),
    "timm_convnext": _timm("convnext_atto"),
    "timm_efficientnet": _timm("efficientnet_b0"),
    "timm_mobilenetv3": _timm("mobilenetv3_small_050"),
    "timm_swin": _timm("swin_tiny_patch4_window7_224", size=224),
    "timm_regnet": _timm("regnetx_002"),
    "timm_cspnet": _timm("cspresnet50"),
}
# ---- a wider set, built generically from each model type's default config (held out while tuning)
_TINY = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
             intermediate_size=37, d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
             decoder_attention_heads=4, encoder_ffn_dim=37, decoder_ffn_dim=37, num_layers=2, num_decoder_layers=2,
             num_heads=4, d_ff=37, d_kv=8, n_embd=32, n_layer=2, n_head=4, n_positions=64, n_ctx=64,
             max_position_embeddings=64, embedding_size=32, head_dim=8, ffn_dim=37, dim=32, hidden_dim=37,
             n_layers=2, n_heads=4, num_experts=4, num_local_experts=4, num_experts_per_tok=2, moe_intermediate_size=16,
             max_source_positions=64, max_target_positions=64, rotary_dim=4, word_embed_proj_dim=32,
             pad_token_id=0, bos_token_id=1, eos_token_id=2, decoder_start_token_id=1, sep_token_id=2)


def _auto(model_type: str, model_name: str, inputs: Callable[[], dict] | None = None, **overrides):
    def build():
        tf = _tf()
        config = tf.AutoConfig.for_model(model_type)
        for key, value in {**_TINY, **overrides}.items():
            if key in overrides or hasattr(config, key):
                try:
                    setattr(config, key, value)
                except Exception:  # pylint: disable=broad-except
                    pass
        if ATTN_IMPLEMENTATION:
            config._attn_implementation = ATTN_IMPLEMENTATION  # pylint: disable=protected-access
        model = getattr(tf, model_name)(config)
        return model, (), (inputs or _text())()

    return build


_ENC_DEC = _text(decoder_input_ids=lambda: _ids(2, 5))
_VIS = dict(image_size=32, patch_size=8, num_channels=3)
_HIER = dict(image_size=64, depths=[1, 1, 1, 1], hidden_sizes=[8, 16, 24, 32], embed_dim=16,
             num_heads=[1, 2, 2, 4], num_attention_heads=[1, 2, 2, 4])
_AUDIO = lambda: dict(input_values=torch.randn(1, 800, generator=torch.Generator().manual_seed(0)))  # noqa: E731
_CONV_AUDIO = dict(conv_dim=(16, 16), conv_stride=(5, 2), conv_kernel=(10, 3), num_conv_pos_embeddings=16,
                   num_conv_pos_embedding_groups=2)

HELD_OUT: dict[str, Callable[[], tuple[nn.Module, tuple, dict]]] = {
    "deberta_v2": _auto("deberta-v2", "DebertaV2Model"),
    "deberta": _auto("deberta", "DebertaModel"),
    "mpnet": _auto("mpnet", "MPNetModel"),
    "xlm_roberta": _auto("xlm-roberta", "XLMRobertaModel"),
    "convbert": _auto("convbert", "ConvBertModel"),
    "mobilebert": _auto("mobilebert", "MobileBertModel", embedding_size=16, intra_bottleneck_size=16,
                        true_hidden_size=16, num_feedforward_networks=2),
    "squeezebert": _auto("squeezebert", "SqueezeBertModel"),
    "funnel": _auto("funnel", "FunnelModel", block_sizes=[1, 1], d_inner=37, d_head=8),
    "bloom": _auto("bloom", "BloomModel"),
    "gpt_neo": _auto("gpt_neo", "GPTNeoModel", attention_types=[[["global", "local"], 1]], num_layers=2),
    "gptj": _auto("gptj", "GPTJModel"),
    "codegen": _auto("codegen", "CodeGenModel"),
    "biogpt": _auto("biogpt", "BioGptModel"),
    "xglm": _auto("xglm", "XGLMModel"),
    "qwen3": _auto("qwen3", "Qwen3Model"),
    "mixtral": _auto("mixtral", "MixtralModel"),
    "olmo": _auto("olmo", "OlmoModel"),
    "stablelm": _auto("stablelm", "StableLmModel"),
    "starcoder2": _auto("starcoder2", "Starcoder2Model"),
    "gemma2": _auto("gemma2", "Gemma2Model"),
    "cohere": _auto("cohere", "CohereModel"),
    "mbart": _auto("mbart", "MBartModel"),
    "marian": _auto("marian", "MarianModel"),
    "pegasus": _auto("pegasus", "PegasusModel"),
    "m2m_100": _auto("m2m_100", "M2M100Model"),
    "blenderbot": _auto("blenderbot", "BlenderbotModel"),
    "led": _auto("led", "LEDModel", attention_window=[4, 4], max_encoder_position_embeddings=64,
                 max_decoder_position_embeddings=64),
    "mt5": _auto("mt5", "MT5Model", _ENC_DEC),
    "longt5": _auto("longt5", "LongT5Model", _ENC_DEC),
    "prophetnet": _auto("prophetnet", "ProphetNetModel", _ENC_DEC, ngram=2),
    "hubert": _auto("hubert", "HubertModel", _AUDIO, **_CONV_AUDIO),
    "wavlm": _auto("wavlm", "WavLMModel", _AUDIO, **_CONV_AUDIO),
    "data2vec_audio": _auto("data2vec-audio", "Data2VecAudioModel", _AUDIO, **_CONV_AUDIO),
    "sew": _auto("sew", "SEWModel", _AUDIO, conv_dim=(16, 16), conv_stride=(5, 2), conv_kernel=(10, 3),
                 num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2, squeeze_factor=2),
    "vit_mae": _auto("vit_mae", "ViTMAEModel", _vision(), **_VIS),
    "yolos": _auto("yolos", "YolosModel", _vision(), image_size=[32, 32], patch_size=8, num_detection_tokens=2),
    "swinv2": _auto("swinv2", "Swinv2Model", _vision(), image_size=32, patch_size=4, embed_dim=16, depths=[1, 2],
                    num_heads=[2, 4], window_size=4),
    "convnextv2": _auto("convnextv2", "ConvNextV2Model", _vision(), hidden_sizes=[8, 16, 32, 64],
                        depths=[1, 1, 2, 1]),
    "pvt": _auto("pvt", "PvtModel", _vision(64), image_size=64, hidden_sizes=[8, 16, 24, 32],
                 num_attention_heads=[1, 2, 2, 4], depths=[1, 1, 1, 1]),
    "pvt_v2": _auto("pvt_v2", "PvtV2Model", _vision(64), image_size=64, hidden_sizes=[8, 16, 24, 32],
                    num_attention_heads=[1, 2, 2, 4], depths=[1, 1, 1, 1]),
    "mobilevitv2": _auto("mobilevitv2", "MobileViTV2Model", _vision(64), image_size=64, width_multiplier=0.25),
    "focalnet": _auto("focalnet", "FocalNetModel", _vision(), image_size=32, patch_size=4, embed_dim=16,
                      depths=[1, 1], focal_levels=[2, 2], focal_windows=[3, 3]),
    "cvt": _auto("cvt", "CvtModel", _vision(64), embed_dim=[16, 32, 48], num_heads=[1, 2, 3], depth=[1, 1, 1]),
    "bit": _auto("bit", "BitModel", _vision(64), embedding_size=8, hidden_sizes=[8, 16, 32, 64],
                 depths=[1, 1, 1, 1]),
    "dpt": _auto("dpt", "DPTModel", _vision(32), hidden_size=32, num_hidden_layers=4, image_size=32, patch_size=8,
                 backbone_out_indices=[0, 1, 2, 3]),
    "glpn": _auto("glpn", "GLPNModel", _vision(64), hidden_sizes=[8, 16, 24, 32],
                  num_attention_heads=[1, 2, 2, 4], depths=[1, 1, 1, 1], decoder_hidden_size=16),
    "data2vec_vision": _auto("data2vec-vision", "Data2VecVisionModel", _vision(), **_VIS),
    "siglip_vision": _auto("siglip_vision_model", "SiglipVisionModel", _vision(), **_VIS),
    "blip_text": _auto("blip_text_model", "BlipTextModel"),
    "groupvit_text": _auto("groupvit_text_model", "GroupViTTextModel"),
    "x_clip_text": _auto("xclip_text_model", "XCLIPTextModel"),
    "hiera": _auto("hiera", "HieraModel", _vision(64), image_size=[64, 64], embed_dim=16, depths=[1, 1, 1, 1],
                   num_heads=[1, 2, 2, 4], patch_stride=[4, 4], query_stride=[2, 2], masked_unit_size=[8, 8],
                   patch_size=[7, 7], patch_padding=[3, 3]),
    "timm_deit": _timm("deit_tiny_patch16_224", size=32, img_size=32, patch_size=8),
    "timm_beit": _timm("beit_base_patch16_224", size=32, img_size=32, patch_size=8, depth=2, embed_dim=32,
                       num_heads=4),
    "timm_levit": _timm("levit_128s", size=224),
    "timm_mobilevit": _timm("mobilevit_xxs", size=64),
    "timm_poolformer": _timm("poolformer_s12", size=64),
    "timm_xcit": _timm("xcit_nano_12_p16_224", size=32, img_size=32),
    "timm_coat": _timm("coat_tiny", size=64, img_size=64),
    "timm_crossvit": _timm("crossvit_tiny_240", size=240),
    "timm_twins": _timm("twins_svt_small", size=64, img_size=64, depths=(1, 1, 1, 1)),
    "timm_pit": _timm("pit_ti_224", size=224),
    "timm_maxvit": _timm("maxvit_tiny_tf_224", size=224),
    "timm_edgenext": _timm("edgenext_xx_small", size=64),
    "timm_efficientvit": _timm("efficientvit_b0", size=64),
    "timm_fastvit": _timm("fastvit_t8", size=64),
    "timm_ghostnet": _timm("ghostnet_050", size=64),
    "timm_hrnet": _timm("hrnet_w18_small", size=64),
    "timm_res2net": _timm("res2net50_14w_8s", size=64),
    "timm_resnest": _timm("resnest14d", size=64),
    "timm_sknet": _timm("skresnet18", size=64),
    "timm_dla": _timm("dla34", size=64),
    "timm_dpn": _timm("dpn48b", size=64),
    "timm_inception_v4": _timm("inception_v4", size=96),
    "timm_rexnet": _timm("rexnet_100", size=64),
    "timm_vgg": _timm("vgg11", size=64),
    "timm_xception": _timm("xception41", size=64),
    "timm_mixer": _timm("mixer_s16_224", size=224),
    "timm_resmlp": _timm("resmlp_12_224", size=224),
    "timm_gmlp": _timm("gmlp_ti16_224", size=224),
    "timm_convmixer": _timm("convmixer_768_32", size=64, depth=2),
    "timm_repvgg": _timm("repvgg_a0", size=64),
    "timm_nfnet": _timm("nf_resnet26", size=64),
    "timm_eva": _timm("eva02_tiny_patch14_224", size=224),
    "timm_vit_rope": _timm("vit_little_patch16_reg1_gap_256", size=256),
    "timm_densenet": _timm("densenet121", size=64),
    "timm_mobilenetv4": _timm("mobilenetv4_conv_small", size=64),
    "timm_hgnet": _timm("hgnetv2_b0", size=64),
    "timm_tinyvit": _timm("tiny_vit_5m_224", size=224),
    "timm_nextvit": _timm("nextvit_small", size=64),
    "tv_mnasnet": _torchvision("mnasnet0_5"),
    "tv_squeezenet": _torchvision("squeezenet1_0"),
    "tv_vgg": _torchvision("vgg11"),
    "tv_regnet": _torchvision("regnet_y_400mf"),
    "tv_resnext": _torchvision("resnext50_32x4d"),
    "tv_mobilenet_v2": _torchvision("mobilenet_v2"),
    "tv_efficientnet_v2": _torchvision("efficientnet_v2_s"),
    "tv_maxvit": _torchvision("maxvit_t", size=224),
    "tv_swin_v2": _torchvision("swin_v2_t"),
    "tv_alexnet": _torchvision("alexnet", size=96),
}
MODELS.update(HELD_OUT)
DEFAULT_MODELS = [n for n in MODELS if not n.startswith(("tv_", "timm_")) and n not in HELD_OUT]


# ------------------------------------------------------------------------ metrics
def static_runtime_lines(finding) -> set[int]:
    """Lines where a run reports the op a static finding points at (3.11 method calls)."""
    out = {finding.line}
    node = getattr(finding, "node", None)
    try:
        import astroid.nodes as an

        if isinstance(node, an.Call) and isinstance(node.func, an.Attribute):
            out.add(node.func.end_lineno)
    except Exception:  # pylint: disable=broad-except
        pass
    return out


def static_spans(finding) -> set[tuple[int, int, int, int]]:
    """The runtime spans that put an op exactly on this finding's expression."""
    node = getattr(finding, "node", None)
    if node is None:
        return set()
    import astroid.nodes as an

    span = (node.lineno, node.end_lineno, node.col_offset, node.end_col_offset)
    out = {span}
    if isinstance(node, an.Call) and isinstance(node.func, an.Attribute) and node.func.end_lineno != node.lineno:
        f = node.func
        out.add((f.end_lineno, node.end_lineno, f.end_col_offset - len(f.attrname.encode()), node.end_col_offset))
    return out


@dataclass
class Result:
    name: str
    files: list[str] = field(default_factory=list)
    runtime_ops: set = field(default_factory=set)  # (path, line)
    other_ops: set = field(default_factory=set)  # runtime op lines in files without module classes
    covered_other: set = field(default_factory=set)  # of those, lines with a static op finding (project mode)
    covered_ops: set = field(default_factory=set)
    reused: list = field(default_factory=list)
    covered_reuse: list = field(default_factory=list)
    static_exec: list = field(default_factory=list)  # op findings on executed lines
    precise_strict: list = field(default_factory=list)
    precise_loose: list = field(default_factory=list)
    reuse_static_exec: list = field(default_factory=list)
    reuse_static_ok: list = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0
    static_seconds: float = 0.0

    def misses(self):
        return sorted(self.runtime_ops - self.covered_ops)

    def false_alarms(self):
        return [f for f in self.static_exec if f not in self.precise_strict]


#: analyse the model's files as one project (`pylint-distiller check DIR`); False: each file alone
PROJECT_MODE = True


def _project(paths: list[str]):
    """A `ProjectIndex` over the model's files, when measuring project mode with a package that has one."""
    if not PROJECT_MODE:
        return None
    try:
        from pylint_distiller.analysis.project import ProjectIndex
    except ImportError:  # an older checkout (MEASURE_PACKAGE_ROOT): single-file mode only
        return None
    return ProjectIndex(paths)


def _analyze_in_project(project, path: str):
    from pylint_distiller.analysis import analyze_in_project

    return analyze_in_project(project, path)


def measure(name: str, compare_runtime: bool = False) -> Result:
    res = Result(name)
    start = time.perf_counter()
    try:
        torch.manual_seed(0)
        model, args, kwargs = MODELS[name]()
        model.eval()
        tracer = Tracer()
        tracer.run(model, args, kwargs)
    except Exception as exc:  # pylint: disable=broad-except
        res.error = f"{type(exc).__name__}: {exc}"[:300]
        return res
    res.seconds = time.perf_counter() - start

    files = set(model_files(model))
    events = list(tracer.events.values())
    event_files = {e.path for e in events if e.finding}
    t0 = time.perf_counter()
    findings_by_file: dict[str, list] = {}
    paths = [p for p in sorted(files | event_files | {p for m in tracer.reused(model) for p, _ in m.sites})
             if not p.startswith("<") and p.endswith(".py")]
    project = _project(paths)
    for path in paths:
        try:
            if project is not None and project.module(path) is not None:
                findings_by_file[path] = _analyze_in_project(project, path)
            else:
                findings_by_file[path] = analyze_file(path)
        except Exception as exc:  # pylint: disable=broad-except
            res.error = f"analyze_file({path}): {type(exc).__name__}: {exc}"[:300]
            findings_by_file[path] = []
    res.static_seconds = time.perf_counter() - t0
    res.files = sorted(files)

    # files that define module classes (those the analysis has forward code in)
    modfiles = {p for p in findings_by_file if p in files}

    op_lines_static: dict[str, set[int]] = defaultdict(set)
    reuse_lines_static: dict[str, set[int]] = defaultdict(set)
    for path, findings in findings_by_file.items():
        for f in findings:
            if f.symbol in OP_RULES:
                op_lines_static[path] |= static_runtime_lines(f)
            elif f.symbol in REUSE_RULES:
                reuse_lines_static[path] |= set(range(f.line, f.end_line + 1))

    for e in events:
        if not e.finding:
            continue
        key = (e.path, e.line)
        if e.path in modfiles:
            res.runtime_ops.add(key)
            if e.line in op_lines_static.get(e.path, ()):
                res.covered_ops.add(key)
        else:
            res.other_ops.add(key)
            if e.line in op_lines_static.get(e.path, ()):
                res.covered_other.add(key)

    for run_ in tracer.reused(model):
        sites = {s for s in run_.sites if s[0] in findings_by_file}
        if not sites:
            continue
        res.reused.append((run_, sites))
        if any(line in reuse_lines_static.get(path, ()) for path, line in sites):
            res.covered_reuse.append(run_)

    spans_strict: dict[str, set] = defaultdict(set)
    spans_loose: dict[str, set] = defaultdict(set)
    for e in events:
        if e.category in ("compute", "unknown"):
            spans_loose[e.path].add(e.span)
            if e.activation:
                spans_strict[e.path].add(e.span)
    reuse_call_lines: set[tuple[str, int]] = set()
    for run_ in tracer.reused(model):
        reuse_call_lines |= run_.sites
    for path, findings in findings_by_file.items():
        for f in findings:
            lines = static_runtime_lines(f)
            if not any((path, ln) in tracer.lines for ln in lines):
                continue
            if f.symbol in OP_RULES:
                res.static_exec.append(f)
                spans = static_spans(f)
                if spans & spans_strict.get(path, set()):
                    res.precise_strict.append(f)
                if spans & spans_loose.get(path, set()):
                    res.precise_loose.append(f)
            elif f.symbol == "reused-module":
                res.reuse_static_exec.append(f)
                if any((path, ln) in reuse_call_lines for ln in range(f.line, f.end_line + 1)):
                    res.reuse_static_ok.append(f)

    if compare_runtime:
        _compare_runtime(res, model, args, kwargs, modfiles)
    return res


def _compare_runtime(res: Result, model, args, kwargs, modfiles) -> None:
    try:
        from pylint_distiller.verify.runtime import trace_model
    except ImportError as exc:
        print(f"  [runtime tracer unavailable: {exc}]")
        return
    report = trace_model(model, args, kwargs=kwargs)
    theirs = {(s.path, s.line) for s in report.op_sites if s.path in modfiles}
    print(f"  [verify.runtime: {len(theirs)} op lines; only-here {len(res.runtime_ops - theirs)}, "
          f"only-there {len(theirs - res.runtime_ops)}; reused {len(report.reused_modules)}]")


# ------------------------------------------------------------------------- report
def _pct(num: int, den: int) -> str:
    return f"{100.0 * num / den:5.1f}%" if den else "   - "


def _short(path: str) -> str:
    for marker in ("site-packages" + os.sep, "extra" + os.sep):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def print_details(res: Result) -> None:
    import linecache

    for path, line in res.misses():
        print(f"    MISS op   {_short(path)}:{line}: {linecache.getline(path, line).strip()[:110]}")
    for run_, sites in res.reused:
        if run_ not in res.covered_reuse:
            where = ", ".join(f"{_short(p)}:{ln}" for p, ln in sorted(sites))
            print(f"    MISS reuse {run_.name} ({run_.klass}) x{run_.calls} at {where}")
    for f in res.false_alarms():
        loose = "loose-ok" if f in res.precise_loose else "FALSE"
        print(f"    {loose:8} {f.symbol} {_short(f.path)}:{f.line}:{f.col}-{f.end_line}:{f.end_col}: "
              f"{linecache.getline(f.path, f.line).strip()[:100]}")
    for f in res.reuse_static_exec:
        if f not in res.reuse_static_ok:
            print(f"    FALSE reuse {_short(f.path)}:{f.line}: {linecache.getline(f.path, f.line).strip()[:100]}")


def run(names: list[str], details: bool = False, compare_runtime: bool = False) -> list[Result]:
    results = []
    header = (f"{'model':22} {'ops':>5} {'hit':>5} {'recall':>7} {'reuse':>5} {'hit':>4} {'recall':>7} "
              f"{'static':>6} {'prec':>7} {'loose':>7} {'other':>5} {'sec':>5}")
    print(header)
    print("-" * len(header))
    for name in names:
        res = measure(name, compare_runtime)
        results.append(res)
        if res.error and not res.runtime_ops:
            print(f"{name:22} ERROR {res.error}")
            continue
        print(f"{name:22} {len(res.runtime_ops):5} {len(res.covered_ops):5} "
              f"{_pct(len(res.covered_ops), len(res.runtime_ops)):>7} {len(res.reused):5} "
              f"{len(res.covered_reuse):4} {_pct(len(res.covered_reuse), len(res.reused)):>7} "
              f"{len(res.static_exec):6} {_pct(len(res.precise_strict), len(res.static_exec)):>7} "
              f"{_pct(len(res.precise_loose), len(res.static_exec)):>7} {len(res.other_ops):5} "
              f"{res.seconds + res.static_seconds:5.1f}" + (f"  ({res.error})" if res.error else ""))
        if details:
            print_details(res)
        sys.stdout.flush()
    ok = [r for r in results if r.runtime_ops or r.reused]
    ops = sum(len(r.runtime_ops) for r in ok)
    hit = sum(len(r.covered_ops) for r in ok)
    reuse = sum(len(r.reused) for r in ok)
    rhit = sum(len(r.covered_reuse) for r in ok)
    st = sum(len(r.static_exec) for r in ok)
    ps = sum(len(r.precise_strict) for r in ok)
    pl = sum(len(r.precise_loose) for r in ok)
    other = sum(len(r.other_ops) for r in ok)
    rs = sum(len(r.reuse_static_exec) for r in ok)
    rok = sum(len(r.reuse_static_ok) for r in ok)
    print("-" * len(header))
    print(f"{'TOTAL':22} {ops:5} {hit:5} {_pct(hit, ops):>7} {reuse:5} {rhit:4} {_pct(rhit, reuse):>7} "
          f"{st:6} {_pct(ps, st):>7} {_pct(pl, st):>7} {other:5}")
    print(f"reuse findings on executed lines: {rs}, on a really reused module's call line: {rok} ({_pct(rok, rs)})")
    other_hit = sum(len(r.covered_other) for r in ok)
    print(f"op lines in files without module classes (helpers): {other}, with a static finding: {other_hit} "
          f"({_pct(other_hit, other)})")
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="*", help=f"default: {' '.join(DEFAULT_MODELS)}; 'all': every model "
                        "(torchvision/timm need MEASURE_EXTRA_PATH or an install); 'held-out': the wider set")
    parser.add_argument("--details", action="store_true", help="list misses and false alarms")
    parser.add_argument("--compare-runtime", action="store_true", help="cross-check op lines with verify.runtime")
    parser.add_argument("--json", help="write per-model numbers to this file")
    parser.add_argument("--single-file", action="store_true",
                        help="analyse each file alone (the default analyses the model's files as one project)")
    parser.add_argument("--attn", default=ATTN_IMPLEMENTATION,
                        help="transformers attention implementation: eager (default) or sdpa; '' keeps the config's")
    args = parser.parse_args(argv)
    globals()["ATTN_IMPLEMENTATION"] = args.attn
    globals()["PROJECT_MODE"] = not args.single_file
    names = args.models or DEFAULT_MODELS
    if names == ["all"]:
        names = list(MODELS)
    elif names == ["held-out"]:
        names = list(HELD_OUT)
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        parser.error(f"unknown models: {', '.join(unknown)}")
    results = run(names, args.details, args.compare_runtime)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump([{
                "model": r.name, "error": r.error, "ops": len(r.runtime_ops), "ops_hit": len(r.covered_ops),
                "reused": len(r.reused), "reused_hit": len(r.covered_reuse), "static": len(r.static_exec),
                "precise": len(r.precise_strict), "precise_loose": len(r.precise_loose),
                "other_file_ops": len(r.other_ops), "other_file_ops_hit": len(r.covered_other),
            } for r in results], out, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
