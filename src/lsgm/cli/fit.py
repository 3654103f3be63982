"""``lsgm fit``: build an HMM or LSGM, train it on data files, write a model file."""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

from lsgm.cli.common import (
    add_output_options,
    check_alphabet,
    check_names,
    check_resume,
    convergence_line,
    emit,
    fit_status,
    message,
    positive_int,
    select_inputs,
    strict_float,
    strict_int,
)
from lsgm.cli.inputs import (
    InputSpec,
    add_selection_options,
    check_input_file,
    check_records,
    cut,
    input_kind,
    prepare,
    read_inputs,
)
from lsgm.data import check_output

#: Suffixes of the model files ``lsgm fit`` writes.
MODEL_SUFFIXES = (".lsgm",)

#: The emission families that ship with lsgm, named in ``lsgm fit --help`` without importing
#: them (a test checks that this is :func:`lsgm.distributions.registry.family_names`); any
#: registered family is accepted (:func:`emission_family`).
BUILTIN_FAMILIES = ("bernoulli", "categorical", "gaussian", "gmm", "poisson")

#: The emission family of each input kind when ``--emission`` is not given (any registered
#: family may be chosen for tables and piano rolls; sequences need the categorical).
DEFAULT_EMISSION = {"sequence": "categorical", "pianoroll": "bernoulli", "table": "gaussian"}


def register(sub) -> None:
    p = sub.add_parser(
        "fit",
        help="train an HMM or LSGM on data files and write a model file",
        description="Train an HMM (Baum-Welch, gradient or supervised counting) or an LSGM "
        "(gradient) on FASTA/FASTQ, piano-roll/MIDI or numeric table files.",
    )
    p.add_argument(
        "data",
        nargs="+",
        help="training files (FASTA/FASTQ[.gz], .mat/.json/.mid, .npy/.npz/.csv/.tsv)",
    )
    p.add_argument("-o", "--output", required=True, help="model file to write (NAME.lsgm)")
    g = p.add_argument_group("model")
    g.add_argument(
        "--model",
        choices=["hmm", "lsgm"],
        default="hmm",
        help="an HMM, or an LSGM (RNN-conditioned)",
    )
    g.add_argument(
        "--states",
        type=strict_int,
        default=None,
        help="number of hidden states K (default: the number of label letters with --labels, "
        "else 2)",
    )
    g.add_argument(
        "--emission",
        type=emission_family,
        metavar="FAMILY",
        help=f"emission family: {', '.join(BUILTIN_FAMILIES)} or a registered plug-in "
        "(default: categorical for sequences, bernoulli for piano rolls, gaussian for tables)",
    )
    g.add_argument(
        "--covariance",
        choices=["diag", "full", "spherical", "tied"],
        default="diag",
        help="gaussian/gmm covariance (default diag)",
    )
    g.add_argument(
        "--components", type=strict_int, default=2, help="mixture components (gmm; default 2)"
    )
    g.add_argument(
        "--state-names",
        help="comma-separated names of the states, unique (default: the label letters with "
        "--labels, else state0, state1, ...)",
    )
    l = p.add_argument_group("LSGM")
    l.add_argument("--rnn", choices=["gru", "lstm"], default="gru", help="recurrent cell")
    l.add_argument("--hidden-size", type=strict_int, default=32, help="RNN units per layer")
    l.add_argument("--num-layers", type=strict_int, default=1, help="RNN layers")
    l.add_argument("--dense-layers", type=strict_int, default=0, help="dense layers after the RNN")
    l.add_argument(
        "--order",
        type=strict_int,
        choices=[0, 1],
        default=1,
        help="transition order: 1 (from each state) or 0 (the next state's distribution "
        "depends on the RNN only)",
    )
    l.add_argument(
        "--conditioning",
        choices=["full", "transitions", "emissions", "none"],
        default="full",
        help="which potentials the RNN conditions",
    )
    l.add_argument(
        "--emission-network",
        choices=["shared", "per_state"],
        default="shared",
        help="one network over [h; state embedding], or one network per state",
    )
    l.add_argument(
        "--embedding-dim", type=strict_int, default=16, help="state embedding size (shared)"
    )
    l.add_argument("--dropout", type=strict_float, default=0.0, help="dropout rate")
    l.add_argument(
        "--init",
        choices=["hmm", "random"],
        default="hmm",
        help="start the LSGM at an HMM fitted first (by counting with --labels, else "
        "20 EM iterations), exactly (LSGM.from_hmm); or at random weights",
    )
    d = p.add_argument_group("data")
    d.add_argument(
        "--alphabet",
        default="ACGT",
        help="sequence symbols in index order, each once (default ACGT)",
    )
    d.add_argument(
        "--ambiguous",
        choices=["error", "soft"],
        default="error",
        help="IUPAC codes such as N: an error, or soft observations",
    )
    d.add_argument(
        "--quality",
        choices=["ignore", "soft"],
        default="ignore",
        help="FASTQ Phred qualities: ignored, or soft observations",
    )
    d.add_argument("--reverse-complement", action="store_true", help="read the reverse strand")
    d.add_argument(
        "--split", default=None, help="piano-roll split to read (default: train; MIDI files: all)"
    )
    add_selection_options(d)
    d.add_argument(
        "--labels",
        help="per-position states for supervised fitting: a FASTA of state letters (one record "
        "per data record), or annotations (GFF3 .gff/.gff3 or .bed, gzip ok) whose --feature "
        "bases become state FEATURE and all others state 'background'",
    )
    d.add_argument(
        "--feature",
        help="with GFF3/BED --labels: the GFF3 column-3 type (default: CDS) or the BED name "
        "(default: every interval) that is labelled; comma-separated for several",
    )
    d.add_argument(
        "--sources",
        help="with GFF3 --labels: comma-separated column-2 sources to use, e.g. the curated "
        "gene models (default: every source)",
    )
    d.add_argument("--validation", nargs="+", help="validation files (gradient training only)")
    t = p.add_argument_group("training")
    t.add_argument(
        "--trainer",
        choices=["em", "gradient", "supervised"],
        help="default: gradient for LSGMs (on the labels' joint likelihood with "
        "--labels); supervised with --labels, else em, for HMMs",
    )
    t.add_argument("--max-iter", type=strict_int, default=100, help="EM iterations (default 100)")
    t.add_argument(
        "--tol", type=strict_float, default=1e-4, help="EM convergence tolerance (default 1e-4)"
    )
    t.add_argument("--n-init", type=strict_int, default=1, help="EM random restarts (default 1)")
    t.add_argument("--epochs", type=strict_int, default=20, help="gradient-training epochs")
    t.add_argument("--batch-size", type=strict_int, default=16, help="sequences per gradient step")
    t.add_argument("--learning-rate", type=strict_float, default=1e-2, help="Adam learning rate")
    t.add_argument("--clip-norm", type=strict_float, default=1.0, help="gradient-norm clipping")
    t.add_argument(
        "--patience",
        type=strict_int,
        default=None,
        help="early-stopping patience in epochs (gradient training with --validation; "
        "default: none)",
    )
    t.add_argument(
        "--entropy-epochs", type=strict_int, default=0, help="entropy-regularised epochs"
    )
    t.add_argument(
        "--pseudocount", type=strict_float, default=1.0, help="supervised pseudocount (default 1)"
    )
    t.add_argument("--checkpoint-dir", help="write a checkpoint there after every iteration/epoch")
    t.add_argument("--resume", action="store_true", help="continue from --checkpoint-dir")
    add_output_options(p)
    p.set_defaults(run=run, defaults={a.dest: a.default for a in p._actions})


def emission_family(text: str) -> str:
    """An argparse ``type``: the name of a registered emission family (the registry, and with
    it JAX, is imported only when ``--emission`` is given)."""
    from lsgm.distributions import registry

    names = registry.family_names()
    if text not in names:
        raise argparse.ArgumentTypeError(f"{text!r} is not an emission family; known: {names}")
    return text


def read_labels(path, names: list[str], lengths: list[int], alphabet: str | None):
    """Per-record state indices from a FASTA of label letters matching the data records.

    Returns ``(labels, alphabet)``: one int32 ``[T_i]`` array per record; state ``k`` is the
    ``k``-th letter of ``alphabet`` (default: the sorted distinct letters of the file).
    """
    from Bio import SeqIO

    from lsgm.data import decode_error_message, open_text

    path = check_input_file(path, "labels file")
    try:
        with open_text(path) as handle:
            if handle.read(1) != ">":
                raise ValueError(f"{path}: line 1 must start a FASTA record ('>').")
        with open_text(path) as handle:
            records = [(r.id, str(r.seq)) for r in SeqIO.parse(handle, "fasta")]
    except UnicodeDecodeError as err:
        raise ValueError(decode_error_message(path, err)) from err
    except (EOFError, OSError) as err:
        raise ValueError(f"{path}: cannot read the labels file ({err}).") from err
    if len(records) != len(names):
        raise ValueError(
            f"{path}: {len(records)} label records for {len(names)} data records; give one "
            "label record per sequence, in the same order."
        )
    letters = alphabet or "".join(sorted({c for _, s in records for c in s}))
    index = {c: i for i, c in enumerate(letters)}
    labels = []
    for number, ((rid, text), name, n) in enumerate(zip(records, names, lengths, strict=True), 1):
        where = f"{path}: record {number} ({rid})"
        if rid != name.removesuffix("(-)"):
            raise ValueError(f"{where}: its name differs from the data record {name!r}.")
        if len(text) != n:
            raise ValueError(f"{where}: {len(text)} labels for a sequence of {n} symbols.")
        bad = next((i for i, c in enumerate(text) if c not in index), None)
        if bad is not None:
            raise ValueError(
                f"{where}, position {bad + 1}: label {text[bad]!r} is not one of {letters!r}."
            )
        labels.append(np.fromiter((index[c] for c in text), np.int32, len(text)))
    return labels, letters


#: Suffixes of annotation files ``--labels`` reads as GFF3 or BED (gzip allowed).
ANNOTATION_SUFFIXES = {".gff": "gff3", ".gff3": "gff3", ".bed": "bed"}


def annotation_kind(path) -> str | None:
    """``"gff3"`` or ``"bed"`` from the file name (``.gz`` ignored), else ``None``."""
    name = str(path).lower().removesuffix(".gz")
    return next((v for k, v in ANNOTATION_SUFFIXES.items() if name.endswith(k)), None)


def annotation_labels(path, data, feature: str | None, sources: str | None):
    """Per-base labels of the records ``data`` from a GFF3 or BED annotation.

    A base covered by a kept feature (GFF3: column 3 in ``feature``, default ``CDS``, and
    column 2 in ``sources``, default any; BED: name in ``feature``, default any interval) is
    ``1``, every other base ``0``: ``(labels [T_i] int32 per record, ["background",
    FEATURE])``. Coordinates are the records' own (``data.offsets`` for ``--region``s). A
    record with no kept feature is refused (it would be trained on as all background), naming
    it and the sources it has (:func:`lsgm.data.check_annotated`).
    """
    from lsgm.data import check_annotated, intervals_to_features, read_bed, read_gff

    path = check_input_file(path, "annotation file")
    types = None if feature is None else [t.strip() for t in feature.split(",") if t.strip()]
    chosen = None if sources is None else {t.strip() for t in sources.split(",") if t.strip()}
    if annotation_kind(path) == "gff3":
        types = types or ["CDS"]
        features = read_gff(path)
    else:
        intervals = read_bed(path)
        kept = [iv for iv in intervals if types is None or iv.name in types]
        features = intervals_to_features(kept, source="BED", feature_type="interval")
        types, chosen = ["interval"], None
    check_annotated(
        features,
        list(dict.fromkeys(data.chroms)),
        sources=chosen,
        types=types,
        where=str(path),
        fix="pass --feature / --sources that the file has, or leave those records out "
        "(--records, --region)",
    )
    spans: dict[str, list[tuple[int, int]]] = {}
    for f in features:
        if f.type in types and (chosen is None or f.source in chosen):
            spans.setdefault(f.seqid, []).append((f.start - 1, f.end))
    labels = []
    for chrom, offset, x in zip(data.chroms, data.offsets, data.xs, strict=True):
        mask = np.zeros(len(x), np.int32)
        for a, b in spans.get(chrom, ()):
            mask[max(a - offset, 0) : max(b - offset, 0)] = 1
        labels.append(mask)
    if not any(m.any() for m in labels):
        raise ValueError(
            f"{path}: no {'/'.join(types)} feature overlaps the bases read (--region?); "
            "choose regions that hold some."
        )
    name = "/".join(types) if types != ["interval"] else (feature or "feature")
    return labels, ["background", name]


def _spec(args, kind: str) -> InputSpec:
    split = args.split
    if split is None and kind == "pianoroll":  # .mat/.json benchmarks: train; MIDI: "all"
        split = None if str(args.data[0]).lower().endswith((".mid", ".midi")) else "train"
    return InputSpec(
        kind=kind,
        alphabet=check_alphabet(args.alphabet),
        ambiguous=args.ambiguous,
        quality=args.quality,
        soft=args.ambiguous == "soft" or args.quality == "soft",
        reverse_complement=args.reverse_complement,
        split=split,
    )


def _option(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def _emission_config(args, family: str, K: int, xs, spec: InputSpec) -> dict:
    """The emission's configuration from the data and the options its family reads
    (``config_from_data`` and ``cli_options`` of the registered family)."""
    from lsgm.distributions import registry
    from lsgm.models import family_of

    cls = registry.family(family)
    options = {dest: getattr(args, dest) for dest in cls.cli_options}
    for dest, value in options.items():
        if isinstance(value, int):
            positive_int(_option(dest), value)
    num_symbols = len(spec.alphabet) if spec.kind == "sequence" else None
    config = cls.config_from_data(xs, options, num_symbols)
    if args.model == "lsgm":
        try:
            family_of(cls(K, **config, rngs=None))
        except ValueError as err:
            raise ValueError(f"{err} Use --model hmm for this emission.") from err
    return {"family": family, **config}


def _model_config(args, family: str, K: int, xs, spec: InputSpec) -> dict:
    emission = _emission_config(args, family, K, xs, spec)
    settings = {}
    if args.model == "lsgm":
        settings = {
            "rnn": args.rnn,
            "hidden_size": positive_int("--hidden-size", args.hidden_size),
            "num_layers": positive_int("--num-layers", args.num_layers),
            "dense_layers": args.dense_layers,
            "order": args.order,
            "conditioning": args.conditioning,
            "emission_network": args.emission_network,
            "embedding_dim": positive_int("--embedding-dim", args.embedding_dim),
            "dropout": args.dropout,
        }
    return {"kind": args.model.upper(), "num_states": K, "emission": emission, "settings": settings}


def _inputs(args) -> list:
    return [*args.data, args.labels, *(args.validation or [])]


def run(args) -> int:
    from flax import nnx

    from lsgm.models import build_model, save_model

    check_resume(args)
    out = check_output(args.output, _inputs(args), MODEL_SUFFIXES, what="model file")
    if args.checkpoint_dir:
        check_output(args.checkpoint_dir, _inputs(args), folder=True, what="checkpoint folder")
    if args.states is not None:
        positive_int("--states", args.states)
    kind = input_kind(args.data[0])
    spec = _spec(args, kind)
    family = args.emission or DEFAULT_EMISSION[kind]
    if kind == "sequence" and family != "categorical":
        raise ValueError(f"sequence files need --emission categorical; got {family}.")
    if args.state_names is not None:
        _split_names(args.state_names)  # unique, non-empty: checked before any work
    trainer = args.trainer or (
        "gradient" if args.model == "lsgm" else ("supervised" if args.labels else "em")
    )
    _check_scoped_options(args, kind, family, trainer)
    fastq = (".fq", ".fastq", ".fq.gz", ".fastq.gz")
    if args.quality == "soft" and not any(str(d).lower().endswith(fastq) for d in args.data):
        raise ValueError(
            "--quality soft would be ignored: it reads FASTQ Phred qualities, and no data file "
            "is FASTQ (.fq/.fastq). Drop --quality."
        )
    if args.validation and trainer != "gradient":
        raise ValueError(
            f"--validation is used by gradient training only; the trainer is {trainer}. "
            "Pass --trainer gradient, or drop --validation."
        )
    if args.patience is not None and not args.validation:
        raise ValueError("--patience (early stopping) needs --validation FILE...")
    annotations = bool(args.labels) and annotation_kind(args.labels) is not None
    if (args.feature or args.sources) and not annotations:
        option = "--feature" if args.feature else "--sources"
        raise ValueError(
            f"{option} would be ignored: it chooses the annotations of GFF3/BED --labels. Drop "
            f"{option}, or pass --labels FILE.gff3 (or .bed)."
        )
    if annotations and kind != "sequence":
        raise ValueError(
            f"--labels {args.labels}: annotations label bases of FASTA records; the data are "
            f"{kind} files. Use a FASTA of state letters per record instead."
        )
    data = read_inputs(args.data, spec)
    labels, label_letters = None, None
    if args.labels and not annotations:
        lengths = [len(x) for x in data.xs]
        labels, label_letters = read_labels(args.labels, data.names, lengths, None)
    data, picks = select_inputs(data, spec, args)
    labels = None if labels is None else cut(labels, picks)
    if annotations:
        labels, label_letters = annotation_labels(args.labels, data, args.feature, args.sources)
    xs = prepare(data, spec, family, None, "the model")
    if labels is None and trainer == "supervised":
        raise ValueError("--trainer supervised needs --labels FILE (per-position state letters).")
    K = args.states or (len(label_letters) if label_letters else 2)
    if label_letters and len(label_letters) > K:
        raise ValueError(
            f"{args.labels}: {len(label_letters)} label letters ({label_letters!r}) but --states "
            f"is {K}; use at least as many states as labels."
        )
    if args.model == "lsgm" and trainer != "gradient":
        raise ValueError(f"an LSGM is trained by --trainer gradient, not {trainer}.")
    _check_memory(args, K, xs)
    names = _state_names(args, K, label_letters)
    config = _model_config(args, family, K, xs, spec)
    model = build_model(config, nnx.Rngs(args.seed))
    check_records(model.emission, data, xs)
    if args.model == "lsgm" and args.init == "hmm":
        model = _lsgm_from_hmm(args, config, xs, labels)
    message(
        args,
        f"fitting a {K}-state {config['kind']} ({family}) on {len(xs)} sequences, "
        f"{data.num_steps} steps, trainer {trainer}",
    )
    start = time.perf_counter()
    history = _train(args, trainer, model, xs, labels, spec, family)
    seconds = time.perf_counter() - start
    info = {
        "input": spec.to_dict() | {"dim": config["emission"].get("dim")},
        "state_names": names,
        "training": {
            "trainer": trainer,
            "data": [str(p) for p in args.data],
            "num_sequences": len(xs),
            "num_steps": data.num_steps,
            "seconds": round(seconds, 3),
            "history": history,
            **fit_status(history),
        },
    }
    log_l = float(model.score(xs))
    save_model(out, model, info)
    result = {
        "model": str(out),
        "kind": config["kind"],
        "num_states": K,
        "emission": family,
        "trainer": trainer,
        "n_parameters": model.n_parameters(),
        "log_likelihood": log_l,
        "log_likelihood_per_step": log_l / data.num_steps,
        "seconds": seconds,
        **fit_status(history),
        "history": history,
    }
    warning = convergence_line(fit_status(history), args.tol)
    if warning:
        print(f"lsgm fit: warning: {warning}", file=sys.stderr)
    emit(
        args,
        result,
        [
            f"wrote {out}: {config['kind']} with {K} states, {model.n_parameters()} parameters",
            f"training log-likelihood {log_l:.4f} ({log_l / data.num_steps:.4f} per step), "
            f"{seconds:.1f} s",
        ],
    )
    return 0


#: Options that only act in some configurations: (dest, option, applies(args, kind, family,
#: trainer), what it needs). Given (away from its default) where it does not act, an option
#: is an error, never silently ignored.
_SCOPED = [
    *[
        (dest, _option(dest), lambda a, k, f, t: a.model == "lsgm", "--model lsgm")
        for dest in (
            "rnn",
            "hidden_size",
            "num_layers",
            "dense_layers",
            "order",
            "conditioning",
            "emission_network",
            "embedding_dim",
            "dropout",
            "init",
        )
    ],
    *[
        (dest, _option(dest), lambda a, k, f, t: t == "em", "--trainer em")
        for dest in ("max_iter", "tol", "n_init")
    ],
    *[
        (
            dest,
            _option(dest),
            lambda a, k, f, t: t == "gradient",
            "--trainer gradient",
        )
        for dest in ("epochs", "batch_size", "learning_rate", "clip_norm", "entropy_epochs")
    ],
    ("pseudocount", "--pseudocount", lambda a, k, f, t: bool(a.labels), "--labels"),
    *[
        (
            dest,
            _option(dest),
            lambda a, k, f, t: k == "sequence",
            "FASTA/FASTQ data",
        )
        for dest in ("alphabet", "ambiguous", "quality", "reverse_complement")
    ],
    ("split", "--split", lambda a, k, f, t: k == "pianoroll", "piano-roll data (.mat/.json)"),
]


def _family_scopes() -> list:
    """:data:`_SCOPED` entries of the options that emission families read (their
    ``cli_options``, e.g. ``--covariance`` for gaussian and gmm)."""
    from lsgm.distributions import registry

    families = registry.families()
    dests = dict.fromkeys(d for cls in families.values() for d in cls.cli_options)
    return [
        (
            dest,
            _option(dest),
            lambda a, k, f, t, dest=dest: dest in registry.family(f).cli_options,
            "--emission " + " or ".join(n for n, c in families.items() if dest in c.cli_options),
        )
        for dest in dests
    ]


def _check_scoped_options(args, kind: str, family: str, trainer: str) -> None:
    """Refuse an option that would be ignored in this configuration (see :data:`_SCOPED`)."""
    defaults = getattr(args, "defaults", {})
    for dest, option, applies, needs in [*_family_scopes(), *_SCOPED]:
        given = dest in defaults and getattr(args, dest) != defaults[dest]
        if given and not applies(args, kind, family, trainer):
            raise ValueError(
                f"{option} {getattr(args, dest)!r} would be ignored: it acts only with {needs}. "
                f"Drop {option}, or fit a model it applies to."
            )


def _check_memory(args, K: int, xs) -> None:
    """Refuse, before any allocation, a model whose inference tables cannot fit in this
    machine's memory: float32 ``[K, K]`` transitions (``[N, T, K, K]`` for an LSGM, whose
    transitions vary in time) and about six ``[N, T, K]`` forward-backward arrays."""
    N, T = len(xs), max(len(x) for x in xs)
    per_step = K * K if args.model == "lsgm" else 6 * K
    need = 4 * (K * K + N * T * per_step)
    try:
        have = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # not on every platform
        return
    if need > have:
        raise ValueError(
            f"--states {K}: inference on {N} sequences of up to {T} steps needs about "
            f"{need / 2**30:.1f} GiB, more than this machine's {have / 2**30:.1f} GiB; use fewer "
            "states (or shorter / fewer sequences)."
        )


def _split_names(text: str) -> list[str]:
    return check_names([n.strip() for n in text.split(",")], f"--state-names {text!r}")


def _state_names(args, K: int, label_letters: str | list[str] | None) -> list[str]:
    if args.state_names is not None:
        names = _split_names(args.state_names)
        if len(names) != K:
            raise ValueError(
                f"--state-names needs {K} non-empty comma-separated names; got "
                f"{args.state_names!r}."
            )
        return names
    if label_letters:
        return list(label_letters) + [f"state{k}" for k in range(len(label_letters), K)]
    return [f"state{k}" for k in range(K)]


def _lsgm_from_hmm(args, config: dict, xs, labels):
    """An LSGM equal to an HMM fitted first: by counting from ``labels``, else by EM."""
    from flax import nnx

    from lsgm.models import LSGM, build_model
    from lsgm.training import fit_em, fit_supervised

    hmm = build_model({**config, "kind": "HMM", "settings": {}}, nnx.Rngs(args.seed))
    if labels is not None:
        fit_supervised(hmm, xs, labels, pseudocount=args.pseudocount)
    else:
        fit_em(hmm, xs, max_iter=20, init=True, seed=args.seed)
    return LSGM.from_hmm(hmm, **config["settings"], rngs=nnx.Rngs(args.seed))


def _train(args, trainer: str, model, xs, labels, spec: InputSpec, family: str) -> dict:
    import optax

    from lsgm.training import fit_em, fit_gradient, fit_supervised

    show = not (args.quiet or args.json)
    if trainer == "supervised":
        fit_supervised(model, xs, labels, pseudocount=args.pseudocount)
        return {}
    if trainer == "em":
        positive_int("--max-iter", args.max_iter)
        positive_int("--n-init", args.n_init)
        _, h = fit_em(
            model,
            xs,
            max_iter=args.max_iter,
            tol=args.tol,
            n_init=args.n_init,
            init=True,
            state_labels=labels,
            seed=args.seed,
            progress_bar=show,
            checkpoint_dir=args.checkpoint_dir,
            resume=args.resume,
        )
        return {"log_likelihood": h.log_likelihoods, "converged": h.converged}
    positive_int("--epochs", args.epochs)
    positive_int("--batch-size", args.batch_size)
    if not args.learning_rate > 0:
        raise ValueError(f"--learning-rate must be > 0; got {args.learning_rate}.")
    validation = None
    if args.validation:
        vdata = read_inputs(args.validation, spec)
        validation = prepare(
            vdata, spec, family, xs[0].shape[1] if xs[0].ndim == 2 else None, "the training data"
        )
    kwargs = {"state_labels": labels} if labels is not None else {}
    _, h = fit_gradient(
        model,
        xs,
        optimizer=optax.adam(args.learning_rate),
        epochs=args.epochs,
        batch_size=min(args.batch_size, len(xs)),
        validation=validation,
        seed=args.seed,
        progress_bar=show,
        clip_norm=args.clip_norm,
        entropy_epochs=args.entropy_epochs,
        patience=args.patience if validation is not None else None,
        checkpoint_dir=args.checkpoint_dir,
        resume=args.resume,
        **kwargs,
    )
    return {"train_nll": h.train_nll, "valid_nll": h.valid_nll, "best_epoch": h.best_epoch}
