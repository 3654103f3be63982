"""The emission interface shared by every family, and how a family registers itself
(``DESIGN.md`` §2, ``distributions/``).

An emission family is an :class:`flax.nnx.Module` holding the parameters of ``K`` per-state
distributions as *unconstrained* ``nnx.Param`` values (logits, log-variances, Cholesky
factors with log-diagonals, ...), so that gradient training can update them directly while
EM overwrites them with closed-form values.

Shapes: one sequence ``x`` is ``[T]`` (integer symbols) or ``[T, D]`` (vectors, or soft
observations ``[T, M]``); :meth:`Emission.log_prob` returns ``[T, K]``. Models pad batches
by repeating a valid observation of the same sequence and give padding zero weight.

A family is one module: a subclass of :class:`Emission` that declares everything the rest
of the library asks of it. Declaring :attr:`~Emission.name` registers the class
(:mod:`lsgm.distributions.registry`); model files, plots, the LSGM and ``lsgm fit`` then look
the family up there, never by type:

========================  ==================================================================
``name``                  the family's name in model files and in ``lsgm fit --emission``
``config_fields``         constructor arguments after ``num_states`` that rebuild it; model
                          files store ``{"family": name, field: getattr(emission, field)}``
``stored_sizes``          optional ``(field, parameter, axis)`` triples: ``load_model``
                          compares a file's sizes with its arrays' shapes before building
``parameter_kinds``       optional: which parameters are log-probabilities, log-odds or
                          log-rates (where ``-inf`` is a valid value; the rest is finite)
``summary()``             the ``[K, M]`` table the model plots draw, titled and labelled
``network_head()``        the LSGM's :class:`~lsgm.distributions.network_head.NetworkHead`,
                          or None: an LSGM cannot use this emission (``lsgm_form`` names
                          the form it can use, for the error message)
``m_step()``              closed-form M-step for EM (optional: without it, train the family
                          by gradient)
``observation_dtype``,    ``lsgm fit``: the dtype of table/piano-roll observations (or a
``read_observations()``   method that converts one record); the options the family reads
``cli_options``,          (``--covariance`` -> ``covariance``), other config values, and
``fit_defaults``,         how a new model is sized from the data (default: ``dim`` of
``config_from_data()``    ``[T, D]`` observations)
========================  ==================================================================

The constructor is ``Family(num_states, <config fields>, *, rngs)``; ``rngs=None`` must give
a deterministic placeholder (model files and ``lsgm fit`` build emissions that way before
loading or fitting their parameters).

A minimal family (the rest has defaults)::

    class Geometric(Emission):
        name = "geometric"
        config_fields = ("dim",)

        def __init__(self, num_states, dim, *, rngs): ...
        def log_prob(self, x): ...       # [T, D] counts -> [T, K]
        def m_step(self, x, weights, prior=None): ...
        def n_parameters(self): ...
        def check_data(self, x, where): ...
        def sample(self, key, states): ...
        def summary(self): return EmissionSummary(probs, "bernoulli", "...", "p")
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from lsgm.distributions import registry

if TYPE_CHECKING:
    from lsgm.distributions.network_head import NetworkHead

Array = jax.Array


class EmissionSummary(NamedTuple):
    """What a picture of an emission shows: one row of values per state.

    Attributes:
        values: ``[K, M]`` (e.g. symbol probabilities, means, rates).
        kind: the colour scale, one of ``"categorical"`` (each row a distribution),
            ``"bernoulli"`` (probabilities in ``[0, 1]``), ``"gaussian"`` (any real values,
            diverging colours centred on 0) or ``"poisson"`` (values ``>= 0``).
        title: the picture's title, e.g. ``"Emission rates per state"``.
        label: the colour bar's label, e.g. ``"rate"``.
    """

    values: np.ndarray
    kind: str
    title: str
    label: str


class Emission(nnx.Module, abc.ABC):
    """Base class of the emission families: ``K`` state-conditional distributions.

    The class attributes and the methods with defaults below are the family's registration
    (see the module docstring); a subclass that declares :attr:`name` is registered.
    """

    num_states: int

    #: The family's name in model files and ``lsgm fit --emission``; declaring it registers
    #: the class (a subclass without its own ``name`` is not registered, so not saved).
    name: ClassVar[str]
    #: Constructor arguments after ``num_states`` (each also an attribute of the instance)
    #: that rebuild the emission: ``type(e)(num_states, **e.config(), rngs=...)``.
    config_fields: ClassVar[tuple[str, ...]] = ()
    #: ``(config field, parameter, axis)``: the field equals ``parameter.shape[axis]``, and
    #: ``parameter.shape[0]`` is ``K``; ``load_model`` checks this before building a model.
    stored_sizes: ClassVar[tuple[tuple[str, str, int], ...]] = ()
    #: Parameter name -> ``"log_prob"`` (normalised by ``log_softmax`` along the last axis;
    #: ``-inf`` allowed, no all-``-inf`` row), ``"log_odds"`` (``+-inf`` allowed) or
    #: ``"log_rate"`` (``-inf`` allowed). Parameters not listed must be finite.
    parameter_kinds: ClassVar[Mapping[str, str]] = {}
    #: How messages name the form of this family an LSGM can use (e.g. ``"Bernoulli"``,
    #: ``"Gaussian(covariance='diag')"``); None when :meth:`network_head` is always None.
    lsgm_form: ClassVar[str | None] = None
    #: ``lsgm fit`` option (argparse destination, e.g. ``"components"``) -> the config field
    #: it sets (``"num_components"``); a family that does not list an option refuses it.
    cli_options: ClassVar[Mapping[str, str]] = {}
    #: Config values of the emissions that ``lsgm fit`` sizes from data (e.g. a variance
    #: floor), where they differ from the constructor's defaults.
    fit_defaults: ClassVar[Mapping[str, Any]] = {}
    #: The dtype of observations read from tables and piano rolls (None: as stored).
    observation_dtype: ClassVar[str | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            registry.register(cls)

    def config(self) -> dict[str, Any]:
        """``{field: value}`` of :attr:`config_fields`: what a model file stores to rebuild it."""
        return {f: getattr(self, f) for f in self.config_fields}

    @abc.abstractmethod
    def log_prob(self, x: Array) -> Array:
        """``[T, K]`` log-likelihoods ``log p(x_t | z_t = k)`` of one sequence ``x``."""

    def m_step(self, x: Array, weights: Array, prior: Any = None) -> None:
        """Closed-form weighted maximum-likelihood (or MAP, with ``prior``) update, in place.

        Args:
            x: ``[N, ...]`` observations of all sequences, flattened over time (padding
                included, with zero weight).
            weights: ``[N, K]`` posterior state probabilities ``p(z_n = k | x)``.
            prior: the family's conjugate prior (see the family), or None for the MLE.

        Must be jittable (no data-dependent Python control flow). Optional: a family
        without one raises here, and is trained by gradient (``fit_gradient``) instead.
        """
        raise NotImplementedError(
            f"a {type(self).__name__} emission has no closed-form M-step, so EM cannot fit "
            "it; train the model with lsgm.training.fit_gradient instead."
        )

    def log_prior(self, prior: Any = None) -> Array | None:
        """Log-density of the current parameters under ``prior``, up to an additive constant:
        the term MAP EM adds to the log-likelihood, so that ``log p(x | theta) + log_prior``
        never decreases over EM iterations. 0 without a prior; None when the family's
        M-step with this prior maximises no fixed objective (EM then cannot monitor it).
        Must be jittable."""
        return jnp.zeros(()) if prior is None else None

    @abc.abstractmethod
    def n_parameters(self) -> int:
        """Number of free scalar parameters (as counted by hmmlearn and the LSGM paper)."""

    @abc.abstractmethod
    def check_data(self, x: np.ndarray, where: str) -> None:
        """Raise a ``ValueError`` naming ``where`` (e.g. "sequence 3") and the fix when ``x``
        (one concrete sequence) cannot be scored: wrong dtype or feature dimension, NaN/inf,
        symbols out of range, negative counts, empty sequence."""

    @abc.abstractmethod
    def sample(self, key: Array, states: Array) -> Array:
        """Draw ``x_t ~ p(x | z_t = states[t])`` for a ``[T]`` state path; returns ``[T, ...]``."""

    @abc.abstractmethod
    def summary(self) -> EmissionSummary:
        """The ``[K, M]`` table that pictures of the model draw (symbol probabilities, means,
        rates, ...), with its colour scale, title and label."""

    def pattern_codes(self, x: Array) -> tuple[Array, Array] | None:
        """Optional, for the time-parallel EM: observations that take few distinct values
        as codes into a table of them. ``x``: a batch ``[..., *event]`` (e.g. ``[N, T, D]``
        binary vectors, ``[N, T]`` symbols); returns ``(codes [...] int32, patterns [V,
        *event])`` with ``log_prob(x) = log_prob(patterns)[codes]`` row by row (an invalid
        observation gets a pattern whose row is NaN) and ``m_step(patterns,
        segment_sum(weights, codes, V))`` equal to ``m_step(x, weights)``. Must be jittable;
        None (the default) when there is no such small table."""
        return None

    def network_head(self) -> NetworkHead | None:
        """How an LSGM makes this emission's parameters from its RNN state, or None when it
        cannot (the default). Return one cached object per configuration (e.g. from a
        ``functools.cache``-d factory of the sizes): the LSGM keeps it as a static attribute,
        so equal configurations share compiled functions."""
        return None

    def initialize(self, x: np.ndarray, key: Array) -> None:
        """Data-driven initialisation before EM (e.g. k-means for Gaussians).

        ``x`` is ``[N, ...]`` (all valid observations, no padding). The default does nothing.
        """

    @classmethod
    def read_observations(cls, x: np.ndarray, where: str) -> np.ndarray:
        """One record of a numeric table or piano roll (``[T]`` or ``[T, D]``, as read from the
        file) as this family's observations; the default makes ``[T, D]`` (a ``[T]`` record
        becomes ``[T, 1]``) of :attr:`observation_dtype`. Raise a ``ValueError`` starting with
        ``where`` for records the family cannot read."""
        x = np.asarray(x)
        x = x[:, None] if x.ndim == 1 else x
        return x if cls.observation_dtype is None else x.astype(cls.observation_dtype)

    @classmethod
    def config_from_data(
        cls,
        xs: Sequence[np.ndarray],
        options: Mapping[str, Any],
        num_symbols: int | None = None,
    ) -> dict[str, Any]:
        """The :attr:`config_fields` of a new emission for the observations ``xs`` (each as
        :meth:`read_observations` returns it, or symbol sequences over an alphabet of
        ``num_symbols`` letters) and the ``lsgm fit`` ``options`` (``{dest: value}`` of
        :attr:`cli_options`). The default: ``dim`` of ``[T, D]`` observations, then
        :attr:`fit_defaults`, then each option's field."""
        config = {"dim": int(xs[0].shape[1]), **cls.fit_defaults}
        return config | {field: options[dest] for dest, field in cls.cli_options.items()}
