"""The README's eager post-training quantization recipe, and how to score its result.

The recipe is not copied here: `readme_recipe()` executes the one ``python`` block of the
README section "Eager post-training quantization of a prepared model" and returns its
``quantize_eager``. The recipe test and `benchmarks/ptq.py` both call it, so what the
README shows is literally what they run.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterable

import torch
import torch.ao.quantization as tq
from torch import nn

README = Path(__file__).resolve().parents[2] / "README.md"
RECIPE_SECTION = "## Eager post-training quantization of a prepared model"


@lru_cache(maxsize=None)
def readme_recipe() -> Callable:
    """``quantize_eager(model, calibration_batches)`` as the README defines it."""
    text = README.read_text(encoding="utf-8")
    if text.count(RECIPE_SECTION + "\n") != 1:
        raise LookupError(f"README.md has no single section {RECIPE_SECTION!r}")
    section = text.split(RECIPE_SECTION + "\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```python\n(.*?)^```$", section, flags=re.S | re.M)
    if len(blocks) != 1:
        raise LookupError(f"{RECIPE_SECTION!r} must hold exactly one python block, found {len(blocks)}")
    namespace: dict = {"__name__": "readme_recipe"}
    exec(compile(blocks[0], f"{README}:{RECIPE_SECTION}", "exec"), namespace)  # pylint: disable=exec-used
    return namespace["quantize_eager"]


def sqnr_db(reference: torch.Tensor, quantized: torch.Tensor) -> float:
    """Signal-to-quantization-noise ratio in dB: 10 log10(|ref|^2 / |ref - q|^2).

    +inf when the two are equal; about 6 dB per bit of a uniform quantizer, so a single
    int8 tensor scores ~40-50 dB and every quantized op on the way adds its noise.
    """
    reference = reference.detach().double()
    noise = (reference - quantized.detach().double()).pow(2).sum().item()
    signal = reference.pow(2).sum().item()
    if noise == 0.0:
        return math.inf
    if signal == 0.0:
        return -math.inf
    return 10.0 * math.log10(signal / noise)


def random_batches(shape: Iterable[int], count: int, seed: int) -> list[torch.Tensor]:
    """``count`` standard-normal batches, batch ``i`` drawn from seed ``seed + i``:
    every process that asks for the same (shape, count, seed) gets the same data."""
    shape = tuple(shape)
    return [torch.randn(shape, generator=torch.Generator().manual_seed(seed + i)) for i in range(count)]


def eager_ptq(model: nn.Module, calibration: Iterable[torch.Tensor], mapping=None) -> nn.Module:
    """Plain eager PTQ, no fusion: stubs around the model, x86 qconfig, prepare, calibrate, convert.

    The tests of single rewrites use this one; the README recipe (`readme_recipe`) adds
    `fuse_model()` and is what the recipe test and the PTQ benchmark run.
    """
    torch.backends.quantized.engine = "x86"
    wrapped = nn.Sequential(tq.QuantStub(), model, tq.DeQuantStub()).eval()
    wrapped.qconfig = tq.get_default_qconfig("x86")
    tq.prepare(wrapped, inplace=True)
    with torch.no_grad():
        for batch in calibration:
            wrapped(batch)
    tq.convert(wrapped, mapping=mapping, inplace=True)
    return wrapped
