"""Bad input to HMMs and fitters gets a clear error naming the value and the fix."""

import numpy as np
import pytest
from flax import nnx

import lsgm
from lsgm.distributions import Categorical, Gaussian, Poisson
from lsgm.training import fit_em, fit_supervised


def _cat_hmm(**kw):
    return lsgm.HMM(3, Categorical(3, 4, rngs=nnx.Rngs(0)), rngs=nnx.Rngs(0), **kw)


def test_symbol_out_of_range_names_the_sequence():
    with pytest.raises(ValueError, match="sequence 1"):
        _cat_hmm().score([np.array([0, 1, 2]), np.array([0, 4, 1])])


def test_nan_observation():
    model = lsgm.HMM(2, Gaussian(2, 2, rngs=nnx.Rngs(0)), rngs=nnx.Rngs(0))
    x = np.zeros((5, 2))
    x[3, 1] = np.nan
    with pytest.raises(ValueError, match="sequence 0"):
        model.score([x])


def test_wrong_feature_dimension():
    model = lsgm.HMM(2, Gaussian(2, 2, rngs=nnx.Rngs(0)), rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="sequence 0"):
        model.score([np.zeros((5, 3))])


def test_empty_sequence_and_empty_batch():
    with pytest.raises(ValueError, match="sequence 1 is empty"):
        _cat_hmm().score([np.array([0, 1]), np.array([], int)])
    with pytest.raises(ValueError, match="empty batch"):
        _cat_hmm().score([])


def test_probability_tables_must_sum_to_one():
    emission = Categorical.from_probs(np.full((2, 2), 0.5))
    with pytest.raises(ValueError, match=r"transition must sum to 1 \(row 1\)"):
        lsgm.HMM.from_probs([0.5, 0.5], [[0.5, 0.5], [0.7, 0.4]], emission)
    with pytest.raises(ValueError, match="initial must sum to 1"):
        lsgm.HMM.from_probs([0.2, 0.5], [[0.5, 0.5], [0.5, 0.5]], emission)


def test_negative_poisson_counts():
    model = lsgm.HMM(2, Poisson(2, 1, rngs=nnx.Rngs(0)), rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="sequence 0"):
        model.score([np.array([[1], [-2]])])


def test_mask_row_without_transitions():
    with pytest.raises(ValueError, match="transition_mask row 1 allows no transition"):
        _cat_hmm(transition_mask=np.array([[1, 1, 1], [0, 0, 0], [1, 1, 1]], bool))


def test_labels_and_mask_that_forbid_every_path():
    mask = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1]], bool)
    x = [np.array([0, 1, 2, 3])]
    with pytest.raises(ValueError, match="sequence 0 has probability 0"):
        fit_em(_cat_hmm(transition_mask=mask), x, state_labels=[np.array([0, -1, -1, 1])])
    with pytest.raises(ValueError, match="transition 0->1 at position 0"):
        fit_supervised(_cat_hmm(transition_mask=mask), x, [np.array([0, 1, 1, 1])])


def test_emission_and_hmm_disagree_on_states():
    with pytest.raises(ValueError, match="the emission has 2 states but the HMM has 3"):
        lsgm.HMM(3, Categorical(2, 4, rngs=nnx.Rngs(0)), rngs=nnx.Rngs(0))


def test_bad_freeze_and_lengths():
    with pytest.raises(ValueError, match="cannot freeze"):
        fit_em(_cat_hmm(), [np.array([0, 1])], freeze="emissions")
    with pytest.raises(ValueError, match=r"sequence 1: length 7 is outside \[1, T=3\]"):
        _cat_hmm().score(np.zeros((2, 3), int), lengths=[3, 7])
