"""The examples in the public kernels' and models' docstrings run and print what they show."""

import doctest
import importlib

import pytest

MODULES = [
    "lsgm.data.intervals",
    "lsgm.inference.kernels",
    "lsgm.inference.viterbi",
    "lsgm.models.hmm",
    "lsgm.distributions.registry",
    "lsgm.training.optimizers",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    result = doctest.testmod(module, optionflags=flags, verbose=False)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0
