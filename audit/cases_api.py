"""Python-API cases: exact zeros (class 2) and invalid input under jit (class 3)."""

from __future__ import annotations

import math

import numpy as np

from audit.harness import api_refused, is_nan, is_neg_inf, short
from audit.harness import case as _case


def case(id, cls, desc, quick=False):
    return _case("api." + id, cls, desc, quick)


def _load(c, kind):
    from lsgm.models.serialization import load_model

    return load_model(c.model(kind))[0]


def _i(*xs):
    return np.array(xs, np.int32)


def _neg_inf(res, what):
    """``res`` must be exactly -inf (or a refusal)."""
    if res.exc is not None:
        return "OK", f"raised {type(res.exc).__name__}: {str(res.exc)[:120]}"
    if is_neg_inf(res.value):
        return "OK", "-inf"
    return "silent", f"{what} = {short(res.value)} (want -inf)"


# ===================================================================== class 2
@case(
    "logprob-impossible-symbol",
    "2",
    "HMM.log_prob of a sequence with a probability-0 symbol is -inf",
    quick=True,
)
def _(c):
    m = _load(c, "imp")
    return _neg_inf(c.api(lambda: float(m.log_prob(_i(0, 1, 3, 3)))), "log p")


@case("logprob-impossible-transition", "2", "log_prob of 'AA' under an alternating model is -inf")
def _(c):
    m = _load(c, "alt")
    return _neg_inf(c.api(lambda: float(m.log_prob(_i(0, 1, 0, 0)))), "log p")


@case("logprob-impossible-first", "2", "log_prob when the first symbol is impossible is -inf")
def _(c):
    m = _load(c, "alt")
    return _neg_inf(c.api(lambda: float(m.log_prob(_i(1, 0)))), "log p")


@case("score-samples-impossible", "2", "score_samples([ok, impossible]) = [finite, -inf]")
def _(c):
    m = _load(c, "imp")
    res = c.api(lambda: m.score_samples([_i(0, 1, 0), _i(0, 3)]))
    if res.exc is not None:
        return api_refused(res, "sequence 1", "position")
    v = np.asarray(res.value)
    if np.isfinite(v[0]) and is_neg_inf(v[1]):
        return "OK", short(v)
    return "silent", f"{short(v)} (want [finite, -inf])"


@case("score-total-impossible", "2", "model.score over a batch with an impossible sequence is -inf")
def _(c):
    m = _load(c, "imp")
    return _neg_inf(c.api(lambda: m.score([_i(0, 1, 0), _i(3, 3)])), "total")


@case(
    "viterbi-impossible",
    "2",
    "Viterbi of an impossible sequence: score -inf, path of -1",
    quick=True,
)
def _(c):
    m = _load(c, "imp")
    res = c.api(lambda: m.viterbi(_i(0, 3, 1)))
    if res.exc is not None:
        return api_refused(res, "position")
    path, score = (np.asarray(v) for v in res.value)
    if is_neg_inf(score) and (path == -1).all():
        return "OK", "score -inf, path -1"
    return "silent", f"path {path.tolist()} score {score} (made up)"


@case("viterbi-impossible-transition", "2", "Viterbi of 'AA' under the alternating model: no path")
def _(c):
    m = _load(c, "alt")
    res = c.api(lambda: m.viterbi(_i(0, 0)))
    if res.exc is not None:
        return api_refused(res, "position")
    path, score = (np.asarray(v) for v in res.value)
    if is_neg_inf(score) and (path == -1).all():
        return "OK", "score -inf, path -1"
    return "silent", f"path {path.tolist()} score {score}"


@case("predict-impossible", "2", "predict([ok, impossible]) gives -1 for the impossible one")
def _(c):
    m = _load(c, "imp")
    res = c.api(lambda: m.predict([_i(0, 1), _i(3, 3)]))
    if res.exc is not None:
        return api_refused(res, "sequence 1")
    bad = np.asarray(res.value[1])
    return ("OK", "-1 path") if (bad == -1).all() else ("silent", f"made-up path {bad.tolist()}")


@case(
    "posteriors-impossible",
    "2",
    "model.posteriors of an impossible sequence raises naming the position",
    quick=True,
)
def _(c):
    m = _load(c, "imp")
    res = c.api(lambda: np.asarray(m.posteriors(_i(0, 1, 3)).states))
    return api_refused(res, "position", "2", wrong="returned posteriors")


@case("predict-proba-impossible", "2", "predict_proba([ok, impossible]) raises naming sequence 1")
def _(c):
    m = _load(c, "imp")
    res = c.api(lambda: m.predict_proba([_i(0, 1), _i(0, 3)]))
    return api_refused(res, "sequence 1", "position", wrong="returned posteriors")


@case("filtered-impossible", "2", "model.filtered of an impossible sequence raises")
def _(c):
    m = _load(c, "imp")
    res = c.api(lambda: np.asarray(m.filtered(_i(3, 0))))
    return api_refused(res, "position", wrong="returned filtered marginals")


def _pot_imp():
    import jax.numpy as jnp

    from lsgm.inference import Potentials

    log_emit = jnp.log(jnp.array([[0.5, 0.5], [0.0, 0.0], [0.5, 0.5]]))
    return Potentials(jnp.log(jnp.array([0.5, 0.5])), jnp.log(jnp.full((2, 2), 0.5)), log_emit)


@case(
    "kernel-scaled-log-agree", "2", "log_partition scaled and log both -inf on an impossible step"
)
def _(c):
    from lsgm import inference

    p = _pot_imp()
    a = c.api(lambda: float(inference.log_partition(p, method="scaled")))
    b = c.api(lambda: float(inference.log_partition(p, method="log")))
    if a.exc or b.exc:
        return "unclear", f"raised: {a.exc or b.exc}"
    if is_neg_inf(a.value) and is_neg_inf(b.value):
        return "OK", "both -inf"
    return "silent", f"scaled {a.value}, log {b.value}"


@case("kernel-allowed-empty", "2", "log_partition with allowed states excluding every path: -inf")
def _(c):
    import jax.numpy as jnp

    from lsgm import inference
    from lsgm.inference import Potentials

    p = Potentials(jnp.zeros(2) - math.log(2), jnp.full((2, 2), -math.log(2)), jnp.zeros((3, 2)))
    allowed = jnp.array([[True, False], [False, False], [True, True]])
    out = []
    for method in ("scaled", "log"):
        res = c.api(lambda m=method: float(inference.log_partition(p, allowed=allowed, method=m)))
        if res.exc is None and not is_neg_inf(res.value):
            out.append(f"{method}: {res.value}")
    return ("silent", "; ".join(out)) if out else ("OK", "-inf (or refused)")


@case("kernel-viterbi-impossible", "2", "inference.viterbi on impossible potentials: -inf, -1")
def _(c):
    from lsgm import inference

    res = c.api(lambda: inference.viterbi(_pot_imp()))
    if res.exc is not None:
        return "unclear", f"raised {res.exc}"
    path, score = (np.asarray(v) for v in res.value)
    if is_neg_inf(score) and (path == -1).all():
        return "OK", "-inf, -1"
    return "silent", f"path {path.tolist()} score {score}"


@case(
    "kernel-posteriors-impossible",
    "2",
    "inference.posteriors on impossible potentials is not silently all-zero",
)
def _(c):
    from lsgm import inference

    res = c.api(lambda: np.asarray(inference.posteriors(_pot_imp()).states))
    if res.exc is not None:
        return "OK", f"raised {type(res.exc).__name__}"
    v = res.value
    if np.isnan(v).any():
        return "OK", "NaN (poisoned)"
    return "silent", f"rows sum to {v.sum(1).round(3).tolist()}"


@case(
    "kernel-expected-counts-impossible",
    "2",
    "expected_counts on impossible potentials: NaN or raise, never zero counts",
)
def _(c):
    import jax

    from lsgm import inference

    res = c.api(lambda: inference.expected_counts(_pot_imp()))
    if res.exc is not None:
        return "OK", f"raised {type(res.exc).__name__}"
    leaves = [np.asarray(x) for x in jax.tree.leaves(res.value)]
    if any(np.isnan(x).any() or np.isneginf(x).any() for x in leaves):
        return "OK", "poisoned"
    return "silent", "finite expected counts for an impossible sequence"


@case("chunked-impossible", "2", "chunked_log_partition / chunked_viterbi on impossible data")
def _(c):
    import jax.numpy as jnp

    from lsgm import inference
    from lsgm.inference import Potentials

    emit = jnp.zeros((64, 2)).at[40].set(-jnp.inf)
    p = Potentials(jnp.log(jnp.array([0.5, 0.5])), jnp.log(jnp.full((2, 2), 0.5)), emit)
    z = c.api(lambda: float(inference.chunked_log_partition(p, 8)))
    v = c.api(lambda: inference.chunked_viterbi(p, 8))
    if z.exc or v.exc:
        return "unclear", f"raised {z.exc or v.exc}"
    path, score = (np.asarray(x) for x in v.value)
    if is_neg_inf(z.value) and is_neg_inf(score) and (path == -1).all():
        return "OK", "-inf, no path"
    return "silent", f"log Z {z.value}, viterbi score {score}, path[:4] {path[:4].tolist()}"


@case("sample-paths-impossible", "2", "sample_paths on impossible potentials: no invented path")
def _(c):
    import jax

    from lsgm import inference

    res = c.api(lambda: np.asarray(inference.sample_paths(_pot_imp(), jax.random.key(0), 3)))
    if res.exc is not None:
        return "OK", f"raised {type(res.exc).__name__}"
    return ("OK", "-1 paths") if (res.value == -1).all() else ("silent", f"{res.value.tolist()}")


@case("nan-potentials", "2", "NaN in potentials gives NaN (or an error), never -inf", quick=True)
def _(c):
    import jax.numpy as jnp

    from lsgm import inference
    from lsgm.inference import Potentials

    p = Potentials(jnp.zeros(2), jnp.zeros((2, 2)), jnp.zeros((3, 2)).at[1, 0].set(jnp.nan))
    bad = []
    for method in ("scaled", "log"):
        res = c.api(lambda m=method: float(inference.log_partition(p, method=m)))
        if res.exc is None and not is_nan(res.value):
            bad.append(f"{method}: {res.value}")
    res = c.api(lambda: float(inference.viterbi(p)[1]))
    if res.exc is None and not is_nan(res.value):
        bad.append(f"viterbi: {res.value}")
    return ("silent", "; ".join(bad)) if bad else ("OK", "NaN or refused")


@case("nan-potentials-all", "2", "all-NaN emissions: NaN, not -inf")
def _(c):
    import jax.numpy as jnp

    from lsgm import inference
    from lsgm.inference import Potentials

    p = Potentials(jnp.zeros(2), jnp.zeros((2, 2)), jnp.full((3, 2), jnp.nan))
    res = c.api(lambda: float(inference.log_partition(p, method="log")))
    if res.exc is not None or is_nan(res.value):
        return "OK", "NaN or refused"
    return "silent", f"{res.value}"


@case("bernoulli-impossible", "2", "Bernoulli p=0 with x=1 gives log p = -inf")
def _(c):
    from lsgm.distributions import Bernoulli
    from lsgm.models import HMM

    m = HMM.from_probs([0.5, 0.5], [[0.5, 0.5], [0.5, 0.5]], Bernoulli.from_probs([[0.0], [0.0]]))
    return _neg_inf(c.api(lambda: float(m.log_prob(np.array([[0.0], [1.0]], np.float32)))), "log p")


@case("poisson-impossible", "2", "Poisson rate 0 with a count of 2 gives log p = -inf")
def _(c):
    from lsgm.distributions import Poisson
    from lsgm.models import HMM

    res = c.api(lambda: Poisson.from_rates(np.array([[0.0], [0.0]])))
    if res.exc is not None:
        return "OK", f"rate 0 refused: {res.exc}"
    m = HMM.from_probs([0.5, 0.5], [[0.5, 0.5], [0.5, 0.5]], res.value)
    return _neg_inf(c.api(lambda: float(m.log_prob(np.array([[0.0], [2.0]], np.float32)))), "log p")


@case("operator-impossible", "2", "DifferentiableHMM with a forbidden symbol: -inf and path -1")
def _(c):
    import jax.numpy as jnp
    from flax import nnx

    from lsgm.operators import DifferentiableHMM, HMMConfig

    op = DifferentiableHMM(HMMConfig(num_states=2, num_emissions=3), rngs=nnx.Rngs(0))
    leaves = {k: v for k, v in vars(op).items() if "emission" in k and hasattr(v, "value")}
    if not leaves:
        return "unclear", "no emission parameter found on the operator"
    param = next(iter(leaves.values()))
    param.value = jnp.asarray(param.value).at[:, 2].set(-jnp.inf)
    res = c.api(lambda: op.apply({"observations": jnp.array([0, 2, 1])}, None, None)[0])
    if res.exc is not None:
        return "OK", f"raised {type(res.exc).__name__}: {str(res.exc)[:100]}"
    ll, path = float(res.value["log_likelihood"]), np.asarray(res.value["viterbi_path"])
    if is_neg_inf(ll) and (path == -1).all():
        return "OK", "-inf, path -1"
    return "silent", f"log-likelihood {ll}, path {path.tolist()}"


# ===================================================================== class 3
def _poisoned(res, what):
    if res.exc is not None:
        return "OK", f"raised {type(res.exc).__name__}"
    v = np.asarray(res.value)
    if np.isnan(v).any():
        return "OK", "NaN"
    return "silent", f"{what} = {short(v)} under jit (invalid input ignored)"


@case(
    "jit-logprob-out-of-range",
    "3",
    "jit(log_prob)([0,9,9,9,9]) is NaN or raises (not log_prob([0]))",
    quick=True,
)
def _(c):
    import jax

    m = _load(c, "dna")
    return _poisoned(c.api(lambda: jax.jit(m.log_prob)(_i(0, 9, 9, 9, 9))), "log p")


@case("jit-logprob-negative", "3", "jit(log_prob) with symbol -1 is NaN or raises")
def _(c):
    import jax

    m = _load(c, "dna")
    return _poisoned(c.api(lambda: jax.jit(m.log_prob)(_i(0, -1, 2))), "log p")


@case(
    "jit-viterbi-invalid", "3", "jit(viterbi) with an invalid symbol: NaN score, -1 path or raise"
)
def _(c):
    import jax

    m = _load(c, "dna")
    res = c.api(lambda: jax.jit(m.viterbi)(_i(0, 9, 1)))
    if res.exc is not None:
        return "OK", "raised"
    path, score = (np.asarray(v) for v in res.value)
    if np.isnan(score) or (path == -1).all():
        return "OK", "poisoned"
    return "silent", f"path {path.tolist()} score {score}"


@case("jit-posteriors-invalid", "3", "jit(posteriors) with an invalid symbol is NaN or raises")
def _(c):
    import jax

    m = _load(c, "dna")
    return _poisoned(c.api(lambda: jax.jit(lambda x: m.posteriors(x).states)(_i(0, 9))), "post")


@case("jit-lsgm-invalid", "3", "jit(LSGM.log_prob) with an out-of-range symbol is NaN or raises")
def _(c):
    import jax

    m = _load(c, "lsgm")
    return _poisoned(c.api(lambda: jax.jit(m.log_prob)(_i(0, 7, 1))), "log p")


@case("jit-soft-negative", "3", "jit(log_prob) of soft observations with a negative weight")
def _(c):
    import jax

    m = _load(c, "dna")
    x = np.array([[1, 0, 0, 0], [-0.5, 1.5, 0, 0]], np.float32)
    return _poisoned(c.api(lambda: jax.jit(m.log_prob)(x)), "log p")


@case("jit-bernoulli-two", "3", "jit Bernoulli log_prob with x=2 is NaN or raises")
def _(c):
    import jax

    from lsgm.distributions import Bernoulli

    d = Bernoulli.from_probs([[0.3], [0.6]])
    return _poisoned(c.api(lambda: jax.jit(d.log_prob)(np.array([[2.0]], np.float32))), "log p")


@case("jit-bernoulli-half", "3", "jit Bernoulli log_prob with x=0.5 is NaN or raises")
def _(c):
    import jax

    from lsgm.distributions import Bernoulli

    d = Bernoulli.from_probs([[0.3], [0.6]])
    return _poisoned(c.api(lambda: jax.jit(d.log_prob)(np.array([[0.5]], np.float32))), "log p")


@case(
    "jit-poisson-negative",
    "3",
    "jit Poisson log_prob with a count of -3 is NaN or raises",
    quick=True,
)
def _(c):
    import jax

    from lsgm.distributions import Poisson

    d = Poisson.from_rates(np.array([[1.0], [2.0]]))
    return _poisoned(c.api(lambda: jax.jit(d.log_prob)(np.array([[-3.0]], np.float32))), "log p")


@case("jit-poisson-fraction", "3", "jit Poisson log_prob with a count of 1.5 is NaN or raises")
def _(c):
    import jax

    from lsgm.distributions import Poisson

    d = Poisson.from_rates(np.array([[1.0], [2.0]]))
    return _poisoned(c.api(lambda: jax.jit(d.log_prob)(np.array([[1.5]], np.float32))), "log p")


@case("jit-categorical-dist", "3", "jit Categorical.log_prob with symbol 9 is NaN or raises")
def _(c):
    import jax

    from lsgm.distributions import Categorical

    d = Categorical.from_probs([[0.5, 0.5], [0.1, 0.9]])
    return _poisoned(c.api(lambda: jax.jit(d.log_prob)(_i(9))), "log p")


@case("jit-gaussian-nan", "3", "jit Gaussian log_prob of NaN data is NaN")
def _(c):
    import jax

    from lsgm.distributions import Gaussian

    d = Gaussian.from_params(np.zeros((2, 1)), np.ones((2, 1)))
    return _poisoned(c.api(lambda: jax.jit(d.log_prob)(np.array([[np.nan]], np.float32))), "lp")


@case("jit-gaussian-inf", "3", "jit HMM(Gaussian).log_prob of +inf data is NaN or raises, not -inf")
def _(c):
    import jax

    m = _load(c, "gauss")
    x = np.array([[0.0, 0.0], [np.inf, 0.0]], np.float32)
    res = c.api(lambda: jax.jit(m.log_prob)(x))
    return _poisoned(res, "log p")


@case("jit-gmm-nan", "3", "jit GaussianMixture log_prob of NaN data is NaN")
def _(c):
    import jax
    from flax import nnx

    from lsgm.distributions import GaussianMixture

    d = GaussianMixture(2, 1, 2, rngs=nnx.Rngs(0))
    return _poisoned(c.api(lambda: jax.jit(d.log_prob)(np.array([[np.nan]], np.float32))), "lp")


@case("jit-length-too-long", "3", "jit(log_prob)(x, length=10) with T=3 is NaN or raises")
def _(c):
    import jax

    m = _load(c, "dna")
    return _poisoned(c.api(lambda: jax.jit(m.log_prob)(_i(0, 1, 2), 10)), "log p")


@case("jit-length-negative", "3", "jit(log_prob)(x, length=-1) is NaN or raises")
def _(c):
    import jax

    m = _load(c, "dna")
    return _poisoned(c.api(lambda: jax.jit(m.log_prob)(_i(0, 1, 2), -1)), "log p")


@case("length-too-long-eager", "3", "log_prob(x, length=10) with T=3 raises naming the length")
def _(c):
    m = _load(c, "dna")
    return api_refused(c.api(lambda: float(m.log_prob(_i(0, 1, 2), 10))), "length", "10")


@case("eager-out-of-range", "holds", "log_prob([0, 9]) (not jitted) raises naming the symbol")
def _(c):
    m = _load(c, "dna")
    return api_refused(c.api(lambda: float(m.log_prob(_i(0, 9)))), "9")


@case("zero-length-sequence", "7", "log_prob of an empty sequence raises naming it")
def _(c):
    m = _load(c, "dna")
    return api_refused(c.api(lambda: float(m.log_prob(np.zeros(0, np.int32)))), "empty")


@case(
    "operator-jit-forward",
    "3",
    "jit(DifferentiableHMM.forward)([0, 9]) is NaN or raises",
    quick=True,
)
def _(c):
    import jax
    import jax.numpy as jnp
    from flax import nnx

    from lsgm.operators import DifferentiableHMM, HMMConfig

    op = DifferentiableHMM(HMMConfig(num_states=2, num_emissions=3), rngs=nnx.Rngs(0))
    res = c.api(lambda: nnx.jit(lambda o, x: o.forward(x))(op, jnp.array([0, 9, 9, 9])))
    del jax
    return _poisoned(res, "log p")


@case("operator-jit-viterbi", "3", "jit(DifferentiableHMM.viterbi)([0, 9]): no valid-looking path")
def _(c):
    import jax.numpy as jnp
    from flax import nnx

    from lsgm.operators import DifferentiableHMM, HMMConfig

    op = DifferentiableHMM(HMMConfig(num_states=2, num_emissions=3), rngs=nnx.Rngs(0))
    res = c.api(lambda: np.asarray(nnx.jit(lambda o, x: o.viterbi(x))(op, jnp.array([0, 9]))))
    if res.exc is not None or (res.value == -1).all():
        return "OK", "raised or -1"
    return "silent", f"path {res.value.tolist()}"


@case("operator-jit-posterior", "3", "jit(forward_backward)([0, -4]) is NaN or raises")
def _(c):
    import jax.numpy as jnp
    from flax import nnx

    from lsgm.operators import DifferentiableHMM, HMMConfig

    op = DifferentiableHMM(HMMConfig(num_states=2, num_emissions=3), rngs=nnx.Rngs(0))
    res = c.api(lambda: nnx.jit(lambda o, x: o.forward_backward(x))(op, jnp.array([0, -4])))
    return _poisoned(res, "posteriors")


@case("operator-jit-apply", "3", "jit(apply) with symbol 5 of 3: log-likelihood NaN or raises")
def _(c):
    import jax.numpy as jnp
    from flax import nnx

    from lsgm.operators import DifferentiableHMM, HMMConfig

    op = DifferentiableHMM(HMMConfig(num_states=2, num_emissions=3), rngs=nnx.Rngs(0))
    f = nnx.jit(lambda o, x: o.apply({"observations": x}, None, None)[0]["log_likelihood"])
    return _poisoned(c.api(lambda: f(op, jnp.array([0, 5, 1]))), "log p")


@case("operator-jit-soft-negative", "3", "jit(forward_soft) with a negative weight is NaN/raise")
def _(c):
    import jax.numpy as jnp
    from flax import nnx

    from lsgm.operators import DifferentiableHMM, HMMConfig

    op = DifferentiableHMM(HMMConfig(num_states=2, num_emissions=3), rngs=nnx.Rngs(0))
    soft = jnp.array([[1.0, 0, 0], [-1.0, 2.0, 0]])
    return _poisoned(c.api(lambda: nnx.jit(lambda o, x: o.forward_soft(x))(op, soft)), "log p")


@case("operator-eager-invalid", "holds", "apply (eager) with symbol 5 of 3 raises naming it")
def _(c):
    import jax.numpy as jnp
    from flax import nnx

    from lsgm.operators import DifferentiableHMM, HMMConfig

    op = DifferentiableHMM(HMMConfig(num_states=2, num_emissions=3), rngs=nnx.Rngs(0))
    return api_refused(
        c.api(lambda: op.apply({"observations": jnp.array([0, 5])}, None, None)), "5"
    )


@case("operator-config-nan", "holds", "HMMConfig(temperature=nan) raises naming temperature")
def _(c):
    from lsgm.operators import HMMConfig

    return api_refused(c.api(lambda: HMMConfig(temperature=float("nan"))), "temperature")
