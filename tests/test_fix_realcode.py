"""`fix` on real third-party model code: transformers modeling files and
efficientnet_pytorch, executed before and after the rewrite.

Each modeling file is copied into a temporary file and imported as a sibling of
the installed one (``transformers.models.<name>.modeling_<name>__fix<n>``), so its
relative imports resolve to the installed package; efficientnet_pytorch's
``model.py`` and ``utils.py`` are both rewritten and imported as a temporary
package. The ORIGINAL file goes through the same loader, so the two runs differ
only by the rewrite.

For every model and target (safe fixes; distiller with the test-only stand-in):
build from a tiny config with the same seed, load the original state_dict with
``strict=True``, compare outputs (eval mode, max abs diff <= 1e-5), then trace one
forward pass with `verify.runtime.trace_model`: the number of compute-op sites
executed outside modules in the model file must not grow (the per-model reduction
is printed at the end of the run, and written as JSON to ``$FIX_REALCODE_REPORT``
when set), and no module may be newly called twice per pass (except inside a
module the original already calls several times, e.g. ALBERT's shared layer).
"""

from __future__ import annotations

import ast
import importlib
import itertools
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from typing import Any, Callable

import pytest
import torch
import torch.nn as nn

from pylint_distiller.catalogue import NATIVE, OPS, TARGETS
from pylint_distiller.fixer.engine import allowed, fix_source
from pylint_distiller.settings import Settings
from pylint_distiller.verify.runtime import trace_model
from tests.support.realcode import load_sibling, newly_reused, reused, tensors
from tests.support.runtime_equivalence import stub_distiller_on_path

transformers = pytest.importorskip("transformers")

ATOL = 1e-5
_counter = itertools.count(1)
_TMP = tempfile.mkdtemp(prefix="pylint-distiller-realcode-")
REDUCTIONS: dict[tuple[str, str], dict[str, Any]] = {}


@pytest.fixture(scope="module", autouse=True)
def _report_and_cleanup(request):
    yield
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    rows = sorted(REDUCTIONS.items())
    if reporter is not None and capture is not None and rows:
        with capture.global_and_fixture_disabled():
            _write_table(reporter, rows)
    out = os.environ.get("FIX_REALCODE_REPORT")
    if out and rows:
        with open(out, "w", encoding="utf-8") as stream:
            json.dump({f"{m}/{t}": r for (m, t), r in rows}, stream, indent=2)
    shutil.rmtree(_TMP, ignore_errors=True)


def _write_table(reporter, rows) -> None:
    reporter.write_line("")
    reporter.write_line("fix on real code: compute-op sites executed outside modules (model files only)")
    reporter.write_line(f"  {'model':22s} {'target':12s} {'before':>6s} {'after':>6s} {'reduction':>9s} {'applied':>7s}")
    for (model, target), row in rows:
        reporter.write_line(f"  {model:22s} {target:12s} {row['before']:6d} {row['after']:6d} "
                            f"{row['reduction']:8.1f}% {row['applied']:7d}{row.get('note', '')}")


# ------------------------------------------------------------------ models
def _ids(batch=2, seq=7, vocab=99):
    return torch.randint(3, vocab, (batch, seq), generator=torch.Generator().manual_seed(0))


def _pixels(size=32, batch=2):
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(0))


_TEXT = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
             max_position_embeddings=64)


@dataclass
class HF:
    """A transformers model: its modeling file, config and inputs."""

    package: str
    config: str
    model: str
    config_kwargs: dict
    inputs: Callable[[], dict]
    module: str = ""

    @property
    def stem(self) -> str:
        return self.module or f"modeling_{self.package}"

    @property
    def source_path(self) -> str:
        return os.path.join(os.path.dirname(transformers.__file__), "models", self.package, self.stem + ".py")


MODELS: dict[str, HF | str] = {
    "bert": HF("bert", "BertConfig", "BertModel", _TEXT, lambda: dict(input_ids=_ids())),
    "distilbert": HF("distilbert", "DistilBertConfig", "DistilBertModel",
                     dict(vocab_size=99, dim=32, n_layers=2, n_heads=4, hidden_dim=37), lambda: dict(input_ids=_ids())),
    "albert": HF("albert", "AlbertConfig", "AlbertModel", dict(_TEXT, embedding_size=16),
                 lambda: dict(input_ids=_ids())),
    "gpt2": HF("gpt2", "GPT2Config", "GPT2Model",
               dict(vocab_size=99, n_embd=32, n_layer=2, n_head=4, n_positions=64, bos_token_id=1, eos_token_id=2),
               lambda: dict(input_ids=_ids(), use_cache=False)),
    "llama": HF("llama", "LlamaConfig", "LlamaModel", dict(_TEXT, num_key_value_heads=2),
                lambda: dict(input_ids=_ids(), use_cache=False)),
    "t5": HF("t5", "T5Config", "T5Model", dict(vocab_size=99, d_model=32, d_kv=8, d_ff=37, num_layers=2, num_heads=4),
             lambda: dict(input_ids=_ids(), decoder_input_ids=_ids(2, 5), use_cache=False)),
    "vit": HF("vit", "ViTConfig", "ViTModel", dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                                  intermediate_size=37, image_size=32, patch_size=8),
              lambda: dict(pixel_values=_pixels())),
    "swin": HF("swin", "SwinConfig", "SwinModel", dict(image_size=32, patch_size=4, embed_dim=16, depths=[1, 2],
                                                      num_heads=[2, 4], window_size=4),
               lambda: dict(pixel_values=_pixels())),
    "resnet": HF("resnet", "ResNetConfig", "ResNetModel", dict(embedding_size=8, hidden_sizes=[8, 16, 32, 64],
                                                              depths=[1, 2, 1, 1]),
                 lambda: dict(pixel_values=_pixels())),
    "convnext": HF("convnext", "ConvNextConfig", "ConvNextModel", dict(hidden_sizes=[8, 16, 32, 64], depths=[1, 1, 2, 1]),
                   lambda: dict(pixel_values=_pixels())),
    "mobilenet_v2": HF("mobilenet_v2", "MobileNetV2Config", "MobileNetV2Model",
                       dict(depth_multiplier=0.25, image_size=32), lambda: dict(pixel_values=_pixels())),
    "mobilevit": HF("mobilevit", "MobileViTConfig", "MobileViTModel",
                    dict(image_size=64, hidden_sizes=[16, 24, 32], neck_hidden_sizes=[8, 8, 16, 16, 24, 24, 32]),
                    lambda: dict(pixel_values=_pixels(64))),
    "efficientnet_pytorch": "efficientnet_pytorch",
}

#: Models whose full safe fix hits a known engine bug (strict xfail); the
#: `..._without_known_bugs` test still runs them with the buggy findings left out.
KNOWN_BUGS = {
}


# ------------------------------------------------------------------ loading
@dataclass
class Loaded:
    build: Callable[[], nn.Module]
    files: set[str]  # realpaths of the (rewritten) model files
    texts: dict[str, str] = field(default_factory=dict)
    by_stem: dict[str, str] = field(default_factory=dict)  # stem -> realpath


def _efficientnet_sources() -> dict[str, str]:
    efficientnet_pytorch = pytest.importorskip("efficientnet_pytorch")
    folder = os.path.dirname(efficientnet_pytorch.__file__)
    out = {}
    for stem in ("model", "utils"):
        with open(os.path.join(folder, stem + ".py"), encoding="utf-8", newline="") as stream:
            out[stem] = stream.read()
    return out


def sources(name: str) -> dict[str, tuple[str, str]]:
    """{stem: (path for the analysis, text)} of the files the fix rewrites."""
    spec = MODELS[name]
    if isinstance(spec, HF):
        with open(spec.source_path, encoding="utf-8", newline="") as stream:
            return {spec.stem: (spec.source_path, stream.read())}
    return {stem: (f"efficientnet_pytorch/{stem}.py", text) for stem, text in _efficientnet_sources().items()}


def load(name: str, texts: dict[str, str]) -> Loaded:
    spec = MODELS[name]
    with stub_distiller_on_path():
        if isinstance(spec, HF):
            module, path = load_sibling(f"transformers.models.{spec.package}", spec.stem, texts[spec.stem], _TMP)
            config = getattr(transformers, spec.config)(**spec.config_kwargs)
            config._attn_implementation = "eager"  # attention in the model file, not in an integration

            def build():
                return getattr(module, spec.model)(config)

            return Loaded(build, {path}, texts, {spec.stem: path})
        n = next(_counter)
        package = f"effnet_fix{n}"
        folder = os.path.join(_TMP, package)
        os.makedirs(folder)
        open(os.path.join(folder, "__init__.py"), "w", encoding="utf-8").close()
        for stem, text in texts.items():
            with open(os.path.join(folder, stem + ".py"), "w", encoding="utf-8", newline="") as stream:
                stream.write(text)
        sys.path.insert(0, _TMP)
        try:
            model_module = importlib.import_module(f"{package}.model")
        finally:
            sys.path.remove(_TMP)
        by_stem = {stem: os.path.realpath(os.path.join(folder, stem + ".py")) for stem in texts}
        return Loaded(lambda: model_module.EfficientNet.from_name("efficientnet-b0", image_size=32),
                      set(by_stem.values()), texts, by_stem)


def inputs_of(name: str) -> tuple[tuple, dict]:
    spec = MODELS[name]
    if isinstance(spec, HF):
        return (), spec.inputs()
    return (_pixels(32),), {}


@dataclass
class Original:
    loaded: Loaded
    model: nn.Module
    outputs: list[torch.Tensor]
    sites: int
    reused: set[str]


_ORIGINALS: dict[str, Original] = {}


def original(name: str) -> Original:
    if name not in _ORIGINALS:
        loaded = load(name, {stem: text for stem, (_, text) in sources(name).items()})
        torch.manual_seed(0)
        model = loaded.build().eval()
        args, kwargs = inputs_of(name)
        with torch.no_grad():
            outputs = tensors(model(*args, **kwargs))
        report = trace_model(model, args, kwargs=kwargs, source_filter=lambda p: p in loaded.files)
        _ORIGINALS[name] = Original(loaded, model, outputs, len(report.op_sites), reused(model, args, kwargs))
    return _ORIGINALS[name]


def _in_known_bug_scope(text: str) -> Callable[[Any], bool]:
    """Findings NOT inside a @staticmethod or a torch.autograd.Function subclass."""
    tree = ast.parse(text)
    spans = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and any(
                isinstance(d, ast.Name) and d.id == "staticmethod" for d in node.decorator_list):
            spans.append((node.lineno, node.end_lineno))
        if isinstance(node, ast.ClassDef) and any(ast.unparse(b).endswith("Function") for b in node.bases):
            spans.append((node.lineno, node.end_lineno))
    return lambda finding: not any(a <= finding.line <= b for a, b in spans)


# ------------------------------------------------------------------- the check
@dataclass
class Run:
    """One model rewritten for one target and executed; the checks read it."""

    row: dict[str, Any] | None = None
    silent: list = field(default_factory=list)  # ops outside modules no longer reported
    newly_reused: set[str] = field(default_factory=set)
    error: BaseException | None = None


_RUNS: dict[tuple[str, str, bool], Run] = {}


def run(name: str, target: str, avoid_known_bugs: bool = False) -> Run:
    """Rewrite, import, compare and trace once per (model, target); re-raise its failure."""
    key = (name, target, avoid_known_bugs)
    if key not in _RUNS:
        out = Run()
        try:
            _run(name, target, avoid_known_bugs, out)
        except Exception as exc:  # pylint: disable=broad-except
            out.error = exc
        _RUNS[key] = out
    result = _RUNS[key]
    if result.error is not None:
        raise result.error
    return result


def _run(name: str, target: str, avoid_known_bugs: bool, out: Run) -> None:
    base = original(name)
    settings = Settings(target=target)
    texts, applied, remaining = {}, 0, {}
    for stem, (path, text) in sources(name).items():
        select = _in_known_bug_scope(text) if avoid_known_bugs else None
        result = fix_source(text, path, settings, select=select)
        if select is None:  # (a select-ed fix is one pass by design)
            again = fix_source(result.text, path, settings)
            assert again.text == result.text, f"{stem}: fix is not idempotent"
            leftover = [f"{f.line}: {f.message}" for f in result.remaining if allowed(f, unsafe=False)]
            assert not leftover, f"{stem}: safe fixes left behind: {leftover}"
        compile(result.text, path, "exec", dont_inherit=True)
        texts[stem] = result.text
        applied += len(result.applied)
        remaining[stem] = result.remaining
    loaded = load(name, texts)
    torch.manual_seed(0)
    prepared = loaded.build().eval()
    prepared.load_state_dict(base.model.state_dict(), strict=True)
    args, kwargs = inputs_of(name)
    with torch.no_grad():
        outputs = tensors(prepared(*args, **kwargs))
    assert len(outputs) == len(base.outputs)
    for i, (a, b) in enumerate(zip(base.outputs, outputs)):
        assert a.shape == b.shape, f"output {i}: {tuple(a.shape)} vs {tuple(b.shape)}"
        diff = (a - b).abs().max().item() if a.numel() else 0.0
        assert diff <= ATOL, f"output {i}: max abs diff {diff:.3e} > {ATOL}"

    report = trace_model(prepared, args, kwargs=kwargs, source_filter=lambda p: p in loaded.files)
    after = len(report.op_sites)
    out.row = dict(before=base.sites, after=after, applied=applied,
                   reduction=100.0 * (base.sites - after) / base.sites if base.sites else 0.0)
    if avoid_known_bugs:
        out.row["note"] = "  (known-bug sites left unfixed)"
    REDUCTIONS.setdefault((name, target), out.row)
    # what still runs outside modules must still be reported (or be native to the target)
    reported = {(loaded.by_stem[stem], line) for stem, findings in remaining.items()
                for f in findings for line in range(f.line, (f.end_line or f.line) + 1)}
    natives = {key.rsplit(".", 1)[-1] for key, spec in OPS.items() if spec.replacement(target) == NATIVE}
    out.silent = sorted((os.path.basename(s.path), s.line, s.op) for s in report.op_sites
                        if (s.path, s.line) not in reported and s.op.rsplit(".", 1)[-1] not in natives)
    # no module newly called twice, unless it sits inside a module the original
    # already calls several times per pass (the whole subtree is reused then)
    out.newly_reused = newly_reused(base.reused, reused(prepared, args, kwargs))


#: Per-check known bugs, on top of the whole-model ones in KNOWN_BUGS.
KNOWN_CHECK_BUGS = {
}


def params(check: str) -> list:
    out = []
    for name in MODELS:
        for target in TARGETS:
            reason = (KNOWN_BUGS.get(name) or KNOWN_CHECK_BUGS.get((check, name))
                      or KNOWN_CHECK_BUGS.get((check, name, target)))
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            out.append(pytest.param(name, target, id=f"{name}-{target}", marks=marks))
    return out


@pytest.mark.parametrize("name,target", params("equivalent"))
def test_real_model_is_equivalent_after_fix(name, target):
    """Imports, loads the original state_dict strictly, same outputs; fix is idempotent."""
    run(name, target)


@pytest.mark.parametrize("name,target", params("sites"))
def test_real_model_op_sites_do_not_grow(name, target):
    row = run(name, target).row
    assert row["after"] <= row["before"], f"op sites outside modules grew: {row['before']} -> {row['after']}"


@pytest.mark.parametrize("name,target", params("silent"))
def test_real_model_ops_left_outside_modules_are_still_reported(name, target):
    silent = run(name, target).silent
    assert not silent, f"ops outside modules that the checker no longer reports: {silent}"


@pytest.mark.parametrize("name,target", params("reuse"))
def test_real_model_no_module_newly_called_twice(name, target):
    newly = run(name, target).newly_reused
    assert not newly, f"modules newly called more than once per pass: {sorted(newly)}"


_NO_WORKAROUND = {"llama"}


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("name", sorted(set(KNOWN_BUGS) - _NO_WORKAROUND))
def test_real_model_without_known_bug_sites(name, target):
    """The rest of a file with a known-bug site still rewrites correctly."""
    result = run(name, target, avoid_known_bugs=True)
    assert result.row["after"] <= result.row["before"]
    assert not result.silent, result.silent
    assert not result.newly_reused, result.newly_reused


def test_reductions_are_substantial_for_distiller():
    """The distiller target fixes something real in (nearly) every model."""
    rows = {m: r for (m, t), r in REDUCTIONS.items() if t == "distiller"}
    if len(rows) < len(MODELS) - 1:
        pytest.skip("run together with the per-model tests")
    improved = [m for m, r in rows.items() if r["after"] < r["before"]]
    assert len(improved) >= len(rows) - 2, rows
