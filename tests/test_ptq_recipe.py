"""The README's eager PTQ recipe, run on the bundled examples after `fix --target torch-eager`.

For every example in the recipe's scope and both fix levels (safe; safe + unsafe), the
test runs the real CLI on a copy of the file, builds the original and the prepared model
with the same seed, loads the original state_dict strictly, checks the float outputs
match, then runs the README's ``quantize_eager`` (tests/support/ptq.py executes the README
block itself) and scores the int8 output against the float one.

SQNR floor: 20 dB, i.e. an RMS error of 10% of the RMS output. Basis: on torch 2.14.1 the
in-scope examples measure 30.9 dB (bottleneck: 4 convs + add; 32.1 dB with `fuse_model()`),
31.7 dB (squeeze_excitation) and 42.9 dB (basic_module, whose sigmoid squashes the error;
43.0 dB fused) on these inputs; a single int8 tensor scores ~40-50 dB. The floor leaves
>10 dB of margin for calibration noise, and a broken calibration (inputs 1000x too small)
scores 0.04 dB (the last test).
"""

from __future__ import annotations

import shutil

import pytest
import torch
import torch.nn as nn

from pylint_distiller.cli import main as cli_main
from tests.support.ptq import random_batches, readme_recipe, sqnr_db
from tests.support.runtime_equivalence import load_module_from_source
from tests.test_examples_run import EXAMPLES, EXAMPLES_DIR, load_example

SQNR_FLOOR_DB = 20.0
CALIBRATION, EVALUATION = 8, 4

#: Examples the stubs-around-the-model recipe cannot take, and why (checked below).
OUT_OF_SCOPE = {
    "lstm_model": "token ids in: the QuantStub belongs after the embedding, inside the model",
    "shape_arithmetic": "returns a list of tensors: one DeQuantStub per output",
}
IN_SCOPE = [name for name in EXAMPLES if name not in OUT_OF_SCOPE]
#: Examples with conv+bn chains, which the fix's `fuse_model()` must fold away (bottleneck's
#: downsample Sequential is handed in through a constructor parameter, as in torchvision's ResNet).
FUSABLE = ["basic_module", "bottleneck"]

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning")


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """Tiny convs on a loaded machine: torch's thread pool spins (~500x slower than 1 thread)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _cases(names) -> list:
    """(name, unsafe) params: every example, with safe and with safe+unsafe fixes."""
    return [pytest.param(name, unsafe, id=f"{name}-{'unsafe' if unsafe else 'safe'}")
            for name in names for unsafe in (False, True)]


def fixed_example(name: str, unsafe: bool, tmp_path):
    """The example after the user's `pylint-distiller fix --target torch-eager [--unsafe-fixes]`."""
    path = tmp_path / f"{name}.py"
    shutil.copyfile(EXAMPLES_DIR / f"{name}.py", path)
    code = cli_main(["fix", "--target", "torch-eager", *(["--unsafe-fixes"] if unsafe else []), str(path)])
    assert code in (0, 1), f"fix exited {code}"
    return load_module_from_source(path.read_text(encoding="utf-8"), f"{name}_eager", path_hint=path)


def prepared_model(name: str, unsafe: bool, tmp_path) -> tuple[nn.Module, list, list]:
    """The prepared model (original weights, strictly loaded), its eval inputs and float outputs."""
    original_module = load_example(name)
    prepared_module = fixed_example(name, unsafe, tmp_path)
    torch.manual_seed(0)
    original = original_module.build().eval()
    torch.manual_seed(1)  # other init: only the strict load makes the weights equal
    prepared = prepared_module.build().eval()
    prepared.load_state_dict(original.state_dict(), strict=True)
    (example,) = original_module.example_inputs()
    inputs = random_batches(example.shape, EVALUATION, seed=2000)
    with torch.no_grad():
        expected = [original(x) for x in inputs]
        floats = [prepared(x) for x in inputs]
    for a, b in zip(expected, floats):
        torch.testing.assert_close(b, a, rtol=0, atol=1e-5)
    return prepared, inputs, floats


def quantize(name: str, model: nn.Module) -> nn.Module:
    (example,) = load_example(name).example_inputs()
    return readme_recipe()(model, random_batches(example.shape, CALIBRATION, seed=1000))


@pytest.mark.parametrize("name,unsafe", _cases(IN_SCOPE))
def test_readme_recipe_quantizes_the_fixed_example(name, unsafe, tmp_path):
    model, inputs, floats = prepared_model(name, unsafe, tmp_path)
    quantized = quantize(name, model)
    with torch.no_grad():
        outputs = [quantized(x) for x in inputs]
    assert all(isinstance(o, torch.Tensor) and not o.is_quantized and o.shape == f.shape
               for o, f in zip(outputs, floats))
    assert any(type(m).__module__.startswith("torch.ao.nn.quantized") for m in quantized.modules())
    sqnr = sqnr_db(torch.cat(floats), torch.cat(outputs))
    assert sqnr >= SQNR_FLOOR_DB, f"{name}: SQNR {sqnr:.1f} dB < {SQNR_FLOOR_DB} dB"


@pytest.mark.parametrize("name,unsafe", _cases(FUSABLE))
def test_readme_recipe_folds_every_batchnorm(name, unsafe, tmp_path):
    """With the fix's `fuse_model()`, no BatchNorm survives as its own (float or int8) op."""
    model, _, _ = prepared_model(name, unsafe, tmp_path)
    quantized = quantize(name, model)
    left = [n for n, m in quantized.named_modules() if "BatchNorm" in type(m).__name__]
    assert not left, f"BatchNorm left unfused: {left}"


def test_out_of_scope_examples_are_so_for_the_stated_reason():
    lstm = load_example("lstm_model")
    (tokens,) = lstm.example_inputs()
    assert not tokens.is_floating_point()
    shapes = load_example("shape_arithmetic")
    torch.manual_seed(0)
    with torch.no_grad():
        out = shapes.build().eval()(*shapes.example_inputs())
    assert isinstance(out, list) and len(out) > 1
    assert set(OUT_OF_SCOPE) | set(IN_SCOPE) == set(EXAMPLES)


def test_sqnr_floor_rejects_a_broken_calibration(tmp_path):
    """The floor can fail: calibrated on inputs 1000x too small, activations clip."""
    model, inputs, floats = prepared_model("bottleneck", False, tmp_path)
    (example,) = load_example("bottleneck").example_inputs()
    tiny = [x * 1e-3 for x in random_batches(example.shape, CALIBRATION, seed=1000)]
    quantized = readme_recipe()(model, tiny)
    with torch.no_grad():
        outputs = [quantized(x) for x in inputs]
    assert sqnr_db(torch.cat(floats), torch.cat(outputs)) < SQNR_FLOOR_DB
