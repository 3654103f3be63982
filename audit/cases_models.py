"""Invalid models: NaN/inf parameters, hostile model files, diverged fits (class 4), and
hostile metadata fields (class 7)."""

from __future__ import annotations

import json

import numpy as np

from audit.cases_api import _i, _load, case
from audit.harness import api_refused, limited, refused


# ===================================================================== class 4
def _save_with(c, mutate, name="bad.lsgm"):
    import jax.numpy as jnp

    from lsgm.models.serialization import save_model

    m = _load(c, "dna")
    mutate(m, jnp)
    return c.api(lambda: save_model(c.p(name), m, {}))


@case("save-nan-transition", "4", "save_model with a NaN transition logit raises", quick=True)
def _(c):
    def mutate(m, jnp):
        m.transition_logits[...] = m.transition_logits[...].at[0, 0].set(jnp.nan)

    res = _save_with(c, mutate)
    if res.exc is None and c.p("bad.lsgm").exists():
        return "silent", "a model with NaN parameters was saved"
    return api_refused(res, "nan", "transition", "finite")


@case("save-inf-emission", "4", "save_model with +inf emission logits raises")
def _(c):
    def mutate(m, jnp):
        m.emission.logits[...] = m.emission.logits[...].at[0, 0].set(jnp.inf)

    res = _save_with(c, mutate)
    if res.exc is None:
        return "silent", "a model with inf parameters was saved"
    return api_refused(res, "inf", "logits", "finite")


@case("save-nan-gaussian", "4", "save_model of a Gaussian with NaN means raises")
def _(c):
    import jax.numpy as jnp

    from lsgm.models.serialization import save_model

    m = _load(c, "gauss")
    m.emission.loc[...] = jnp.full_like(m.emission.loc[...], jnp.nan)
    res = c.api(lambda: save_model(c.p("g.lsgm"), m, {}))
    if res.exc is None:
        return "silent", "NaN means saved"
    return api_refused(res, "nan", "mean", "finite")


def tamper(src, dst, meta_fn=None, arrays_fn=None, rehash=True, raw_meta=None, text_fn=None):
    """Rewrite a model file's metadata/arrays, with a valid checksum (a hostile file)."""
    from flax import serialization

    from lsgm.models import serialization as ser

    payload = serialization.msgpack_restore(open(src, "rb").read())
    meta = json.loads(payload["metadata"])
    if meta_fn:
        meta_fn(meta)
    if arrays_fn:
        arrays_fn(payload["arrays"])
    if rehash:
        from lsgm.training.checkpoint import flatten_arrays

        flat = payload["arrays"]
        if any(isinstance(v, dict) for v in flat.values()):
            flat = flatten_arrays(flat)[0]
        meta["sha256"] = ser._digest(flat, meta)
    text = raw_meta if raw_meta is not None else json.dumps(meta)
    if text_fn is not None:
        text = text_fn(text)
    payload["metadata"] = text
    if "sha256" in payload:  # the container's own checksum (checkpoint format >= 2)
        from lsgm.data import checkpoints

        payload["sha256"] = checkpoints._content_digest(
            payload["arrays"], dict(payload.get("prng_keys", {})), text
        )
    with open(dst, "wb") as f:
        f.write(serialization.msgpack_serialize(payload))


def _first_key(arrays, part):
    return next(k for k in arrays if part in k)


def _load_refused(
    c,
    kind,
    *needles,
    meta_fn=None,
    arrays_fn=None,
    cmd="info",
    data=None,
    wrong="loaded",
    rehash=True,
    raw_meta=None,
):
    src = c.fx.model(kind)
    tamper(src, c.p("t.lsgm"), meta_fn, arrays_fn, rehash, raw_meta)
    argv = [cmd, "t.lsgm"] + ([data] if data else [])
    if data:
        c.write(data, ">s\nACGTAC\n")
    return refused(c.cli(*argv), "t.lsgm", *needles, wrong=wrong)


@case(
    "load-nan-array", "4", "a model file with a NaN array (valid checksum) is refused", quick=True
)
def _(c):
    def arrays(a):
        k = _first_key(a, "transition_logits")
        a[k] = np.asarray(a[k]).copy()
        a[k][0, 0] = np.nan

    return _load_refused(
        c,
        "dna",
        "nan",
        "finite",
        arrays_fn=arrays,
        cmd="score",
        data="x.fa",
        wrong="scored with a NaN model",
    )


@case("load-inf-array", "4", "a model file with +inf emission logits is refused")
def _(c):
    def arrays(a):
        k = _first_key(a, "logits")
        a[k] = np.asarray(a[k]).copy()
        a[k][0, 0] = np.inf

    return _load_refused(c, "dna", "inf", "finite", arrays_fn=arrays, cmd="score", data="x.fa")


@case("load-api-nan", "4", "lsgm.load_model of a NaN model raises")
def _(c):
    from lsgm.models.serialization import load_model

    def arrays(a):
        k = _first_key(a, "initial_logits")
        a[k] = np.full_like(np.asarray(a[k]), np.nan)

    tamper(c.fx.model("dna"), c.p("t.lsgm"), arrays_fn=arrays)
    return api_refused(c.api(lambda: load_model(c.p("t.lsgm"))), "t.lsgm", wrong="loaded")


@case(
    "meta-num-states-huge", "4", "tampered num_states 200000: refused before allocating", quick=True
)
def _(c):
    tamper(c.fx.model("dna"), c.p("t.lsgm"), lambda m: m.update(num_states=200000))
    r = limited(c, "info", "t.lsgm")
    if r.rc is None:
        return "unclear", "timed out (allocating?)"
    return refused(r, "t.lsgm", "num_states", "200000", forbid=("memory",))


@case("meta-num-states-mismatch", "4", "tampered num_states 3 with 2-state arrays is refused")
def _(c):
    return _load_refused(c, "dna", "num_states", "shape", meta_fn=lambda m: m.update(num_states=3))


@case("meta-num-states-negative", "4", "tampered num_states -1 is refused")
def _(c):
    return _load_refused(c, "dna", "num_states", meta_fn=lambda m: m.update(num_states=-1))


@case("meta-num-states-string", "4", "tampered num_states '2' (a string) is refused or read")
def _(c):
    r_v = _load_refused(c, "dna", "num_states", meta_fn=lambda m: m.update(num_states="2"))
    return ("OK", "accepted the equal value '2'") if r_v[0] == "silent" else r_v


@case("meta-num-states-float", "4", "tampered num_states 2.5 is refused")
def _(c):
    return _load_refused(c, "dna", "num_states", meta_fn=lambda m: m.update(num_states=2.5))


@case("meta-num-states-bool", "4", "tampered num_states true is refused")
def _(c):
    return _load_refused(c, "dna", "num_states", meta_fn=lambda m: m.update(num_states=True))


@case("meta-num-symbols-mismatch", "4", "tampered num_symbols 40 with [2, 4] arrays is refused")
def _(c):
    return _load_refused(
        c, "dna", "num_symbols", "shape", meta_fn=lambda m: m["emission"].update(num_symbols=40)
    )


@case("meta-num-symbols-huge", "4", "tampered num_symbols 10**12 is refused quickly")
def _(c):
    tamper(c.fx.model("dna"), c.p("t.lsgm"), lambda m: m["emission"].update(num_symbols=10**12))
    r = limited(c, "info", "t.lsgm")
    if r.rc is None:
        return "unclear", "timed out (allocating?)"
    return refused(r, "t.lsgm", "num_symbols", forbid=("memory",))


@case("meta-family-swap", "4", "tampered emission family poisson over categorical arrays")
def _(c):
    def meta(m):
        m["emission"] = {"family": "poisson", "dim": 4}

    return _load_refused(c, "dna", "poisson", "emission", meta_fn=meta)


@case("meta-family-unknown", "4", "tampered emission family 'evil' is refused naming it")
def _(c):
    return _load_refused(c, "dna", "evil", meta_fn=lambda m: m["emission"].update(family="evil"))


@case("meta-emission-missing", "4", "model file without an emission entry is refused")
def _(c):
    return _load_refused(c, "dna", "emission", meta_fn=lambda m: m.pop("emission"))


@case("meta-kind-lsgm", "4", "tampered kind LSGM over HMM arrays is refused")
def _(c):
    return _load_refused(
        c, "dna", "LSGM", "kind", "arrays", meta_fn=lambda m: m.update(kind="LSGM")
    )


@case("meta-kind-unknown", "4", "tampered kind 'Evil' is refused naming it")
def _(c):
    return _load_refused(c, "dna", "Evil", meta_fn=lambda m: m.update(kind="Evil"))


@case("meta-lsgm-hidden-negative", "4", "tampered LSGM hidden_size -1 is refused")
def _(c):
    return _load_refused(
        c, "lsgm", "hidden_size", meta_fn=lambda m: m["settings"].update(hidden_size=-1)
    )


@case("meta-lsgm-unknown-setting", "4", "tampered LSGM setting 'evil' is refused naming it")
def _(c):
    return _load_refused(c, "lsgm", "evil", meta_fn=lambda m: m["settings"].update(evil=1))


@case("meta-variance-floor-nan", "4", "tampered Gaussian variance_floor NaN is refused")
def _(c):
    return _load_refused(
        c,
        "gauss",
        "variance_floor",
        meta_fn=lambda m: m["emission"].update(variance_floor=float("nan")),
    )


@case("meta-covariance-unknown", "4", "tampered covariance 'evil' is refused")
def _(c):
    return _load_refused(
        c, "gauss", "evil", "covariance", meta_fn=lambda m: m["emission"].update(covariance="evil")
    )


@case("meta-format-version", "holds", "format_version 2 is refused with the version numbers")
def _(c):
    return _load_refused(c, "dna", "version", meta_fn=lambda m: m.update(format_version=2))


@case("meta-format-other", "holds", "format 'lsgm-checkpoint' (not a model) is refused")
def _(c):
    return _load_refused(c, "dna", "format", meta_fn=lambda m: m.update(format="x"))


@case("meta-not-dict", "7", "metadata that is a JSON list is refused naming the file")
def _(c):
    return _load_refused(c, "dna", raw_meta="[1, 2, 3]", rehash=False)


@case("meta-not-json", "7", "metadata that is not JSON is refused naming the file")
def _(c):
    return _load_refused(c, "dna", raw_meta="{not json", rehash=False)


@case(
    "meta-deep-nesting",
    "7",
    "metadata JSON nested 100000 deep: a message, no RecursionError",
    quick=True,
)
def _(c):
    return _load_refused(
        c, "dna", raw_meta='{"a": ' + "[" * 100000 + "]" * 100000 + "}", rehash=False
    )


@case("meta-huge-number", "4", "metadata num_symbols 1e400 (parses as inf) is refused")
def _(c):
    def meta(m):
        m["emission"]["num_symbols"] = float("inf")

    tamper(c.fx.model("dna"), c.p("t.lsgm"), meta, text_fn=lambda t: t.replace("Infinity", "1e400"))
    return refused(c.cli("info", "t.lsgm"), "t.lsgm", "num_symbols", forbid=("checksum",))


@case("checksum-flip", "holds", "a flipped byte in a model array is refused (checksum)", quick=True)
def _(c):
    def arrays(a):
        k = _first_key(a, "logits")
        a[k] = np.asarray(a[k]).copy()
        a[k].view(np.uint8)[0] ^= 1

    return _load_refused(c, "dna", "checksum", "corrupt", arrays_fn=arrays, rehash=False)


@case("array-shape-tampered", "4", "an array of another shape (rehashed) is refused")
def _(c):
    def arrays(a):
        k = _first_key(a, "transition_logits")
        a[k] = np.zeros((3, 3), np.float32)

    return _load_refused(c, "dna", "transition", "shape", arrays_fn=arrays)


@case("array-dtype-tampered", "4", "a float64 array where float32 is stored is refused or cast")
def _(c):
    def arrays(a):
        k = _first_key(a, "transition_logits")
        a[k] = np.asarray(a[k]).astype(np.float64)

    v, d = _load_refused(c, "dna", "dtype", "float64", arrays_fn=arrays)
    return ("OK", "cast on load") if v == "silent" else (v, d)


@case("array-int-tampered", "4", "an int array in place of float logits is refused or cast")
def _(c):
    def arrays(a):
        k = _first_key(a, "transition_logits")
        a[k] = np.zeros((2, 2), np.int64)

    v, d = _load_refused(c, "dna", "dtype", "int", arrays_fn=arrays)
    return ("OK", "cast on load") if v == "silent" else (v, d)


@case("array-mask-all-false", "4", "a transition mask with no allowed move is refused")
def _(c):
    def arrays(a):
        k = _first_key(a, "transition_mask")
        a[k] = np.zeros((2, 2), bool)

    return _load_refused(
        c,
        "dna",
        "transition",
        "mask",
        arrays_fn=arrays,
        cmd="score",
        data="x.fa",
        wrong="scored with no allowed transition",
    )


@case("array-missing", "4", "a model file missing an array is refused naming it")
def _(c):
    return _load_refused(
        c, "dna", "initial_logits", arrays_fn=lambda a: a.pop(_first_key(a, "initial_logits"))
    )


@case("array-extra", "4", "a model file with an extra array is refused naming it")
def _(c):
    return _load_refused(c, "dna", "evil", arrays_fn=lambda a: a.update(evil=np.zeros(3)))


@case("model-truncated", "holds", "a truncated model file is refused naming it")
def _(c):
    c.write("t.lsgm", c.fx.model("dna").read_bytes()[:100])
    return refused(c.cli("info", "t.lsgm"), "t.lsgm")


@case("model-empty", "holds", "an empty model file is refused naming it")
def _(c):
    c.write("t.lsgm", b"")
    return refused(c.cli("info", "t.lsgm"), "t.lsgm")


@case("model-random", "holds", "random bytes as a model file are refused naming it")
def _(c):
    c.write("t.lsgm", np.random.default_rng(0).bytes(500))
    return refused(c.cli("info", "t.lsgm"), "t.lsgm")


@case("model-pickle", "holds", "a pickle as a model file is refused, never unpickled")
def _(c):
    import pickle

    marker = c.p("PWNED")

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    c.write("t.lsgm", pickle.dumps(Evil()))
    verdict, detail = refused(c.cli("info", "t.lsgm"), "t.lsgm")
    return ("silent", "the pickle ran") if marker.exists() else (verdict, detail)


@case("model-checkpoint", "holds", "a training checkpoint passed as a model is refused")
def _(c):
    from lsgm.training.checkpoint import save_checkpoint

    save_checkpoint(c.p("t.lsgm"), {"a": np.zeros(2)}, {"epoch": 1})
    return refused(c.cli("info", "t.lsgm"), "t.lsgm")


@case("roundtrip-exact", "holds", "save_model/load_model round-trips bit-exactly")
def _(c):
    import jax

    from lsgm.models.serialization import load_model, save_model

    m = _load(c, "lsgm")
    save_model(c.p("a.lsgm"), m, {"x": 1})
    m2, info = load_model(c.p("a.lsgm"))
    same = all(
        np.array_equal(np.asarray(a), np.asarray(b))
        for a, b in zip(jax.tree.leaves(m), jax.tree.leaves(m2), strict=True)
    )
    return ("OK", "bit-exact") if same and info == {"x": 1} else ("silent", "round trip differs")


# ============================================ class 7: hostile "info" metadata fields
def _info(c, mutate, *needles, cmd=("info",), kind="dna"):
    def meta(m):
        mutate(m["info"])

    tamper(c.fx.model(kind), c.p("t.lsgm"), meta)
    argv = [cmd[0], "t.lsgm", *cmd[1:]]
    if len(cmd) > 1 and cmd[1].endswith(".fa"):
        c.write(cmd[1], ">s\nACGTAC\n")
    return refused(c.cli(*argv), "t.lsgm", *needles)


@case("info-state-names-short", "7", "state_names shorter than K in a model file", quick=True)
def _(c):
    return _info(
        c,
        lambda i: i.update(state_names=["only"]),
        "state_names",
        cmd=("decode", "x.fa", "-o", "d.tsv"),
    )


@case("info-state-names-dup", "7", "duplicate state_names in a model file")
def _(c):
    return _info(c, lambda i: i.update(state_names=["a", "a"]), "state_names")


@case("info-state-names-type", "7", "state_names of integers in a model file")
def _(c):
    return _info(c, lambda i: i.update(state_names=[1, 2]), "state_names")


@case("info-not-dict", "7", "info that is a string")
def _(c):
    return _load_refused(c, "dna", "info", meta_fn=lambda m: m.update(info="oops"))


@case("info-input-not-dict", "7", "info.input that is a number")
def _(c):
    return _info(c, lambda i: i.update(input=5), "input")


@case("info-input-kind-unknown", "7", "info.input.kind 'video'")
def _(c):
    return _info(c, lambda i: i["input"].update(kind="video"), "video", cmd=("score", "x.fa"))


@case("info-alphabet-dup", "7", "info.input.alphabet 'AACG' (duplicate letters)")
def _(c):
    return _info(c, lambda i: i["input"].update(alphabet="AACG"), "alphabet", cmd=("score", "x.fa"))


@case("info-alphabet-size", "7", "info.input.alphabet of 2 letters for a 4-symbol model")
def _(c):
    return _info(c, lambda i: i["input"].update(alphabet="AC"), "alphabet", cmd=("score", "x.fa"))


@case("info-alphabet-type", "7", "info.input.alphabet that is a number")
def _(c):
    return _info(c, lambda i: i["input"].update(alphabet=7), "alphabet", cmd=("score", "x.fa"))


@case("info-training-type", "7", "info.training that is a list")
def _(c):
    return _info(c, lambda i: i.update(training=[1, 2]), "training")


@case("info-history-type", "7", "info.training.history that is a string (plot)")
def _(c):
    return _info(
        c,
        lambda i: i.update(training={"history": "x"}),
        "history",
        cmd=("plot", "x.fa", "-o", "pl"),
    )


@case("info-dim-mismatch", "7", "info.input.dim 5 for a 2-feature Gaussian")
def _(c):
    def meta(i):
        i["input"]["dim"] = 5

    tamper(c.fx.model("gauss"), c.p("t.lsgm"), lambda m: meta(m["info"]))
    c.write("x.csv", "x,y\n1,2\n")
    r = c.cli("score", "t.lsgm", "x.csv")
    if r.rc == 0 and not r.tb:
        return "OK", "exit 0: the stored arrays' dim (2) was used, the stale field ignored"
    return refused(r, "t.lsgm", "dim")


# =================================================== class 4: diverged / invalid fits
def _tiny_xs():
    return [np.array([0, 1, 2, 3, 0, 1, 1, 2], np.int32), np.array([3, 3, 2, 1, 0], np.int32)]


@case("fit-gradient-diverges", "4", "fit_gradient with lr 1e30: raises or keeps finite params")
def _(c):
    import jax
    import optax

    from lsgm.training import fit_gradient

    m = _load(c, "dna")
    res = c.api(lambda: fit_gradient(m, _tiny_xs(), optimizer=optax.sgd(1e30), epochs=3))
    if res.exc is not None:
        return api_refused(res, "epoch", "diverge", "finite", "nan")
    finite = all(
        np.isfinite(np.asarray(x)).all()
        for x in jax.tree.leaves(m)
        if np.asarray(x).dtype.kind == "f"
    )
    return ("OK", "finite parameters") if finite else ("silent", "NaN/inf parameters, no error")


@case("fit-gradient-nan-lr", "4", "fit_gradient with optax.sgd(nan) raises")
def _(c):
    import jax
    import optax

    from lsgm.training import fit_gradient

    m = _load(c, "dna")
    res = c.api(lambda: fit_gradient(m, _tiny_xs(), optimizer=optax.sgd(float("nan")), epochs=2))
    if res.exc is not None:
        return api_refused(res, "epoch", "nan", "finite", "diverge")
    finite = all(
        np.isfinite(np.asarray(x)).all()
        for x in jax.tree.leaves(m)
        if np.asarray(x).dtype.kind == "f"
    )
    return ("OK", "finite") if finite else ("silent", "NaN parameters after fit, no error")


@case("fit-em-nan-data", "4", "fit_em on Gaussian data with NaN raises naming the sequence")
def _(c):
    from lsgm.training import fit_em

    m = _load(c, "gauss")
    x = np.array([[0, 0], [1, np.nan], [2, 2]], np.float32)
    return api_refused(c.api(lambda: fit_em(m, [x], max_iter=2)), "sequence", "nan")


@case(
    "fit-em-impossible-data",
    "2",
    "fit_em (no re-init) of a model that gives data probability 0 raises naming the sequence",
)
def _(c):
    from lsgm.training import fit_em

    m = _load(c, "imp")
    res = c.api(lambda: fit_em(m, [_i(0, 1, 0), _i(0, 3)], max_iter=2, init=False))
    return api_refused(res, "sequence 1", "position", "impossible", wrong="fitted")


@case("hmm-from-probs-nan", "holds", "HMM.from_probs with a NaN transition raises")
def _(c):
    from lsgm.distributions import Categorical
    from lsgm.models import HMM

    e = Categorical.from_probs([[0.5, 0.5], [0.5, 0.5]])
    return api_refused(
        c.api(lambda: HMM.from_probs([0.5, 0.5], [[np.nan, 1], [0.5, 0.5]], e)), "transition"
    )


@case("categorical-from-probs-bad", "holds", "Categorical.from_probs rows not summing to 1")
def _(c):
    from lsgm.distributions import Categorical

    return api_refused(c.api(lambda: Categorical.from_probs([[0.5, 0.6]])), "probs")


@case("poisson-negative-rate", "4", "Poisson.from_rates with a negative rate raises")
def _(c):
    from lsgm.distributions import Poisson

    return api_refused(c.api(lambda: Poisson.from_rates(np.array([[-1.0]]))), "rate", "-1")


@case("gaussian-nan-mean", "4", "Gaussian.from_params with NaN means raises")
def _(c):
    from lsgm.distributions import Gaussian

    res = c.api(lambda: Gaussian.from_params(np.array([[np.nan]]), np.ones((1, 1))))
    return api_refused(res, "mean", "nan", "finite")


@case("gaussian-zero-variance", "4", "Gaussian.from_params with variance 0 / -1 raises")
def _(c):
    from lsgm.distributions import Gaussian

    res = c.api(lambda: Gaussian.from_params(np.zeros((1, 1)), -np.ones((1, 1))))
    return api_refused(res, "covar", "variance", "-1", "positive")


@case("score-api-nan-data", "7", "model.score_samples of NaN Gaussian data raises naming it")
def _(c):
    m = _load(c, "gauss")
    x = np.array([[0, 0], [np.nan, 1]], np.float32)
    return api_refused(c.api(lambda: m.score_samples([x])), "sequence 0", "nan", "position")


@case("score-samples-empty-list", "7", "score_samples([]) raises a clear error")
def _(c):
    m = _load(c, "dna")
    return api_refused(c.api(lambda: m.score_samples([])), "sequence", "empty", "no ")
