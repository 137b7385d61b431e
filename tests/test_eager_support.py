"""The measured eager facts (`pylint_distiller/eager_support.py`) still hold on the installed torch.

Each set is measured again by execution (`tests/support/eager_kernels.py`): when torch
gains or loses a quantized kernel, this fails and names the op, and the data is
regenerated with ``python -m tests.support.eager_kernels``.
"""

from __future__ import annotations

import pytest

from pylint_distiller import eager_support as E
from tests.support import eager_kernels as ek


@pytest.fixture(scope="module")
def ops():
    return ek.measure_ops()


@pytest.fixture(scope="module")
def modules():
    return ek.measure_modules()


def test_float_only_ops_still_fail_on_quantized_tensors(ops):
    measured = {k for k, ok in ops.items() if not ok}
    assert measured == set(E.FLOAT_ONLY_OPS)


def test_quantized_ops_still_run(ops):
    measured = {k for k, ok in ops.items() if ok}
    assert measured == set(E.QUANTIZED_OPS)


def test_module_facts_still_hold(modules):
    assert {k for k, ok in modules.items() if not ok} == set(E.FLOAT_ONLY_MODULES)
    assert {k for k, ok in modules.items() if ok} == set(E.QUANTIZED_MODULES)


def test_float_only_modules_run_in_an_island():
    for name in sorted(E.FLOAT_ONLY_MODULES - E.PER_TENSOR_WEIGHT_MODULES):
        mapped = name in E.MAPPED_FLOAT_ONLY_MODULES
        assert ek.island_runs(name, without_qconfig=mapped), name
        if mapped:  # ... and the qconfig = None is needed, not decoration
            assert not ek.island_runs(name), name


def test_per_tensor_weight_modules_quantize_with_their_own_qconfig():
    assert ek.measure_modules_per_tensor_weight() == {k: True for k in E.PER_TENSOR_WEIGHT_MODULES}
    assert all(not ok for k, ok in ek.measure_modules().items() if k in E.PER_TENSOR_WEIGHT_MODULES)


@pytest.mark.parametrize("name", sorted(E.SUBCLASS_ISLAND_BASES))
def test_subclasses_of_exact_type_converted_modules_fail_and_run_in_an_island(name):
    """convert matches exact types: a subclass stays float and fails on quantized input, own forward or not."""
    assert name in E.QUANTIZED_MODULES | E.FLOAT_ONLY_MODULES, name  # measured as a type of its own too
    assert not ek.subclass_runs(name), name
    assert not ek.subclass_runs(name, own_forward=True), name
    assert ek.subclass_island_runs(name), name


def test_subclass_island_bases_are_the_mapped_types_whose_subclasses_fail():
    from torch.ao.quantization.quantization_mappings import get_default_static_quant_module_mappings

    mapped = {f"torch.nn.{k.__name__}" for k in get_default_static_quant_module_mappings()
              if k.__module__.startswith("torch.nn.modules.")}
    assert E.SUBCLASS_ISLAND_BASES <= mapped | E.FLOAT_ONLY_MODULES
    # the other measured mapped types run a float forward that copes with quantized input
    for name in sorted(mapped & E.QUANTIZED_MODULES - E.SUBCLASS_ISLAND_BASES):
        assert ek.subclass_runs(name), name


def test_view_after_a_quantized_conv():
    assert ek.view_after_quantized_conv() is E.VIEW_AFTER_QUANTIZED_CONV


def test_lookup_helpers():
    assert E.op_runs_quantized("torch.sum") is False
    assert E.op_runs_quantized("operator.mul", "scalar") is False
    assert E.op_runs_quantized("torch.cat") is True
    assert E.op_runs_quantized("torch.never_measured") is None
    assert E.module_runs_quantized("torch.nn.SiLU") is False
    assert E.module_runs_quantized("torch.nn.Hardswish") is True
