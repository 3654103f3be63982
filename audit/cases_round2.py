"""Second-round cases by an independent auditor: the same classes, inputs not tried before."""

from __future__ import annotations

import gzip
import json
import math
import os

import numpy as np

from audit.cases_proc import _no_model, _resume_case
from audit.harness import (
    api_refused,
    is_nan,
    is_neg_inf,
    refused,
    short,
    strict_json,
    succeeded,
)
from audit.harness import case as _case

DNA = ">s1\nACGTACGTTGCA\n>s2\nGGTACCATGA\n"
FIT = ["--states", "2", "--max-iter", "2", "-q"]


def case(id, cls, desc, quick=False):
    return _case("r2." + id, cls, desc, quick)


def _load(c, kind):
    from lsgm.models.serialization import load_model

    return load_model(c.model(kind))[0]


def _ll(r):
    """The log-likelihoods of ``score --json`` (record names carry the file name: left out)."""
    data = strict_json(r.out)
    per = [(s["length"], s["log_likelihood"]) for s in data["per_sequence"]]
    return json.dumps([data["log_likelihood"], data["impossible"], per])


def _same(a, b):
    if a.rc != 0:
        return "unclear", f"reference run failed: {a.first_err}"
    la, lb = _ll(a), _ll(b)
    return ("OK", "same scores") if la == lb else ("silent", f"{la[:90]} vs {lb[:90]}")


def _poisoned(res, what):
    if res.exc is not None:
        return "OK", f"raised {type(res.exc).__name__}: {str(res.exc)[:100]}"
    v = np.asarray(res.value)
    if np.isnan(v).any():
        return "OK", "NaN"
    return "silent", f"{what} = {short(v)} under jit (invalid input ignored)"


# =========================================================== class 1: outputs vs inputs
@case("sample-o-model-named-fa", "1", "sample m.fa -o m.fa (a model file named .fa, output = it)")
def _(c):
    c.model("dna", "m.fa")
    return refused(c.cli("sample", "m.fa", "-o", "m.fa", "-q"), "m.fa")


@case(
    "fit-o-validation-lsgm-name",
    "1",
    "fit --validation v.lsgm -o v.lsgm (a FASTA under a model name as validation, output = it)",
)
def _(c):
    c.write("x.fa", DNA)
    c.write("v.lsgm", ">v\nACGTTT\n")
    r = c.cli(
        "fit",
        "x.fa",
        "--trainer",
        "gradient",
        "--epochs",
        "1",
        "--validation",
        "v.lsgm",
        "-o",
        "v.lsgm",
        "-q",
    )
    return refused(r, "v.lsgm")


@case(
    "fit-o-abs-symlink-other-dir",
    "1",
    "fit data/x.fa -o /abs/out/m.lsgm where out/m.lsgm -> ../data/x.fa",
)
def _(c):
    c.write("data/x.fa", DNA)
    c.p("out").mkdir()
    os.symlink("../data/x.fa", c.p("out/m.lsgm"))
    return refused(c.cli("fit", "data/x.fa", "-o", str(c.p("out/m.lsgm")), *FIT), "m.lsgm")


@case(
    "fit-o-dot-slash-hardlink",
    "1",
    "fit ./x.fa -o ./sub/../m.lsgm where m.lsgm is a hard link of x.fa",
)
def _(c):
    c.write("x.fa", DNA)
    c.p("sub").mkdir()
    os.link(c.p("x.fa"), c.p("m.lsgm"))
    return refused(c.cli("fit", "./x.fa", "-o", "./sub/../m.lsgm", *FIT), "m.lsgm")


@case("fit-o-model-chain-symlink", "1", "fit x.fa -o a.lsgm where a.lsgm -> b.lsgm -> x.fa")
def _(c):
    c.write("x.fa", DNA)
    os.symlink("x.fa", c.p("b.lsgm"))
    os.symlink("b.lsgm", c.p("a.lsgm"))
    return refused(c.cli("fit", "x.fa", "-o", "a.lsgm", *FIT), "a.lsgm", "x.fa")


@case(
    "fit-o-new-nested-folder",
    "1",
    "fit x.fa -o new/sub/m.lsgm (folders that do not exist): "
    "created and written, or refused naming them",
)
def _(c):
    c.write("x.fa", DNA)
    r = c.cli("fit", "x.fa", "-o", "new/sub/m.lsgm", *FIT)
    if r.rc == 0:
        return succeeded(r, lambda r: None if c.p("new/sub/m.lsgm").is_file() else "no model")
    return refused(r, "new")


@case(
    "decode-o-model-via-dir-link",
    "1",
    "decode m.lsgm x.fa -o ln/d.tsv where ln -> other "
    "folder and d.tsv there is the model (hard link)",
)
def _(c):
    m = c.model("dna", "models/m.lsgm")
    c.write("x.fa", DNA)
    os.link(m, c.p("models/d.tsv"))
    os.symlink("models", c.p("ln"))
    return refused(c.cli("decode", m, "x.fa", "-o", "ln/d.tsv"), "d.tsv")


@case("posterior-o-labels-like", "1", "posterior m x.fa -o x.fa.npz where x.fa.npz -> x.fa")
def _(c):
    m = c.model("dna")
    c.write("x.fa", DNA)
    os.symlink("x.fa", c.p("x.fa.npz"))
    return refused(c.cli("posterior", m, "x.fa", "-o", "x.fa.npz"), "x.fa.npz", "x.fa")


@case("plot-o-model-file", "1", "plot m.lsgm x.fa -o m.lsgm (output folder is the model)")
def _(c):
    m = c.model("dna")
    c.write("x.fa", DNA)
    return refused(c.cli("plot", m, "x.fa", "-o", "dna.lsgm", "-q"), "dna.lsgm")


@case("plot-o-folder-holding-input", "1", "plot m d/x.fa -o d (output folder holds the data)")
def _(c):
    m = c.model("dna")
    c.write("d/x.fa", DNA)
    # rule 1: a folder output may exist; only files lsgm writes there may be replaced, and
    # x.fa is not one of them (the harness's hashes say whether it survived)
    return succeeded(c.cli("plot", m, "d/x.fa", "-o", "d", "-q"))


@case("plot-o-parent-of-model", "1", "plot mdir/m.lsgm x.fa -o mdir/.. (cwd, holds everything)")
def _(c):
    m = c.model("dna", "mdir/m.lsgm")
    c.write("x.fa", DNA)
    return succeeded(c.cli("plot", m, "x.fa", "-o", "mdir/..", "-q"))  # inputs kept


@case(
    "sample-o-table-over-data",
    "1",
    "sample gauss.lsgm -o x.csv where x.csv is a hard link of the model",
)
def _(c):
    m = c.model("gauss")
    os.link(m, c.p("x.csv"))
    return refused(c.cli("sample", m, "-o", "x.csv", "-q"), "x.csv")


@case(
    "demo-o-existing-data-folder",
    "1",
    "demo --quick -o d where d is an existing folder with a user file in it",
)
def _(c):
    c.write("d/mine.fa", DNA)
    return succeeded(c.cli("demo", "--quick", "-q", "-o", "d"))  # the user's file is kept


@case("experiment-o-input", "1", "experiment music --quick --dataset r.json -o r.json")
def _(c):
    roll = {
        "train": [[[60, 64], [62]], [[60], [64, 67]]],
        "valid": [[[60], [62]]],
        "test": [[[64], [60]]],
    }
    c.write("r.json", json.dumps(roll))
    r = c.cli("experiment", "music", "--quick", "--dataset", "r.json", "-o", "r.json", "-q")
    return refused(r, "r.json")


@case(
    "experiment-checkpoint-dir-is-input",
    "1",
    "experiment music --quick --checkpoint-dir r.json (a data file as the folder)",
)
def _(c):
    roll = {
        "train": [[[60, 64], [62]], [[60], [64, 67]]],
        "valid": [[[60], [62]]],
        "test": [[[64], [60]]],
    }
    c.write("r.json", json.dumps(roll))
    r = c.cli(
        "experiment",
        "music",
        "--quick",
        "--dataset",
        "r.json",
        "--checkpoint-dir",
        "r.json",
        "-o",
        "out.json",
        "-q",
    )
    return refused(r, "r.json")


@case(
    "checkpoint-dir-holds-data",
    "1",
    "fit x.fa --checkpoint-dir . where the data file is "
    "named like the checkpoint (em_checkpoint.msgpack)",
)
def _(c):
    c.write("em_checkpoint.msgpack", DNA)  # a user's file that happens to have that name
    c.write("x.fa", DNA)
    r = c.cli("fit", "x.fa", *FIT, "--trainer", "em", "-o", "m.lsgm", "--checkpoint-dir", ".")
    if r.rc == 0:
        return "OK", "exit 0"
    return refused(r, "em_checkpoint.msgpack", "checkpoint")


# =========================================================== class 2: exact zeros
@case(
    "sample-never-impossible",
    "2",
    "sequences sampled from a model with zeros never hold a probability-0 symbol (T under imp)",
)
def _(c):
    m = c.model("imp")
    r = c.cli("sample", m, "-o", "s.fa", "-n", "200", "--num-sequences", "5", "-q")

    def check(_):
        text = c.p("s.fa").read_text()
        seq = "".join(ln for ln in text.splitlines() if not ln.startswith(">"))
        return "sampled a T (probability 0)" if "T" in seq else None

    return succeeded(r, check)


@case("sample-alt-transitions", "2", "samples from the alternating model follow A,C,A,C...")
def _(c):
    m = c.model("alt")
    r = c.cli("sample", m, "-o", "s.fa", "-n", "50", "--num-sequences", "3", "-q")

    def check(_):
        for ln in c.p("s.fa").read_text().splitlines():
            if not ln.startswith(">") and ("AA" in ln or "CC" in ln or not ln.startswith("A")):
                return f"impossible sample {ln[:20]}"
        return None

    return succeeded(r, check)


@case("score-gz-impossible", "2", "score of an impossible record in a .fa.gz: -inf reported")
def _(c):
    m = c.model("imp")
    c.write("x.fa.gz", gzip.compress(b">ok\nACGA\n>bad\nACTA\n"))
    r = c.cli("score", m, "x.fa.gz", "--json")

    def check(r):
        text = r.out
        if "bad" not in text:
            return "impossible record not reported"
        if '"-87' in text or "-8" in text.split("bad")[1][:80] and "null" not in text:
            return "finite score for impossible record"
        return None

    if r.rc == 0:
        return succeeded(r, check)
    return refused(r, "bad")


@case("grad-through-zero", "2", "jax.grad of log_prob w.r.t. logits with -inf entries: no NaN")
def _(c):
    import jax
    from flax import nnx

    m = _load(c, "imp")
    x = np.array([0, 1, 2, 0], np.int32)
    graphdef, state, rest = nnx.split(m, nnx.Param, ...)

    def f(s):
        return nnx.merge(graphdef, s, rest).log_prob(x)

    res = c.api(lambda: jax.grad(f)(state))
    if res.exc is not None:
        return "unclear", f"{type(res.exc).__name__}: {res.exc}"[:200]
    leaves = jax.tree_util.tree_leaves(res.value)
    bad = [short(v) for v in leaves if np.isnan(np.asarray(v, float)).any()]
    return ("silent", f"NaN gradient {bad[0]}") if bad else ("OK", "finite gradients")


@case("bernoulli-p1-x0", "2", "Bernoulli p=1 with x=0: log p = -inf")
def _(c):
    from lsgm.distributions import Bernoulli

    d = Bernoulli.from_probs(np.array([[1.0, 0.5]]))
    res = c.api(lambda: float(d.log_prob(np.array([[0.0, 1.0]], np.float32))[0, 0]))
    if res.exc is not None:
        return "unclear", str(res.exc)[:150]
    return ("OK", "-inf") if is_neg_inf(res.value) else ("silent", f"log p = {res.value}")


@case("poisson-rate0-count0", "2", "Poisson rate 0 with count 0: log p = 0 exactly (not -inf/NaN)")
def _(c):
    from lsgm.distributions import Poisson

    d = Poisson.from_rates(np.array([[0.0]]))
    res = c.api(lambda: float(d.log_prob(np.array([[0.0]], np.float32))[0, 0]))
    if res.exc is not None:
        return "unclear", str(res.exc)[:150]
    return ("OK", "0") if res.value == 0.0 else ("silent", f"log p = {res.value} (want 0)")


@case(
    "initial-zero-first",
    "2",
    "HMM with initial prob 0 for the only state that emits the first symbol: -inf",
)
def _(c):
    from lsgm.distributions import Categorical
    from lsgm.models import HMM

    m = HMM.from_probs(
        [0.0, 1.0], [[0.5, 0.5], [0.5, 0.5]], Categorical.from_probs([[1.0, 0.0], [0.0, 1.0]])
    )
    res = c.api(lambda: float(m.log_prob(np.array([0, 1], np.int32))))
    if res.exc is not None:
        return "unclear", str(res.exc)[:150]
    return ("OK", "-inf") if is_neg_inf(res.value) else ("silent", f"log p = {res.value}")


@case("viterbi-one-step-impossible", "2", "viterbi of a 1-step impossible sequence: -inf, [-1]")
def _(c):
    m = _load(c, "imp")
    res = c.api(lambda: m.viterbi(np.array([3], np.int32)))
    if res.exc is not None:
        return "OK", f"raised {type(res.exc).__name__}: {str(res.exc)[:100]}"
    path, score = res.value
    if is_neg_inf(score) and (np.asarray(path) == -1).all():
        return "OK", "-inf, -1"
    return "silent", f"score {score}, path {short(path)}"


@case(
    "decode-bed-partly-impossible",
    "2",
    "decode -o .bed of [ok, impossible]: the impossible "
    "record refused or left out with a message, never intervals",
)
def _(c):
    m = c.model("imp")
    c.write("x.fa", ">ok\nACGA\n>bad\nACGT\n")
    r = c.cli("decode", m, "x.fa", "-o", "d.bed")
    if r.rc == 0:
        bed = c.p("d.bed").read_text()
        return ("silent", "intervals for 'bad'") if "bad" in bed else ("OK", "left out")
    return refused(r, "bad")


# =========================================================== class 3: invalid input under jit
@case("jit-soft-row-sums-two", "3", "jit(log_prob) of soft rows summing to 2 is NaN or raises")
def _(c):
    import jax

    m = _load(c, "dna")
    x = np.array([[1, 0, 0, 0], [1, 1, 0, 0]], np.float32)
    return _poisoned(c.api(lambda: jax.jit(m.log_prob)(x)), "log p")


@case("jit-soft-nan", "3", "jit(log_prob) of soft rows with NaN is NaN")
def _(c):
    import jax

    m = _load(c, "dna")
    x = np.array([[1, 0, 0, 0], [np.nan, 0, 0, 1]], np.float32)
    return _poisoned(c.api(lambda: jax.jit(m.log_prob)(x)), "log p")


@case("jit-hmm-bernoulli-half", "3", "jit(HMM(Bernoulli).log_prob) with a 0.5 entry is NaN")
def _(c):
    import jax

    m = _load(c, "roll")
    x = np.zeros((3, 88), np.float32)
    x[1, 50] = 0.5
    return _poisoned(c.api(lambda: jax.jit(m.log_prob)(x)), "log p")


@case("jit-hmm-poisson-inf", "3", "jit(HMM(Poisson).log_prob) with count +inf is NaN")
def _(c):
    import jax

    m = _load(c, "pois")
    x = np.array([[1.0], [np.inf], [2.0]], np.float32)
    return _poisoned(c.api(lambda: jax.jit(m.log_prob)(x)), "log p")


@case("jit-gmm-inf", "3", "jit GaussianMixture HMM log_prob of -inf data is NaN")
def _(c):
    import jax
    from flax import nnx

    from lsgm.distributions import GaussianMixture
    from lsgm.models import HMM

    g = GaussianMixture(2, 2, 3, rngs=nnx.Rngs(0))
    m = HMM.from_probs([0.5, 0.5], [[0.9, 0.1], [0.1, 0.9]], g)
    x = np.array([[0.0, 0.0], [-np.inf, 1.0]], np.float32)
    return _poisoned(c.api(lambda: jax.jit(m.log_prob)(x)), "log p")


@case("jit-full-cov-nan", "3", "jit Gaussian(full covariance) HMM of NaN data is NaN")
def _(c):
    import jax
    from flax import nnx

    from lsgm.distributions import Gaussian
    from lsgm.models import HMM

    g = Gaussian(2, 2, covariance="full", rngs=nnx.Rngs(0))
    m = HMM.from_probs([0.5, 0.5], [[0.9, 0.1], [0.1, 0.9]], g)
    x = np.array([[0.0, 0.0], [np.nan, 1.0]], np.float32)
    return _poisoned(c.api(lambda: jax.jit(m.log_prob)(x)), "log p")


@case("jit-viterbi-length-too-long", "3", "jit(viterbi)(x, length=10) with T=3: NaN or -1 path")
def _(c):
    import jax

    m = _load(c, "dna")
    x = np.array([0, 1, 2], np.int32)
    res = c.api(lambda: jax.jit(m.viterbi)(x, 10))
    if res.exc is not None:
        return "OK", f"raised {type(res.exc).__name__}"
    path, score = res.value
    if is_nan(score) or (np.asarray(path) == -1).all():
        return "OK", f"score {score}"
    return "silent", f"score {score}, path {short(path)}"


@case("jit-score-samples-invalid", "3", "jit(score_samples) of a batch with symbol 9 in row 1")
def _(c):
    import jax

    m = _load(c, "dna")
    xs = np.array([[0, 1, 2, 3], [0, 9, 1, 2]], np.int32)
    res = c.api(lambda: jax.jit(lambda a: m.score_samples(a))(xs))
    if res.exc is not None:
        return "OK", f"raised {type(res.exc).__name__}"
    v = np.asarray(res.value)
    return ("OK", short(v)) if np.isnan(v[1]) else ("silent", f"scores {short(v)}")


@case("jit-lsgm-soft-negative", "3", "jit(LSGM.log_prob) of soft input with a negative weight")
def _(c):
    import jax

    m = _load(c, "lsgm")
    x = np.array([[1, 0, 0, 0], [-0.5, 1.5, 0, 0], [0, 0, 1, 0]], np.float32)
    return _poisoned(c.api(lambda: jax.jit(m.log_prob)(x)), "log p")


@case(
    "operator-jit-length-too-long",
    "3",
    "DifferentiableHMM forward under jit with length 9 "
    "of T=3 (via mask all-true): observation 7 at a valid step is NaN",
)
def _(c):
    import jax.numpy as jnp
    from flax import nnx

    from lsgm.operators import DifferentiableHMM, HMMConfig

    op = DifferentiableHMM(HMMConfig(num_states=2, num_emissions=3), rngs=nnx.Rngs(0))
    x = jnp.array([0, 1, 7])
    return _poisoned(c.api(lambda: nnx.jit(lambda o, x: o.forward(x))(op, x)), "log p")


# =========================================================== class 4: models and fits
@case("from-probs-rows-not-one", "4", "HMM.from_probs with a transition row summing to 1.5")
def _(c):
    from lsgm.distributions import Categorical
    from lsgm.models import HMM

    e = Categorical.from_probs([[0.5, 0.5], [0.5, 0.5]])
    return api_refused(
        c.api(lambda: HMM.from_probs([0.5, 0.5], [[1.0, 0.5], [0.5, 0.5]], e)), "transition"
    )


@case("from-probs-negative", "4", "HMM.from_probs with a negative initial probability")
def _(c):
    from lsgm.distributions import Categorical
    from lsgm.models import HMM

    e = Categorical.from_probs([[0.5, 0.5], [0.5, 0.5]])
    return api_refused(
        c.api(lambda: HMM.from_probs([1.5, -0.5], [[0.5, 0.5], [0.5, 0.5]], e)), "initial"
    )


@case("from-probs-zero-row", "4", "HMM.from_probs with an all-zero transition row (no mass)")
def _(c):
    from lsgm.distributions import Categorical
    from lsgm.models import HMM

    e = Categorical.from_probs([[0.5, 0.5], [0.5, 0.5]])
    return api_refused(
        c.api(lambda: HMM.from_probs([0.5, 0.5], [[0.0, 0.0], [0.5, 0.5]], e)), "transition"
    )


@case("bernoulli-from-probs-bad", "4", "Bernoulli.from_probs with 1.5 / NaN")
def _(c):
    from lsgm.distributions import Bernoulli

    return api_refused(c.api(lambda: Bernoulli.from_probs(np.array([[1.5, np.nan]]))), "prob")


@case("poisson-nan-rate", "4", "Poisson.from_rates with a NaN rate")
def _(c):
    from lsgm.distributions import Poisson

    return api_refused(c.api(lambda: Poisson.from_rates(np.array([[np.nan]]))), "rate")


@case("categorical-zero-row", "4", "Categorical.from_probs with an all-zero row")
def _(c):
    from lsgm.distributions import Categorical

    return api_refused(
        c.api(lambda: Categorical.from_probs([[0.0, 0.0], [0.5, 0.5]])),
        "row",
        "prob",
        "sum",
        "mass",
    )


@case("fit-em-empty-list", "4", "fit_em(model, []) raises a clear error")
def _(c):
    from lsgm.training import fit_em

    m = _load(c, "dna")
    return api_refused(
        c.api(lambda: fit_em(m, [], max_iter=2)), "empty", "no sequence", "sequence", "data"
    )


@case("fit-em-zero-length", "4", "fit_em with a length-0 sequence in the list")
def _(c):
    from lsgm.training import fit_em

    m = _load(c, "dna")
    xs = [np.array([0, 1, 2], np.int32), np.array([], np.int32)]
    return api_refused(c.api(lambda: fit_em(m, xs, max_iter=2)), "1", "length", "empty")


@case("fit-em-lengths-mismatch", "4", "fit_em(xs padded [2, 4], lengths=[4, 9]) (length > T)")
def _(c):
    from lsgm.training import fit_em

    m = _load(c, "dna")
    xs = np.array([[0, 1, 2, 3], [1, 2, 3, 0]], np.int32)
    return api_refused(
        c.api(lambda: fit_em(m, xs, lengths=np.array([4, 9]), max_iter=2)), "length", "9"
    )


@case("predict-lengths-mismatch", "4", "predict(xs [2, 4], lengths=[4]) (one length for two)")
def _(c):
    m = _load(c, "dna")
    xs = np.array([[0, 1, 2, 3], [1, 2, 3, 0]], np.int32)
    return api_refused(c.api(lambda: m.predict(xs, lengths=np.array([4]))), "length")


@case("score-lengths-zero", "4", "score(xs, lengths=[4, 0]) (a zero-length row) is refused")
def _(c):
    m = _load(c, "dna")
    xs = np.array([[0, 1, 2, 3], [1, 2, 3, 0]], np.int32)
    return api_refused(c.api(lambda: m.score(xs, lengths=np.array([4, 0]))), "length", "0")


@case("save-model-to-directory", "4", "save_model(dir, model) names the directory")
def _(c):
    from lsgm.models.serialization import save_model

    m = _load(c, "dna")
    c.p("d").mkdir()
    return api_refused(
        c.api(lambda: save_model(c.p("d"), m, {})), "d", types=(ValueError, TypeError, OSError)
    )


@case("load-checkpoint-gradient", "4", "load_model of a gradient checkpoint file is refused")
def _(c):
    from lsgm.models.serialization import load_model

    folder, _ = c.fx.checkpoint("gradient")
    ck = c.copy(folder / "ckpt" / "checkpoint.msgpack", "ck.lsgm")
    return api_refused(
        c.api(lambda: load_model(ck)),
        "ck.lsgm",
        "checkpoint",
        types=(ValueError, TypeError, OSError),
    )


@case(
    "fit-gmm-constant-data",
    "4",
    "fit --emission gmm on constant data: a finite model or a clear refusal, never NaN",
)
def _(c):
    c.write("x.csv", "seq_id,x\n" + "".join("A,1\n" for _ in range(20)))
    r = c.cli(
        "fit",
        "x.csv",
        "--emission",
        "gmm",
        "--components",
        "2",
        "--states",
        "2",
        "--max-iter",
        "5",
        "-q",
        "-o",
        "m.lsgm",
    )
    if r.rc == 0:
        from lsgm.models.serialization import load_model

        res = c.api(lambda: load_model(c.p("m.lsgm")))
        return ("OK", "finite model") if res.exc is None else ("silent", str(res.exc)[:150])
    return _no_model(c, refused(r, "x.csv", "constant", "diverg", "variance", "iteration"))


# =========================================================== class 5: resume
@case("resume-other-emission", "5", "--resume with --emission poisson (was categorical)")
def _(c):
    return _resume_case(c, "em", ("--emission", "poisson"), needles=("emission",))


@case("resume-other-model", "5", "gradient --resume with --model lsgm (was hmm)")
def _(c):
    return _resume_case(c, "gradient", ("--model", "lsgm"), needles=("model", "lsgm"))


@case(
    "resume-other-n-init",
    "5",
    "--resume with --n-init 3: names n_init, not a setting that "
    "did not change (--max-iter 3 both times)",
)
def _(c):
    folder, argv = c.fx.checkpoint("em")
    c.copy(folder / "ckpt", "ckpt")
    c.copy(folder / "train.fa", "train.fa")
    r = c.cli(
        *argv,
        "--n-init",
        "3",
        "-o",
        "m.lsgm",
        "--checkpoint-dir",
        "ckpt",
        "--resume",
        may_change=("ckpt",),
    )
    return _no_model(c, refused(r, "n_init", "n-init", forbid=("max_iter '<unset>'",)))


@case(
    "resume-max-iter-shrink",
    "5",
    "--resume with --max-iter 1 (less than done): refused or "
    "stops at once, never a silently different run",
)
def _(c):
    return _resume_case(c, "em", ("--max-iter", "1"), needles=("max_iter", "max-iter"))


@case("resume-other-clip", "5", "gradient --resume with another --clip-norm")
def _(c):
    return _resume_case(c, "gradient", ("--clip-norm", "0.01"), needles=("clip",))


@case("resume-other-patience", "5", "gradient --resume with --patience 1")
def _(c):
    return _resume_case(c, "gradient", ("--patience", "1"), needles=("patience", "validation"))


@case("resume-reverse-complement", "5", "--resume with --reverse-complement (data read otherwise)")
def _(c):
    folder, argv = c.fx.checkpoint("em")
    c.copy(folder / "ckpt", "ckpt")
    c.copy(folder / "train.fa", "train.fa")
    r = c.cli(
        *argv,
        "--reverse-complement",
        "-o",
        "m.lsgm",
        "--checkpoint-dir",
        "ckpt",
        "--resume",
        may_change=("ckpt",),
    )
    return _no_model(c, refused(r, "reverse", "data", wrong="resumed on reversed data"))


@case(
    "resume-other-alphabet-order", "5", "--resume with --alphabet TGCA (same letters, other order)"
)
def _(c):
    return _resume_case(c, "em", ("--alphabet", "TGCA"), needles=("alphabet", "data"))


@case(
    "resume-gradient-ckpt-for-em",
    "5",
    "EM --resume from a folder holding only a gradient checkpoint",
)
def _(c):
    folder, _ = c.fx.checkpoint("gradient")
    c.copy(folder / "ckpt", "ckpt")
    c.copy(folder / "train.fa", "train.fa")
    from audit.harness import fit_argv

    r = c.cli(
        *fit_argv("em"),
        "-o",
        "m.lsgm",
        "--checkpoint-dir",
        "ckpt",
        "--resume",
        may_change=("ckpt",),
    )
    return _no_model(c, refused(r, "ckpt", "checkpoint"))


# =========================================================== class 6: say what you do
@case("score-split-on-fasta", "6", "score m x.fa --split test (option ignored for FASTA)")
def _(c):
    m = c.model("dna")
    c.write("x.fa", DNA)
    return refused(c.cli("score", m, "x.fa", "--split", "test"), "split")


@case("decode-bed-states-tsv", "6", "decode --bed-states hi -o d.tsv (option of .bed ignored)")
def _(c):
    m = c.model("dna")
    c.write("x.fa", DNA)
    return refused(c.cli("decode", m, "x.fa", "--bed-states", "hi", "-o", "d.tsv"), "bed")


@case("fit-components-categorical", "6", "fit x.fa --components 3 (only for gmm) is an error")
def _(c):
    c.write("x.fa", DNA)
    return refused(c.cli("fit", "x.fa", *FIT, "--components", "3", "-o", "m.lsgm"), "components")


@case("fit-covariance-categorical", "6", "fit x.fa --covariance full (Gaussian only) is an error")
def _(c):
    c.write("x.fa", DNA)
    return refused(c.cli("fit", "x.fa", *FIT, "--covariance", "full", "-o", "m.lsgm"), "covariance")


@case("fit-hidden-size-hmm", "6", "fit --model hmm --hidden-size 64 (LSGM only) is an error")
def _(c):
    c.write("x.fa", DNA)
    return refused(c.cli("fit", "x.fa", *FIT, "--hidden-size", "64", "-o", "m.lsgm"), "hidden")


@case("fit-lr-with-em", "6", "fit --trainer em --learning-rate 0.1 (gradient only) is an error")
def _(c):
    c.write("x.fa", DNA)
    r = c.cli("fit", "x.fa", *FIT, "--trainer", "em", "--learning-rate", "0.1", "-o", "m.lsgm")
    return refused(r, "learning")


@case("fit-epochs-with-em", "6", "fit --trainer em --epochs 5 is an error")
def _(c):
    c.write("x.fa", DNA)
    r = c.cli("fit", "x.fa", *FIT, "--trainer", "em", "--epochs", "5", "-o", "m.lsgm")
    return refused(r, "epochs")


@case("fit-quality-soft-fasta", "6", "fit x.fa --quality soft (FASTA has no qualities)")
def _(c):
    c.write("x.fa", DNA)
    return refused(c.cli("fit", "x.fa", *FIT, "--quality", "soft", "-o", "m.lsgm"), "quality")


@case("fit-alphabet-with-csv", "6", "fit x.csv --emission gaussian --alphabet ACGT (ignored)")
def _(c):
    c.write("x.csv", "seq_id,x\nA,0.5\nA,1.5\nA,2\nB,1\nB,3\n")
    r = c.cli("fit", "x.csv", "--emission", "gaussian", *FIT, "--alphabet", "ACGT", "-o", "m.lsgm")
    return refused(r, "alphabet")


@case("sample-step-seconds-dna", "6", "sample a DNA model --step-seconds 0.5 (music only)")
def _(c):
    m = c.model("dna")
    return refused(c.cli("sample", m, "-o", "s.fa", "--step-seconds", "0.5", "-q"), "step")


@case(
    "fasta-lowercase",
    "6",
    "lowercase (soft-masked) FASTA: read as the same letters or "
    "refused naming the record, never dropped",
)
def _(c):
    m = c.model("dna")
    c.write("up.fa", ">a\nACGTACGT\n")
    c.write("lo.fa", ">a\nacgtACGT\n")
    a, b = c.cli("score", m, "up.fa", "--json"), c.cli("score", m, "lo.fa", "--json")
    if b.rc != 0:
        return refused(b, "a", "lo.fa")
    return _same(a, b)


@case(
    "fasta-space-in-sequence",
    "6",
    "FASTA line 'ACGT ACGT': spaces skipped or refused, never a symbol",
)
def _(c):
    m = c.model("dna")
    c.write("up.fa", ">a\nACGTACGT\n")
    c.write("sp.fa", ">a\nACGT ACGT\n")
    a, b = c.cli("score", m, "up.fa", "--json"), c.cli("score", m, "sp.fa", "--json")
    if b.rc != 0:
        return refused(b, "a", "sp.fa", "space", "' '")
    return _same(a, b)


@case("table-sci-notation", "6", "CSV cell '1e-1' and '-0.0' read as numbers (strict but valid)")
def _(c):
    m = c.model("gauss")
    c.write("a.csv", "seq_id,x,y\nA,0.1,0\nA,3,3\n")
    c.write("b.csv", "seq_id,x,y\nA,1e-1,-0.0\nA,3,3\n")
    a, b = c.cli("score", m, "a.csv", "--json"), c.cli("score", m, "b.csv", "--json")
    if b.rc != 0:
        return "unclear", f"valid numbers refused: {b.first_err}"
    return _same(a, b)


@case("table-NA", "6", "CSV cell 'NA' refused naming the line")
def _(c):
    m = c.model("gauss")
    c.write("x.csv", "seq_id,x,y\nA,0.5,1\nA,NA,2\n")
    return refused(c.cli("score", m, "x.csv"), "x.csv", "NA")


@case(
    "table-seq-id-interleaved",
    "6",
    "CSV rows A,B,A (a sequence id that comes back): refused "
    "or two sequences A, not silently merged/split",
)
def _(c):
    m = c.model("gauss")
    c.write("x.csv", "seq_id,x,y\nA,0.5,1\nB,1,2\nA,3,3\n")
    r = c.cli("score", m, "x.csv", "--json")
    if r.rc == 0:
        return "silent", f"accepted interleaved ids: {r.out[:150]}"
    return refused(r, "A", "x.csv")


@case("fasta-duplicate-names", "6", "FASTA with two records named 'a': refused or kept apart")
def _(c):
    m = c.model("dna")
    c.write("x.fa", ">a\nACGT\n>a\nGGCA\n")
    r = c.cli("decode", m, "x.fa", "-o", "d.bed")
    if r.rc == 0:
        return "silent", "two records named 'a' decoded into one BED without a word"
    return refused(r, "a")


@case("states-one", "6", "fit --states 1 works (a valid 1-state HMM)")
def _(c):
    c.write("x.fa", DNA)
    return succeeded(c.cli("fit", "x.fa", "--states", "1", "--max-iter", "2", "-q", "-o", "m.lsgm"))


@case("states-fraction", "6", "fit --states 1.5 refused naming the option")
def _(c):
    c.write("x.fa", DNA)
    return refused(c.cli("fit", "x.fa", "--states", "1.5", "-q", "-o", "m.lsgm"), "states")


@case("sample-length-underscore", "6", "sample -n 1_0 refused (strict numbers)")
def _(c):
    m = c.model("dna")
    return refused(c.cli("sample", m, "-o", "s.fa", "-n", "1_0", "-q"), "1_0", "length")


@case("sample-length-one", "6", "sample -n 1 --num-sequences 1 writes one 1-symbol record")
def _(c):
    m = c.model("dna")
    r = c.cli("sample", m, "-o", "s.fa", "-n", "1", "--num-sequences", "1", "-q")

    def check(_):
        lines = c.p("s.fa").read_text().splitlines()
        seq = "".join(x.strip() for x in lines if not x.startswith(">"))
        return None if len(seq) == 1 else f"wrote {lines}"

    return succeeded(r, check)


@case("sample-json-strict", "6", "sample --json is strict JSON")
def _(c):
    m = c.model("gauss")
    r = c.cli("sample", m, "-o", "s.csv", "-n", "3", "--json", "-q")

    def check(r):
        try:
            strict_json(r.out)
        except ValueError as e:
            return f"not strict JSON: {e}"
        return None

    return succeeded(r, check)


@case("info-on-data-file", "7", "lsgm info x.fa (a FASTA, not a model) names the file")
def _(c):
    c.write("x.fa", DNA)
    return refused(c.cli("info", "x.fa"), "x.fa")


@case("info-on-checkpoint", "7", "lsgm info on an EM checkpoint names the file / says checkpoint")
def _(c):
    folder, _ = c.fx.checkpoint("em")
    ck = c.copy(folder / "ckpt" / "em_checkpoint.msgpack", "ck.msgpack")
    return refused(c.cli("info", ck), "ck.msgpack", "checkpoint")


@case("info-on-gz", "7", "lsgm info m.lsgm.gz (a gzipped model) names the file")
def _(c):
    m = c.model("dna")
    c.write("m.lsgm.gz", gzip.compress(m.read_bytes()))
    return refused(c.cli("info", "m.lsgm.gz"), "m.lsgm.gz")


@case("fastq-no-plus", "7", "FASTQ without the '+' line names the record/line")
def _(c):
    m = c.model("dna")
    c.write("x.fq", "@r1\nACGT\nIIII\n@r2\nACGT\n+\nIIII\n")
    return refused(c.cli("score", m, "x.fq"), "x.fq", "r1")


@case("fastq-only-at", "7", "FASTQ that is one '@' line names the file")
def _(c):
    m = c.model("dna")
    c.write("x.fq", "@\n")
    return refused(c.cli("score", m, "x.fq"), "x.fq")


@case("fasta-nul-bytes", "7", "FASTA with NUL bytes in a sequence names record/position")
def _(c):
    m = c.model("dna")
    c.write("x.fa", b">a\nAC\x00GT\n")
    return refused(c.cli("score", m, "x.fa"), "x.fa", "a")


@case("fasta-gz-binary", "7", "a .fa.gz whose content is random bytes names the file")
def _(c):
    m = c.model("dna")
    c.write("x.fa.gz", gzip.compress(os.urandom(2000)))
    return refused(c.cli("score", m, "x.fa.gz"), "x.fa.gz")


@case("fasta-gz-crc", "7", "a .fa.gz with a damaged CRC names the file")
def _(c):
    m = c.model("dna")
    data = bytearray(gzip.compress(DNA.encode()))
    data[-6] ^= 0xFF
    c.write("x.fa.gz", bytes(data))
    return refused(c.cli("score", m, "x.fa.gz"), "x.fa.gz")


@case("fasta-bz2-suffix", "7", "x.fa.bz2 (not supported) names the supported suffixes or file")
def _(c):
    import bz2

    m = c.model("dna")
    c.write("x.fa.bz2", bz2.compress(DNA.encode()))
    return refused(c.cli("score", m, "x.fa.bz2"), "x.fa.bz2", "bz2")


@case("json-roll-bool-note", "7", "piano-roll note true (a bool) names it")
def _(c):
    m = c.model("roll")
    c.write("r.json", json.dumps({"test": [[[60, True], [62]]]}))
    return refused(c.cli("score", m, "r.json"), "r.json", "true", "True")


@case("json-roll-too-deep", "7", "piano-roll with one nesting level too many names the file")
def _(c):
    m = c.model("roll")
    c.write("r.json", json.dumps({"test": [[[[60], [62]]]]}))
    return refused(c.cli("score", m, "r.json"), "r.json")


@case("json-roll-top-number", "7", "piano-roll JSON that is the number 5 names the file")
def _(c):
    m = c.model("roll")
    c.write("r.json", "5")
    return refused(c.cli("score", m, "r.json"), "r.json")


@case("midi-header-only", "7", "a .mid with a valid MThd but a truncated MTrk names the file")
def _(c):
    m = c.model("roll")
    hdr = b"MThd" + (6).to_bytes(4, "big") + b"\x00\x00\x00\x01\x00\x60"
    c.write("x.mid", hdr + b"MTrk" + (100).to_bytes(4, "big") + b"\x00\x90\x3c")
    return refused(c.cli("score", m, "x.mid"), "x.mid")


@case("npy-0d", "7", "a 0-d .npy (a scalar) names the file")
def _(c):
    m = c.model("gauss")
    np.save(c.p("x.npy"), np.float32(1.0))
    return refused(c.cli("score", m, "x.npy"), "x.npy")


@case("npz-1d", "7", "an .npz with a 1-D array for a 2-feature model names the file/array")
def _(c):
    m = c.model("gauss")
    np.savez(c.p("x.npz"), a=np.zeros(5, np.float32))
    return refused(c.cli("score", m, "x.npz"), "x.npz", "a")


@case("csv-dup-columns", "7", "CSV header 'seq_id,x,x' names the column")
def _(c):
    m = c.model("gauss")
    c.write("x.csv", "seq_id,x,x\nA,0.5,1\nA,1,2\n")
    r = c.cli("score", m, "x.csv")
    if r.rc == 0:
        return "silent", "accepted a duplicate column name"
    return refused(r, "x.csv", "x")


@case("csv-blank-line-middle", "7", "CSV with a blank line between rows: read or named")
def _(c):
    m = c.model("gauss")
    c.write("a.csv", "seq_id,x,y\nA,0.5,1\nA,1,2\n")
    c.write("b.csv", "seq_id,x,y\nA,0.5,1\n\nA,1,2\n")
    a, b = c.cli("score", m, "a.csv", "--json"), c.cli("score", m, "b.csv", "--json")
    if b.rc != 0:
        return refused(b, "b.csv")
    return _same(a, b)


@case("labels-unknown-letter", "7", "--labels with a letter that is no state names it")
def _(c):
    c.write("x.fa", ">a\nACGTACGT\n")
    c.write("lab.fa", ">a\nCCCCZZNN\n")
    r = c.cli(
        "fit",
        "x.fa",
        "--labels",
        "lab.fa",
        "--states",
        "2",
        "--state-names",
        "C,N",
        "-q",
        "-o",
        "m.lsgm",
    )
    return _no_model(c, refused(r, "Z", "lab.fa"))


@case(
    "labels-other-order",
    "7",
    "--labels with records in another order: matched by name or "
    "refused naming them, never paired by position",
)
def _(c):
    c.write("x.fa", ">a\nACGTACGT\n>b\nGGGG\n")
    c.write("lab.fa", ">b\nCCCC\n>a\nCCCCNNNN\n")
    r = c.cli(
        "fit",
        "x.fa",
        "--labels",
        "lab.fa",
        "--states",
        "2",
        "--state-names",
        "C,N",
        "-q",
        "-o",
        "m.lsgm",
    )
    if r.rc == 0:
        return "OK", "exit 0 (matched by name)"
    return refused(r, "a", "b", "lab.fa")


@case("model-trailing-slash", "7", "score m.lsgm/ x.fa names the model path")
def _(c):
    c.model("dna", "m.lsgm")
    c.write("x.fa", DNA)
    r = c.cli("score", "m.lsgm/", "x.fa")
    return ("OK", "read m.lsgm (pathlib drops the slash)") if r.rc == 0 else refused(r, "m.lsgm")


@case("states-minus-one", "7", "fit --states -1 refused naming the option (not a usage trace)")
def _(c):
    c.write("x.fa", DNA)
    return refused(c.cli("fit", "x.fa", "--states", "-1", "-q", "-o", "m.lsgm"), "states")


@case("plot-format-svg-mismatch", "6", "plot --format svg -o out writes SVGs, not PNGs")
def _(c):
    m = c.model("dna")
    c.write("x.fa", DNA)
    r = c.cli("plot", m, "x.fa", "--format", "svg", "-o", "out", "-q")

    def check(_):
        files = [p.name for p in c.p("out").iterdir() if p.name != ".lsgm-outputs"]
        if not files:
            return "no pictures"
        bad = [f for f in files if not f.endswith(".svg")]
        return f"non-SVG files {bad}" if bad else None

    return succeeded(r, check)


@case("fit-same-file-twice", "6", "fit a.fa a.fa (the same data file twice): refused or said")
def _(c):
    c.write("a.fa", DNA)
    r = c.cli("fit", "a.fa", "a.fa", *FIT, "-o", "m.lsgm")
    if r.rc == 0:
        said = "twice" in r.err.lower() or "duplicate" in r.err.lower()
        return ("OK", "warned") if said else ("silent", "trained on every record twice")
    return refused(r, "a.fa")


@case("score-math", "2", "score --json of a 1-step sequence equals log p (no NaN perplexity)")
def _(c):
    m = c.model("dna")
    c.write("x.fa", ">a\nA\n")
    r = c.cli("score", m, "x.fa", "--json")

    def check(r):
        got = strict_json(r.out)["log_likelihood"]
        want = math.log(0.6 * 0.4 + 0.4 * 0.1)
        return None if abs(got - want) < 1e-5 else f"log p {got}, want {want}"

    return succeeded(r, check)


# ------------------------------------------------------------- more: ignored options, folders
def _ignored(id, desc, argv, needle, data="x.fa"):
    @case(id, "6", desc)
    def _(c):
        if data == "x.fa":
            c.write("x.fa", DNA)
        else:
            c.write("x.csv", "seq_id,x\nA,0.5\nA,1.5\nA,2\nB,1\nB,3\n")
        r = c.cli("fit", data, *argv, "-q", "-o", "m.lsgm")
        return refused(r, needle, wrong="option accepted and ignored")


_ignored(
    "fit-rnn-hmm",
    "fit --model hmm --rnn lstm (LSGM only) is an error",
    ["--states", "2", "--max-iter", "2", "--rnn", "lstm"],
    "rnn",
)
_ignored(
    "fit-dropout-hmm",
    "fit --model hmm --dropout 0.3 (LSGM only) is an error",
    ["--states", "2", "--max-iter", "2", "--dropout", "0.3"],
    "dropout",
)
_ignored(
    "fit-pseudocount-no-labels",
    "fit --pseudocount 2 without --labels is an error",
    ["--states", "2", "--max-iter", "2", "--pseudocount", "2"],
    "pseudocount",
)
_ignored(
    "fit-ninit-gradient",
    "fit --trainer gradient --n-init 5 (EM only) is an error",
    ["--states", "2", "--trainer", "gradient", "--epochs", "1", "--n-init", "5"],
    "n-init",
)
_ignored(
    "fit-maxiter-gradient",
    "fit --trainer gradient --max-iter 7 (EM only) is an error",
    ["--states", "2", "--trainer", "gradient", "--epochs", "1", "--max-iter", "7"],
    "max-iter",
)
_ignored(
    "fit-ambiguous-soft-csv",
    "fit x.csv --emission gaussian --ambiguous soft (sequence option) is an error",
    ["--emission", "gaussian", "--states", "2", "--max-iter", "2", "--ambiguous", "soft"],
    "ambiguous",
    data="x.csv",
)
_ignored(
    "fit-revcomp-csv",
    "fit x.csv --reverse-complement (sequence option) is an error",
    ["--emission", "gaussian", "--states", "2", "--max-iter", "2", "--reverse-complement"],
    "reverse",
    data="x.csv",
)
_ignored(
    "fit-split-fasta",
    "fit x.fa --split train (piano-roll option) is an error",
    ["--states", "2", "--max-iter", "2", "--split", "train"],
    "split",
)


@case("posterior-split-on-fasta", "6", "posterior m x.fa --split test -o p.tsv (ignored option)")
def _(c):
    m = c.model("dna")
    c.write("x.fa", DNA)
    return refused(c.cli("posterior", m, "x.fa", "--split", "test", "-o", "p.tsv"), "split")


@case(
    "plot-o-existing-empty-folder",
    "1",
    "plot -o out where out is an existing empty folder (allowed: a folder output may exist)",
)
def _(c):
    m = c.model("dna")
    c.write("x.fa", DNA)
    c.p("out").mkdir()
    return succeeded(c.cli("plot", m, "x.fa", "-o", "out", "-q"))  # an empty folder is fine


@case(
    "experiment-o-existing-folder", "1", "experiment music --quick -o d where d holds a user file"
)
def _(c):
    roll = {
        "train": [[[60, 64], [62]], [[60], [64, 67]]],
        "valid": [[[60], [62]]],
        "test": [[[64], [60]]],
    }
    c.write("r.json", json.dumps(roll))
    c.write("d/mine.txt", "keep me\n")
    r = c.cli(
        "experiment", "music", "--quick", "--dataset", "r.json", "--models", "HMM", "-o", "d", "-q"
    )
    if r.rc == 0:
        return "OK", f"exit 0, d holds {sorted(p.name for p in c.p('d').iterdir())}"
    return refused(r, "d")


@case(
    "checkpoint-dir-user-file-gradient",
    "1",
    "fit --trainer gradient --checkpoint-dir d where "
    "d/checkpoint.msgpack is a user's file (not a checkpoint)",
)
def _(c):
    c.write("x.fa", DNA)
    c.write("d/checkpoint.msgpack", "my notes, not a checkpoint\n")
    r = c.cli(
        "fit",
        "x.fa",
        "--states",
        "2",
        "--trainer",
        "gradient",
        "--epochs",
        "1",
        "-q",
        "-o",
        "m.lsgm",
        "--checkpoint-dir",
        "d",
    )
    return refused(r, "checkpoint.msgpack", "d", wrong="ran")


@case(
    "plot-o-folder-overwrites-user-png",
    "1",
    "plot -o d where d/viterbi.png is a user's picture: refused (existing folder), never replaced",
)
def _(c):
    m = c.model("dna")
    c.write("x.fa", DNA)
    c.write("d/viterbi.png", b"my own picture, not lsgm's")
    return refused(c.cli("plot", m, "x.fa", "-o", "d", "-q"), "d")


@case(
    "demo-o-folder-overwrites-user-file",
    "1",
    "demo --quick -o d where d holds a file with a name demo writes: refused, never replaced",
)
def _(c):
    probe = c.cli("demo", "--quick", "-q", "-o", "probe")
    names = sorted(p.name for p in c.p("probe").iterdir() if p.is_file()) if probe.rc == 0 else []
    if not names:
        return "unclear", f"demo did not run: {probe.first_err}"
    c.write(f"d/{names[0]}", b"my own file")
    return refused(c.cli("demo", "--quick", "-q", "-o", "d"), "d")
