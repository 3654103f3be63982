"""Gene-structure segmentation of DNA with a codon-position HMM (exons, introns, both strands).

The model is an :class:`lsgm.HMM` with ``K = 13`` states, ``Categorical(13, 4)`` emissions over
``ACGT`` and a ``transition_mask`` grammar (masked moves are structural zeros through every
fitter). Exon states carry the codon position ``p ∈ {1, 2, 3}`` of the base *in the
transcript's direction*; intron states remember the position of the exon base before them
(``intron p`` follows a base at codon position ``p``), so the reading frame survives introns:
``exon p → intron p → … → exon p+1`` (``3 + 1 = 1``). The sequence is read left to right on
the ``+`` strand, so a reverse-strand gene is met 3' end first and its chain runs backwards.

====  ===========  ===============================================================
 k    state        allowed next states (left-to-right order along the ``+`` strand)
====  ===========  ===============================================================
 0    intergenic   intergenic, exon+1 (start codon), exon-3 (last base of a stop codon)
 1    exon+1       exon+2, intron+1
 2    exon+2       exon+3, intron+2
 3    exon+3       exon+1, intron+3, intergenic (a gene ends after a whole codon)
 4    intron+1     intron+1, exon+2
 5    intron+2     intron+2, exon+3
 6    intron+3     intron+3, exon+1
 7    exon-1       exon-3, intron-3, intergenic (the gene's 5' end: a whole codon)
 8    exon-2       exon-1, intron-1
 9    exon-3       exon-2, intron-2
 10   intron-1     intron-1, exon-1
 11   intron-2     intron-2, exon-2
 12   intron-3     intron-3, exon-3
====  ===========  ===============================================================

On the reverse strand the transcript order ``exon p → intron p → exon p+1`` appears left to
right as ``exon-(p+1) → intron-p → exon-p``. Genes on either strand start and end on codon
boundaries only: e.g. ``exon+1 → intergenic`` (leaving mid-codon) is forbidden.

Training is supervised (:func:`fit_gene_hmm`, counting from annotated state paths built by
:func:`state_paths_from_labels` from GFF3 ``CDS`` features); decoding is Viterbi
(:func:`decode`), exact over whole chromosomes by default (``T × K`` back-pointers: 150 kb ×
13 states is ~8 MB), or over independent chunks (``chunk_size``) where the path is
optimal within each chunk but not across chunk boundaries (the grammar may be broken there).
Per-base exon precision/recall/F1: :func:`exon_scores`; predictions as GFF3/BED:
:func:`predicted_features`, :func:`predicted_exons`. The whole experiment is
:func:`run_gene_structure` (command line: ``lsgm experiment gene-structure --help``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
from flax import nnx

from lsgm.data import (
    EXON,
    INTERGENIC,
    INTRON,
    BaseLabels,
    Feature,
    Interval,
    atomic_write_text,
    check_annotated,
    check_seqids,
    check_writable_dir,
    feature_labels,
    path_to_intervals,
    read_gff,
    read_sequences,
    runs,
    sort_intervals,
    write_bed,
    write_gff,
)
from lsgm.distributions import Categorical, DirichletPrior
from lsgm.models import HMM
from lsgm.training import fit_supervised

#: State names, in index order (see the table in the module docstring).
STATE_NAMES = (
    "intergenic",
    "exon+1",
    "exon+2",
    "exon+3",
    "intron+1",
    "intron+2",
    "intron+3",
    "exon-1",
    "exon-2",
    "exon-3",
    "intron-1",
    "intron-2",
    "intron-3",
)
NUM_STATES = len(STATE_NAMES)
INTERGENIC_STATE = 0
#: ``EXON_STATE[s][p - 1]`` / ``INTRON_STATE[s][p - 1]``: the state of codon position ``p``
#: (or of an intron after position ``p``) on strand ``s`` (``+1`` or ``-1``).
EXON_STATE = {1: (1, 2, 3), -1: (7, 8, 9)}
INTRON_STATE = {1: (4, 5, 6), -1: (10, 11, 12)}

#: Per state: its per-base label (0 intergenic, 1 exon, 2 intron), strand and codon position.
STATE_LABEL = np.array([INTERGENIC] + ([EXON] * 3 + [INTRON] * 3) * 2, np.int8)
STATE_STRAND = np.array([0] + [1] * 6 + [-1] * 6, np.int8)
STATE_POSITION = np.array([0] + [1, 2, 3] * 4, np.int8)

#: Bases per sequence used by ``quick=True`` runs (a prefix of each chromosome).
QUICK_BASES = 30_000


def _next(p: int) -> int:
    return p % 3 + 1


def gene_transition_mask() -> np.ndarray:
    """The ``[13, 13]`` bool grammar of the module docstring (row = from-state)."""
    mask = np.zeros((NUM_STATES, NUM_STATES), bool)
    N = INTERGENIC_STATE
    mask[N, N] = True
    mask[N, EXON_STATE[1][0]] = True  # + gene starts at codon position 1
    mask[N, EXON_STATE[-1][2]] = True  # - gene is met at its 3' end: position 3
    for p in (1, 2, 3):
        ef, inf_ = EXON_STATE[1][p - 1], INTRON_STATE[1][p - 1]
        mask[ef, EXON_STATE[1][_next(p) - 1]] = True
        mask[ef, inf_] = True
        mask[inf_, inf_] = True
        mask[inf_, EXON_STATE[1][_next(p) - 1]] = True
        # reverse strand, left to right: exon-(p+1) -> intron-p -> exon-p; exon-(p+1) -> exon-p
        er_next, ir = EXON_STATE[-1][_next(p) - 1], INTRON_STATE[-1][p - 1]
        mask[er_next, EXON_STATE[-1][p - 1]] = True
        mask[er_next, ir] = True
        mask[ir, ir] = True
        mask[ir, EXON_STATE[-1][p - 1]] = True
    mask[EXON_STATE[1][2], N] = True  # + gene ends after codon position 3
    mask[EXON_STATE[-1][0], N] = True  # - gene's 5' end (position 1) is its leftmost base
    return mask


def gene_hmm(rngs: nnx.Rngs | None = None) -> HMM:
    """A randomly initialised 13-state gene-structure HMM with the grammar mask."""
    rngs = nnx.Rngs(0) if rngs is None else rngs
    emission = Categorical(NUM_STATES, 4, rngs=rngs)
    return HMM(NUM_STATES, emission, rngs=rngs, transition_mask=gene_transition_mask())


# ------------------------------------------------------------------ labels -> state paths
class Locus(NamedTuple):
    """A maximal run ``[start, end)`` (0-based) of non-intergenic bases of one strand;
    ``problem`` says why the grammar cannot express it (None when it can)."""

    start: int
    end: int
    strand: int
    problem: str | None


def _check_labels(labels, strand) -> tuple[np.ndarray, np.ndarray]:
    labels, strand = np.asarray(labels), np.asarray(strand)
    if labels.ndim != 1 or labels.shape != strand.shape:
        raise ValueError(
            f"labels and strand must be 1-D arrays of one length; got {labels.shape} and "
            f"{strand.shape}."
        )
    bad = np.flatnonzero(~np.isin(labels, (INTERGENIC, EXON, INTRON)))
    if bad.size:
        raise ValueError(
            f"labels must be 0 (intergenic), 1 (exon) or 2 (intron); position {bad[0] + 1} "
            f"has {labels[bad[0]]}."
        )
    coding = labels != INTERGENIC
    bad = np.flatnonzero(coding & ~np.isin(strand, (1, -1)) | ~coding & (strand != 0))
    if bad.size:
        t = int(bad[0])
        raise ValueError(
            f"strand must be +1/-1 on exon and intron bases and 0 on intergenic ones; position "
            f"{t + 1} has label {labels[t]} and strand {strand[t]}."
        )
    return labels, strand


def gene_loci(labels, strand) -> list[Locus]:
    """The loci of per-base ``labels``/``strand`` (see :class:`lsgm.data.gff.BaseLabels`)
    and, for each, whether the 13-state grammar can express it: a locus must begin and end
    with exon bases, hold a whole number of codons (coding bases ≡ 0 mod 3), and not touch
    another locus (genes need an intergenic base between them)."""
    labels, strand = _check_labels(labels, strand)
    loci = []
    for start, end, sign in runs(strand):
        if sign == 0:
            continue
        part = labels[start:end]
        problems = []
        if part[0] != EXON or part[-1] != EXON:
            problems.append("does not begin and end with exon bases")
        coding = int((part == EXON).sum())
        if coding % 3:
            problems.append(f"has {coding} coding bases, not a whole number of codons")
        if start > 0 and strand[start - 1] != 0:
            problems.append("touches the locus before it on the other strand")
        loci.append(Locus(start, end, int(sign), "; ".join(problems) or None))
    return loci


def state_paths_from_labels(labels, strand) -> np.ndarray:
    """The state path ``[T]`` (int32) of per-base labels, codon positions counted along each
    locus in the transcript's direction (left to right on ``+``, right to left on ``-``).

    A locus's coding bases get positions ``1, 2, 3, 1, …`` from its 5' end; an intron base
    gets the intron state of the codon position of the exon base before it (5' side).

    Raises:
        ValueError: a locus the grammar cannot express (named by 1-based coordinates, with the
            reason; see :func:`gene_loci`) — exclude it, e.g. by splitting the sequence there
            as :func:`training_pieces` does.
    """
    labels, strand = _check_labels(labels, strand)
    path = np.zeros(labels.shape, np.int32)
    for locus in gene_loci(labels, strand):
        if locus.problem:
            raise ValueError(
                f"the {'+' if locus.strand > 0 else '-'} strand locus at {locus.start + 1}.."
                f"{locus.end} {locus.problem}; the gene grammar cannot express it. Remove it "
                "from the training data (see training_pieces)."
            )
        part = labels[locus.start : locus.end]
        order = np.arange(part.size) if locus.strand > 0 else np.arange(part.size)[::-1]
        ordered = part[order]
        is_exon = ordered == EXON
        position = np.cumsum(is_exon) - 1  # index of the coding base, or of the last one before
        codon = position % 3  # 0-based codon position of that coding base
        exon_states = np.asarray(EXON_STATE[locus.strand])
        intron_states = np.asarray(INTRON_STATE[locus.strand])
        states = np.where(is_exon, exon_states[codon], intron_states[codon])
        path[locus.start + order] = states
    return path


def training_pieces(labels, strand) -> tuple[list[tuple[int, int]], list[Locus]]:
    """Split a sequence around the loci the grammar cannot express.

    Returns ``(pieces, excluded)``: the ``[start, end)`` pieces left after removing every
    problem locus (each piece has a valid state path), and the removed loci.
    """
    loci = gene_loci(labels, strand)
    excluded = [locus for locus in loci if locus.problem]
    pieces, start = [], 0
    for locus in excluded:
        if locus.start > start:
            pieces.append((start, locus.start))
        start = locus.end
    if start < len(labels):
        pieces.append((start, len(labels)))
    return pieces, excluded


def path_to_labels(path) -> BaseLabels:
    """Per-base ``(labels, strand)`` of a state path ``[T]`` (the inverse view of
    :func:`state_paths_from_labels`)."""
    path = np.asarray(path)
    if path.size and (path.min() < 0 or path.max() >= NUM_STATES):
        raise ValueError(f"states must be in [0, {NUM_STATES}); got {path.min()}..{path.max()}.")
    return BaseLabels(STATE_LABEL[path], STATE_STRAND[path])


# --------------------------------------------------------------------------- fit, decode
def _same_kind(seqs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Hard symbols become one-hot rows when any sequence is soft (one batch, one kind)."""
    seqs = [np.asarray(x) for x in seqs]
    if any(x.ndim == 2 for x in seqs):
        eye = np.eye(4, dtype=np.float32)
        return [x.astype(np.float32) if x.ndim == 2 else eye[x] for x in seqs]
    return seqs


def fit_gene_hmm(seqs, state_paths, pseudocount: float = 1.0) -> HMM:
    """The gene-structure HMM fitted by counting (:func:`lsgm.training.fit_supervised`).

    ``pi_k ∝ n_k + c``, ``A_ij ∝ n_ij + c`` on allowed moves only, and
    ``B_km ∝ n_km + c`` (Dirichlet(1 + c) MAP), ``c = pseudocount``.

    Args:
        seqs: DNA sequences, ``[T_i]`` int symbols over ``ACGT`` (or ``[T_i, 4]`` soft).
        state_paths: one ``[T_i]`` state path per sequence (:func:`state_paths_from_labels`).
        pseudocount: ``c >= 0``.
    """
    model = gene_hmm()
    return fit_supervised(
        model,
        _same_kind(seqs),
        [np.asarray(z, np.int32) for z in state_paths],
        pseudocount=pseudocount,
        emission_prior=DirichletPrior(1.0 + pseudocount),
    )


def decode(model: HMM, seqs, chunk_size: int | None = None) -> list[np.ndarray]:
    """Viterbi state paths ``[T_i]`` (int32), one per sequence, in one batched call.

    ``chunk_size=None`` decodes each whole sequence exactly. An int splits every sequence
    into chunks of that many bases (the last one shorter), decodes them independently and
    concatenates the paths: optimal within each chunk, but the path need not obey the
    grammar across a chunk boundary (bounded memory for very long sequences).
    """
    seqs = _same_kind(seqs)
    if chunk_size is None:
        return [np.asarray(p, np.int32) for p in model.predict(seqs)]
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive number of bases; got {chunk_size}.")
    chunks, owner = [], []
    for i, x in enumerate(seqs):
        for lo in range(0, len(x), chunk_size):
            chunks.append(x[lo : lo + chunk_size])
            owner.append(i)
    paths = model.predict(chunks)
    out = [[] for _ in seqs]
    for i, p in zip(owner, paths, strict=True):
        out[i].append(np.asarray(p, np.int32))
    return [np.concatenate(parts) for parts in out]


def exon_scores(pred, truth) -> dict[str, float]:
    """Per-base exon precision, recall and F1 (a base is positive when its label is exon,
    ``1``; strand is ignored).

    ``precision = TP / (TP + FP)``, ``recall = TP / (TP + FN)``, ``F1 = 2PR / (P + R)`` (0 when
    the denominator is 0, as scikit-learn's ``zero_division=0``). ``pred``/``truth``: label
    arrays ``[T]`` or lists of them (pooled over all bases).
    """
    if isinstance(pred, list | tuple):
        if len(pred) != len(truth):
            raise ValueError(f"{len(pred)} predictions for {len(truth)} truth arrays.")
        pred = np.concatenate([np.ravel(p) for p in pred]) if pred else np.zeros(0)
        truth = np.concatenate([np.ravel(t) for t in truth]) if truth else np.zeros(0)
    pred, truth = np.asarray(pred), np.asarray(truth)
    if pred.shape != truth.shape:
        raise ValueError(f"pred has shape {pred.shape} but truth has {truth.shape}.")
    p, t = pred == EXON, truth == EXON
    tp, fp, fn = int((p & t).sum()), int((p & ~t).sum()), int((~p & t).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "tp": tp, "fp": fp, "fn": fn}


# ------------------------------------------------------------------- predictions as files
_GROUPS = ["intergenic"] + ["CDS+"] * 3 + ["intron+"] * 3 + ["CDS-"] * 3 + ["intron-"] * 3


def predicted_exons(path, chrom: str, offset: int = 0) -> list[Interval]:
    """The predicted coding exons of a state path as 0-based BED intervals named ``CDS``
    with their strand (consecutive codons merge; an intron splits)."""
    ivs = path_to_intervals(path, chrom, _GROUPS, keep={"CDS+", "CDS-"}, offset=offset)
    return [iv._replace(name="CDS", strand=iv.name[-1]) for iv in ivs]


def predicted_features(path, chrom: str, *, source: str = "lsgm", offset: int = 0) -> list[Feature]:
    """Predicted genes as GFF3: one ``mRNA`` per locus (maximal non-intergenic run of one
    strand) and its ``CDS`` features, with phases from the decoded codon positions
    (phase = bases before the first whole codon, in the transcript's direction)."""
    path = np.asarray(path)
    labels, strand = path_to_labels(path)
    features: list[Feature] = []
    for n, (lo, hi, sign) in enumerate(r for r in runs(strand) if r[2] != 0):
        gene_id = f"{chrom}.pred{n + 1}"
        s = "+" if sign > 0 else "-"
        attrs = {"ID": (gene_id,)}
        features.append(
            Feature(chrom, source, "mRNA", lo + offset + 1, hi + offset, None, s, None, attrs)
        )
        for a, b, label in runs(labels[lo:hi]):
            if label != EXON:
                continue
            first = lo + (a if sign > 0 else b - 1)  # the exon's 5' base
            phase = (4 - int(STATE_POSITION[path[first]])) % 3
            cds = Feature(
                chrom,
                source,
                "CDS",
                lo + a + offset + 1,
                lo + b + offset,
                None,
                s,
                phase,
                {"Parent": (gene_id,)},
            )
            features.append(cds)
    return features


# ---------------------------------------------------------------------------- experiment
def _is_cut(data) -> bool:
    return any(len(x) == QUICK_BASES for x, _ in data.values())


def _load(fasta, gff, sources, seqids, quick: bool, role: str, option: str = "--sources"):
    records = {r.name: r.data for r in read_sequences(fasta, ambiguous="soft")}
    every = read_gff(gff)
    features = [f for f in every if f.source in sources]
    if not features:
        present = sorted({f.source for f in every})
        raise ValueError(
            f"{gff}: no features of sources {sorted(sources)}; the file's sources (column 2) "
            f"are {present}. Pass {option} with the curated gene models' source."
        )
    check_seqids(features, {name: len(x) for name, x in records.items()}, where=str(gff))
    seqids = list(records) if seqids is None else list(seqids)
    missing = [s for s in seqids if s not in records]
    if missing:
        raise ValueError(
            f"{role} seqids {missing} are not in {fasta} (its records are {list(records)})."
        )
    check_annotated(
        every,
        seqids,
        sources=sources,
        where=str(gff),
        fix=f"pass {option} with their source, or leave them out of the {role} sequences",
    )
    out = {}
    for s in seqids:
        x = records[s]
        truth = feature_labels(features, s, len(x))
        if quick:
            x, truth = x[:QUICK_BASES], BaseLabels(*(a[:QUICK_BASES] for a in truth))
        out[s] = (x, truth)
    return out


def _evaluate(model, data, chunk_size, out_dir, name) -> dict:
    seqids = list(data)
    positives = sum(int((data[s][1].labels == EXON).sum()) for s in seqids)
    if positives == 0:
        raise ValueError(
            f"the {name} set ({', '.join(seqids)}) holds no exon (CDS) bases"
            f"{' in its first ' + str(QUICK_BASES) + ' bases (--quick)' if _is_cut(data) else ''}"
            ", so precision, recall and F1 would measure nothing; choose sequences with genes."
        )
    paths = decode(model, [data[s][0] for s in seqids], chunk_size)
    preds = {s: path_to_labels(p).labels for s, p in zip(seqids, paths, strict=True)}
    result = exon_scores([preds[s] for s in seqids], [data[s][1].labels for s in seqids])
    result["bases"] = int(sum(len(data[s][0]) for s in seqids))
    result["per_seqid"] = {s: exon_scores(preds[s], data[s][1].labels) for s in seqids}
    if out_dir is not None:
        feats = [f for s, p in zip(seqids, paths, strict=True) for f in predicted_features(p, s)]
        exons = [iv for s, p in zip(seqids, paths, strict=True) for iv in predicted_exons(p, s)]
        write_gff(Path(out_dir) / f"{name}.predicted.gff3", feats)
        write_bed(Path(out_dir) / f"{name}.predicted_exons.bed", sort_intervals(exons))
    return result


def run_gene_structure(
    fasta,
    gff,
    *,
    train_seqids: Iterable[str],
    test_seqids: Iterable[str],
    sources: Iterable[str] = ("WormBase",),
    test_fasta=None,
    test_gff=None,
    test_sources: Iterable[str] = ("TAIR10",),
    cross_seqids: Iterable[str] | None = None,
    quick: bool = False,
    pseudocount: float = 1.0,
    chunk_size: int | None = None,
    out_dir=None,
) -> dict:
    """Train the gene-structure HMM on some chromosomes, score per-base exon calls on others.

    Args:
        fasta, gff: the genome (FASTA, IUPAC codes read as soft observations) and its GFF3
            annotation; only features of ``sources`` (the curated models) are used.
        train_seqids, test_seqids: sequences to train on / to hold out.
        test_fasta, test_gff: optional second genome (e.g. another species) scored with the
            same model on ``cross_seqids`` (default: all its records), features of
            ``test_sources``.
        quick: use only the first ``QUICK_BASES`` bases of every sequence (a smoke run).
        pseudocount: :func:`fit_gene_hmm`'s ``c``.
        chunk_size: :func:`decode`'s (None: exact whole-sequence Viterbi).
        out_dir: when given, write ``test.predicted.gff3`` / ``test.predicted_exons.bed``
            (and ``cross.*``) there.

    Returns:
        ``{"train": {...}, "test": scores, "cross": scores (if a second genome), "wall_s"}``
        where scores holds pooled ``precision``/``recall``/``f1``/counts and ``per_seqid``.
        Training loci the grammar cannot express (:func:`gene_loci`) are cut out of the
        training sequences and counted in ``train["excluded_loci"]``; scoring uses every base.
    """
    t0 = time.perf_counter()
    if out_dir is not None:
        check_writable_dir(out_dir)
    train_seqids, test_seqids = list(train_seqids), list(test_seqids)
    overlap = set(train_seqids) & set(test_seqids)
    if overlap:
        raise ValueError(f"seqids {sorted(overlap)} are in both the training and the test set.")
    data = _load(fasta, gff, set(sources), train_seqids + test_seqids, quick, "train/test")
    seqs, paths, excluded, loci = [], [], [], 0
    for s in train_seqids:
        x, truth = data[s]
        pieces, bad = training_pieces(*truth)
        loci += len(gene_loci(*truth))
        excluded += [f"{s}:{b.start + 1}..{b.end} ({b.problem})" for b in bad]
        for lo, hi in pieces:
            seqs.append(x[lo:hi])
            paths.append(state_paths_from_labels(truth.labels[lo:hi], truth.strand[lo:hi]))
    model = fit_gene_hmm(seqs, paths, pseudocount)
    result: dict = {
        "train": {
            "seqids": train_seqids,
            "bases": int(sum(len(x) for x in seqs)),
            "loci": loci,
            "excluded_loci": excluded,
        },
        "test": _evaluate(model, {s: data[s] for s in test_seqids}, chunk_size, out_dir, "test"),
    }
    if (test_fasta is None) != (test_gff is None):
        raise ValueError("give both test_fasta and test_gff for a second genome, or neither.")
    if test_fasta is not None:
        cross = _load(
            test_fasta, test_gff, set(test_sources), cross_seqids, quick, "cross", "--test-sources"
        )
        result["cross"] = _evaluate(model, cross, chunk_size, out_dir, "cross")
    result["wall_s"] = time.perf_counter() - t0
    result["model"] = {
        "transition": np.asarray(model.transition_probs()).round(5).tolist(),
        "emission": np.asarray(model.emission.probs()).round(4).tolist(),
    }
    if out_dir is not None:
        atomic_write_text(Path(out_dir) / "results.json", json.dumps(result, indent=2) + "\n")
    return result
