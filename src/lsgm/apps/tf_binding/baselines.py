"""Baselines of the PBM experiment (LSGM paper §3.2, Table 2): DeepBind, DeeperBind, k-mer ridge.

Both networks are Flax NNX modules ``model(x [B, L] int) -> [B]`` trained with
:func:`lsgm.apps.tf_binding.regression.fit_regression`, like the motif models. Probes are coded
``A=0, C=1, G=2, T=3``; the reverse complement of ``x`` is ``3 - x`` read backwards. With
``both_strands=True`` a network scores the probe and its reverse complement and returns the
larger output (DeepBind's reverse-complement mode): ``f(x) = max(g(x), g(rc(x)))``.

* :class:`DeepBind` (Alipanahi et al. 2015): one-hot ``[B, L, 4]``, padded with ``m-1``
  columns of ``0.25`` on each side (``m`` the filter length: a detector may overhang the
  probe, as in DeepBind), 1-D convolution with ``d`` filters + bias, ReLU, global max and
  average pooling over positions (concatenated: the LSGM paper's re-implementation "uses both
  avg and max pooling"), dropout, a dense ReLU layer of ``hidden`` units (``0``: none), and a
  dense output. Defaults: DeepBind's PBM setting of ``d = 16`` motif detectors of length
  ``m = 24``, the 32-unit hidden layer of its two calibrated options (none or 32 ReLUs),
  dropout 0.5 (drop rate; DeepBind calibrates it). DeepBind's random hyper-parameter search
  ("calibration") is not reproduced. Parameters: ``4·m·d + d`` (conv) ``+ (P·d + 1)·hidden
  + hidden + 1`` with ``P = 2`` pooled values per filter; 2,641 with the defaults.
* :class:`DeeperBind` (Hassanzadeh & Wang 2016): one-hot probe, 1-D convolution(s) (VALID, no
  padding; the first of width ``filter_length``, further ones of width 3 with SAME padding)
  with ReLU, an LSTM (``nnx.RNN(nnx.OptimizedLSTMCell)``) over the convolution outputs along
  the probe, the last hidden state and the max over positions of the hidden states
  (concatenated ``[B, 2H]``), dropout, a dense ReLU layer and a dense output. The original
  layer sizes are not reproduced exactly (our reading of the architecture; the LSGM paper
  re-implemented it and searched architectures too); defaults: 16 filters of width 11 (the
  LSGM paper's shared configuration was 5 motifs of length 11), LSTM with 32 units, 32 hidden
  units: 9,105 parameters.
* :class:`KmerRegression`: ridge regression (scikit-learn) on k-mer counts with both strands
  merged (a k-mer and its reverse complement share one column), sparse features.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse as sp
from flax import nnx
from sklearn.linear_model import Ridge

from lsgm.apps.tf_binding.regression import check_probes

POOLINGS = ("max", "avg", "max+avg")


def one_hot(x: jax.Array) -> jax.Array:
    """``[B, L]`` codes → ``[B, L, 4]`` float32 one-hot."""
    return jax.nn.one_hot(x, 4, dtype=jnp.float32)


def reverse_complement(x: jax.Array) -> jax.Array:
    """``[B, L]`` codes of the reverse-complement strand: ``rc(x)_t = 3 - x_{L-1-t}``."""
    return 3 - x[:, ::-1]


def _check_positive(**values) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1; got {value!r}.")


def _check_dropout(dropout) -> float:
    if not 0.0 <= float(dropout) < 1.0:
        raise ValueError(f"dropout is a drop rate in [0, 1); got {dropout!r}.")
    return float(dropout)


class _Head(nnx.Module):
    """Dropout → optional dense ReLU layer → dense output ``[B, D] -> [B]``."""

    def __init__(self, in_features: int, hidden: int, dropout: float, *, rngs: nnx.Rngs):
        if isinstance(hidden, bool) or not isinstance(hidden, int) or hidden < 0:
            raise ValueError(
                f"hidden must be an integer >= 0 (0: no hidden layer); got {hidden!r}."
            )
        self.dropout = nnx.Dropout(_check_dropout(dropout), rngs=rngs)
        self.hidden = nnx.Linear(in_features, hidden, rngs=rngs) if hidden else None
        self.out = nnx.Linear(hidden or in_features, 1, rngs=rngs)

    def __call__(self, h: jax.Array) -> jax.Array:
        h = self.dropout(h)
        if self.hidden is not None:
            h = jax.nn.relu(self.hidden(h))
        return self.out(h)[:, 0]


def _both_strands(features, head, x: jax.Array, both: bool) -> jax.Array:
    """``head(features(x))``, or its max with the reverse complement's (one batched pass)."""
    x = jnp.asarray(x, jnp.int32)
    if not both:
        return head(features(x))
    out = head(features(jnp.concatenate([x, reverse_complement(x)], axis=0)))
    return jnp.maximum(out[: x.shape[0]], out[x.shape[0] :])


class DeepBind(nnx.Module):
    """DeepBind: convolution → ReLU → global max (and/or average) pooling → dense layers.

    ``__call__(x [B, L] int) -> [B]``. See the module docstring for the layers and defaults.
    """

    def __init__(
        self,
        num_filters: int = 16,
        filter_length: int = 24,
        hidden: int = 32,
        pooling: str = "max+avg",
        dropout: float = 0.5,
        both_strands: bool = True,
        *,
        rngs: nnx.Rngs,
    ):
        _check_positive(num_filters=num_filters, filter_length=filter_length)
        if pooling not in POOLINGS:
            raise ValueError(f"pooling={pooling!r} is not one of {POOLINGS}.")
        self.filter_length, self.pooling, self.both_strands = filter_length, pooling, both_strands
        self.conv = nnx.Conv(4, num_filters, filter_length, padding="VALID", rngs=rngs)
        pooled = num_filters * (2 if pooling == "max+avg" else 1)
        self.head = _Head(pooled, hidden, dropout, rngs=rngs)

    def features(self, x: jax.Array) -> jax.Array:
        """Pooled detector activations ``[B, P·d]`` of probes ``x [B, L]``."""
        pad = self.filter_length - 1
        h = jnp.pad(one_hot(x), ((0, 0), (pad, pad), (0, 0)), constant_values=0.25)
        a = jax.nn.relu(self.conv(h))  # [B, L + m - 1, d]
        parts = []
        if "max" in self.pooling:
            parts.append(a.max(axis=1))
        if "avg" in self.pooling:
            parts.append(a.mean(axis=1))
        return jnp.concatenate(parts, axis=-1)

    def __call__(self, x: jax.Array) -> jax.Array:
        return _both_strands(self.features, self.head, x, self.both_strands)


class DeeperBind(nnx.Module):
    """DeeperBind: convolution(s) → ReLU → LSTM along the probe → dense layers.

    ``__call__(x [B, L] int) -> [B]``; needs ``L >= filter_length``. See the module docstring.
    """

    def __init__(
        self,
        num_filters: int = 16,
        filter_length: int = 11,
        conv_layers: int = 1,
        lstm_hidden: int = 32,
        hidden: int = 32,
        dropout: float = 0.5,
        both_strands: bool = True,
        *,
        rngs: nnx.Rngs,
    ):
        _check_positive(
            num_filters=num_filters,
            filter_length=filter_length,
            conv_layers=conv_layers,
            lstm_hidden=lstm_hidden,
        )
        self.filter_length, self.both_strands = filter_length, both_strands
        convs = [nnx.Conv(4, num_filters, filter_length, padding="VALID", rngs=rngs)]
        convs += [
            nnx.Conv(num_filters, num_filters, 3, padding="SAME", rngs=rngs)
            for _ in range(conv_layers - 1)
        ]
        self.convs = nnx.List(convs)
        self.lstm = nnx.RNN(nnx.OptimizedLSTMCell(num_filters, lstm_hidden, rngs=rngs))
        self.head = _Head(2 * lstm_hidden, hidden, dropout, rngs=rngs)

    def features(self, x: jax.Array) -> jax.Array:
        """``[B, 2H]``: last LSTM hidden state and max over positions of the hidden states."""
        if x.shape[1] < self.filter_length:
            raise ValueError(
                f"DeeperBind needs probes of length >= filter_length={self.filter_length}; "
                f"got L={x.shape[1]}."
            )
        h = one_hot(x)
        for conv in self.convs:
            h = jax.nn.relu(conv(h))  # [B, L - m + 1, d]
        states = self.lstm(h)  # [B, L - m + 1, H]
        return jnp.concatenate([states[:, -1], states.max(axis=1)], axis=-1)

    def __call__(self, x: jax.Array) -> jax.Array:
        return _both_strands(self.features, self.head, x, self.both_strands)


class KmerRegression:
    """Ridge regression on k-mer counts (not an NNX module): ``fit(x, y)``, ``predict(x)``.

    Features: for each ``k`` in ``k``, the count of every k-mer in the probe; with
    ``both_strands`` a k-mer and its reverse complement share one column (index
    ``min(code(s), code(rc(s)))``, ``code`` the base-4 number of the k-mer), i.e. the counts on
    both strands of the double-stranded probe, merged. Columns of all ``4^k`` codes are kept
    (unused ones stay zero), as a ``scipy.sparse`` CSR matrix. The model is
    ``y ≈ b + Σ_j β_j c_j`` fitted by :class:`sklearn.linear_model.Ridge` (penalty
    ``alpha·||β||²``, intercept not penalised).
    """

    def __init__(self, k: int | Sequence[int] = 8, alpha: float = 10.0, both_strands: bool = True):
        ks = (k,) if isinstance(k, int | np.integer) else tuple(k)
        if not ks or any(isinstance(v, bool) or not 1 <= int(v) <= 12 for v in ks):
            raise ValueError(f"k must be an integer (or integers) in 1..12; got {k!r}.")
        if not float(alpha) > 0:
            raise ValueError(f"alpha must be > 0; got {alpha!r}.")
        self.ks, self.alpha, self.both_strands = (
            tuple(int(v) for v in ks),
            float(alpha),
            both_strands,
        )
        self.ridge: Ridge | None = None

    @property
    def num_features(self) -> int:
        """``sum_k 4^k`` columns."""
        return sum(4**k for k in self.ks)

    def features(self, x) -> sp.csr_matrix:
        """``[N, sum_k 4^k]`` sparse k-mer counts of probes ``x [N, L]``."""
        x = check_probes(x).astype(np.int64)
        n, L = x.shape
        rows_all, cols_all, offset = [], [], 0
        for k in self.ks:
            if k > L:
                raise ValueError(f"k={k} is longer than the probes (L={L}).")
            windows = np.lib.stride_tricks.sliding_window_view(x, k, axis=1)  # [N, L-k+1, k]
            powers = 4 ** np.arange(k - 1, -1, -1, dtype=np.int64)
            code = windows @ powers
            if self.both_strands:
                code = np.minimum(code, (3 - windows[..., ::-1]) @ powers)
            rows_all.append(np.repeat(np.arange(n), L - k + 1))
            cols_all.append(code.ravel() + offset)
            offset += 4**k
        rows, cols = np.concatenate(rows_all), np.concatenate(cols_all)
        data = np.ones(rows.size, np.float32)
        m = sp.coo_matrix((data, (rows, cols)), shape=(n, self.num_features)).tocsr()
        m.sum_duplicates()
        return m

    def fit(self, x, y) -> KmerRegression:
        """Fit on probes ``x [N, L]`` and targets ``y [N]``."""
        features = self.features(x)
        y = np.asarray(y, np.float64)
        if y.shape != (features.shape[0],):
            raise ValueError(f"y must have shape ({features.shape[0]},); got {y.shape}.")
        if not np.isfinite(y).all():
            raise ValueError(f"y[{int(np.flatnonzero(~np.isfinite(y))[0])}] is not finite.")
        self.ridge = Ridge(alpha=self.alpha, solver="sparse_cg", tol=1e-6).fit(features, y)
        return self

    def predict(self, x) -> np.ndarray:
        """Predictions ``[N]`` for probes ``x [N, L]``."""
        if self.ridge is None:
            raise ValueError("KmerRegression.predict before fit: call fit(x, y) first.")
        return self.ridge.predict(self.features(x)).astype(np.float32)

    def n_parameters(self) -> int:
        """Coefficients plus intercept (all ``sum_k 4^k`` columns; with both strands merged
        about half of them are structurally zero)."""
        return self.num_features + 1
