"""Multitask chromatin-feature classification (genome-RNN paper §4.3–4.4).

Three classifiers, scored by F1 per task on held-out sequences:

* **Bidirectional GRU** (:class:`BiGRUClassifier`, the paper's model): base embedding
  (dimension 2) → ``num_layers`` bidirectional GRU layers (layer ``l + 1`` reads the
  concatenated forward/backward outputs of layer ``l``) → the final forward state (after the
  last base) and the final backward state (after the first base) concatenated, ``[2H]`` →
  dropout → a shared ReLU trunk → one logit per task, ``p(y_j = 1 | x) = σ(w_j·u + b_j)``.
  Trained with Adam on the masked binary cross-entropy ``sum_{n,j} m_nj BCE(y_nj, p_nj) /
  sum m_nj`` (``m_nj = 1`` where sequence ``n`` has a label for task ``j``: the data sets
  used here label each sequence for one task only), keeping the epoch with the lowest
  validation loss. Ragged lengths are handled exactly: the backward direction reads each
  sequence reversed *within its length*.
* **k-mer logistic regression** (:func:`fit_kmer_baseline`): the 1,364 k-mer counts
  (:mod:`lsgm.apps.kmers`), standardised, then scikit-learn's L2 logistic regression, one
  model per task.
* **LSGM likelihood ratio** (:func:`fit_lsgm_classifier`): per task an LSGM for each class,
  trained on that class's sequences; predict 1 when
  ``log p(x | +) - log p(x | -) + log(π_+ / π_-) > 0`` (``π`` the training class shares).

Data (:func:`load_tasks`): the DeepSEA subset of Zhang & Kamath (one task; 1,000-bp windows,
the middle ``crop`` bases used by default as in the paper, ``crop=None`` for the full
length) and the DeepBind ENCODE ChIP-seq sets (one task per experiment; 101 bp; training
positives = ChIP-seq peaks, negatives = their dinucleotide shuffles as DeepBind made them;
test = the bound/unbound ``_B`` set).
"""

from __future__ import annotations

import gzip
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from lsgm import inference
from lsgm.apps.genome_lm import make_lsgm
from lsgm.apps.kmers import kmer_features, n_kmer_features
from lsgm.data import dna
from lsgm.models import LSGM, recurrent_layers, scan_layer, zero_carry
from lsgm.training import (
    EarlyStopping,
    EpochLog,
    HyperOptimizer,
    Loop,
    Trainer,
    batch_nll,
    mean_loss,
    run_epochs,
)

Array = jax.Array

DEEPSEA_FILES = {
    "train": ("deepsea.data.valid.txt", "deepsea.labels.valid.txt"),
    "valid": ("deepsea_small.data.valid.txt", "deepsea_small.labels.valid.txt"),
    "test": ("deepsea_small.data.test.txt", "deepsea_small.labels.test.txt"),
}


# ------------------------------------------------------------------ metrics
def f1_score(y_true, y_pred) -> float:
    """``F1 = 2·TP / (2·TP + FP + FN)`` (= ``2PR / (P + R)``); 0 when there are neither true
    nor predicted positives (scikit-learn's ``zero_division`` default)."""
    y_true, y_pred = np.asarray(y_true).astype(bool), np.asarray(y_pred).astype(bool)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true {y_true.shape} and y_pred {y_pred.shape} differ in shape.")
    tp = int(np.sum(y_true & y_pred))
    denom = 2 * tp + int(np.sum(~y_true & y_pred)) + int(np.sum(y_true & ~y_pred))
    return 0.0 if denom == 0 else 2 * tp / denom


def ranking_scores(y_true, scores) -> dict:
    """``{"auroc", "auprc"}`` of ``scores`` against 0/1 ``y_true`` (scikit-learn's
    ``roc_auc_score`` and ``average_precision_score``: the area under the ROC curve and
    ``AP = sum_k (R_k - R_{k-1}) P_k`` over thresholds); both ``None`` when ``y_true`` holds
    one class only (undefined). NaN scores are an error."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    y_true, scores = np.asarray(y_true).astype(int), np.asarray(scores, dtype=np.float64)
    if y_true.shape != scores.shape:
        raise ValueError(f"y_true {y_true.shape} and scores {scores.shape} differ in shape.")
    if not np.isfinite(scores).all():
        raise ValueError("scores hold NaN or infinite values; the model diverged.")
    if len(np.unique(y_true)) < 2:
        return {"auroc": None, "auprc": None}
    return {
        "auroc": float(roc_auc_score(y_true, scores)),
        "auprc": float(average_precision_score(y_true, scores)),
    }


# ------------------------------------------------------------------ data
@dataclass
class Task:
    """One binary task: integer-coded sequences (``0..3``) and 0/1 labels per split."""

    name: str
    train_x: list[np.ndarray]
    train_y: np.ndarray
    valid_x: list[np.ndarray]
    valid_y: np.ndarray
    test_x: list[np.ndarray]
    test_y: np.ndarray

    def subset(self, n_train: int, n_eval: int, seed: int = 0) -> Task:
        """At most ``n_train`` training and ``n_eval`` validation/test sequences (random)."""
        rng = np.random.default_rng(seed)

        def pick(x, y, n):
            idx = np.sort(rng.permutation(len(x))[:n])
            return [x[i] for i in idx], y[idx]

        return Task(
            self.name,
            *pick(self.train_x, self.train_y, n_train),
            *pick(self.valid_x, self.valid_y, n_eval),
            *pick(self.test_x, self.test_y, n_eval),
        )


def _crop(codes: np.ndarray, crop: int | None, where: str) -> np.ndarray:
    if crop is None:
        return codes
    if crop > len(codes):
        raise ValueError(f"{where}: crop={crop} is longer than the sequence ({len(codes)} bases).")
    start = (len(codes) - crop) // 2
    return codes[start : start + crop]


def read_deepsea(data_file, label_file, crop: int | None = 100) -> tuple[list, np.ndarray]:
    """One sequence per line and one ``0``/``1`` label per line (Zhang & Kamath's files).

    ``crop``: keep the middle ``crop`` bases (``(L - crop) // 2`` onwards; the paper's
    middle 100 of 1,000), or ``None`` for the whole sequence.
    """
    data_file, label_file = Path(data_file), Path(label_file)
    for f in (data_file, label_file):
        if not f.is_file():
            raise ValueError(f"{f}: no such file.")
    seqs = []
    with open(data_file) as handle:
        for line_no, line in enumerate(handle, start=1):
            where = f"{data_file}, line {line_no}"
            if line.strip():
                seqs.append(_crop(dna.encode(line.strip(), where), crop, where))
    labels = []
    with open(label_file) as handle:
        for line_no, line in enumerate(handle, start=1):
            if line.strip() not in ("0", "1"):
                raise ValueError(
                    f"{label_file}, line {line_no}: label {line.strip()!r} must be 0 or 1."
                )
            labels.append(int(line.strip()))
    if len(seqs) != len(labels):
        raise ValueError(
            f"{data_file} has {len(seqs)} sequences but {label_file} has {len(labels)} labels; "
            "they must pair line by line."
        )
    return seqs, np.array(labels, dtype=np.int8)


def read_deepbind(path) -> tuple[list, np.ndarray]:
    """A DeepBind ``.seq(.gz)`` table (header ``FoldID EventID seq Bound``, tab-separated)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file.")
    opener = gzip.open if path.suffix == ".gz" else open
    seqs, labels = [], []
    with opener(path, "rt") as handle:
        header = handle.readline().rstrip("\n").split("\t")
        if "seq" not in header or "Bound" not in header:
            raise ValueError(
                f"{path}, line 1: expected a header with 'seq' and 'Bound' columns; got {header}."
            )
        i_seq, i_bound = header.index("seq"), header.index("Bound")
        for line_no, line in enumerate(handle, start=2):
            fields = line.rstrip("\n").split("\t")
            if len(fields) != len(header):
                raise ValueError(
                    f"{path}, line {line_no}: {len(fields)} fields, expected {len(header)}."
                )
            if fields[i_bound] not in ("0", "1"):
                raise ValueError(
                    f"{path}, line {line_no}: Bound {fields[i_bound]!r} must be 0 or 1."
                )
            seqs.append(dna.encode(fields[i_seq], f"{path}, line {line_no}"))
            labels.append(int(fields[i_bound]))
    return seqs, np.array(labels, dtype=np.int8)


def dinucleotide_shuffle(seq: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A uniformly random sequence with the same dinucleotide counts, first and last base
    (Altschul & Erickson 1985, via a random Eulerian path of the base-transition multigraph).

    The last edge out of every base other than the final one is drawn at random until those
    edges form a tree into the final base; the other edges of each base are permuted and
    put before its last edge; the walk from the first base then spells the shuffle.
    """
    seq = np.asarray(seq)
    if len(seq) < 3:
        return seq.copy()
    edges = [list(seq[1:][seq[:-1] == a]) for a in range(4)]
    first, last = int(seq[0]), int(seq[-1])
    present = {int(a) for a in seq}
    while True:
        last_edge = {}
        for a in present - {last}:
            last_edge[a] = int(edges[a][rng.integers(len(edges[a]))])
        ok = True
        for a in last_edge:  # every base must reach `last` along last edges (no cycle)
            seen, b = set(), a
            while b != last and b not in seen:
                seen.add(b)
                b = last_edge[b]
            ok &= b == last
        if ok:
            break
    order = []
    for a in range(4):
        rest = list(edges[a])
        if a in last_edge:
            rest.remove(last_edge[a])
        rest = [rest[i] for i in rng.permutation(len(rest))]
        order.append(rest + ([last_edge[a]] if a in last_edge else []))
    out, pos, cur = [first], [0, 0, 0, 0], first
    for _ in range(len(seq) - 1):
        nxt = order[cur][pos[cur]]
        pos[cur] += 1
        out.append(nxt)
        cur = nxt
    return np.array(out, dtype=seq.dtype)


def read_background(path) -> list[np.ndarray]:
    """The records of a background genome FASTA (gzip ok; lowercase = soft-masked bases, read
    as bases) as ``int8`` arrays: ``0..3`` for ``ACGT``, ``-1`` for ``N`` and every other
    symbol (windows holding them are filtered by :func:`background_windows`)."""
    from lsgm.data import open_text

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such background FASTA file.")
    records: list[list[np.ndarray]] = []
    with open_text(path) as handle:
        for line_no, line in enumerate(handle, start=1):
            line = line.strip()
            if line.startswith(">"):
                records.append([])
            elif line:
                if not records:
                    raise ValueError(
                        f"{path}, line {line_no}: bases before the first '>' header; a "
                        "background genome must be FASTA."
                    )
                records[-1].append(dna.lookup(line))
    out = [np.concatenate(r) for r in records if r]
    if not out:
        raise ValueError(f"{path}: no FASTA record with bases found.")
    return out


def background_windows(
    genome: Sequence[np.ndarray],
    lengths: Sequence[int],
    rng: np.random.Generator,
    *,
    max_n_fraction: float = 0.0,
    where: str = "the background genome",
) -> list[np.ndarray]:
    """One random window of each length in ``lengths`` from ``genome`` (records of
    :func:`read_background`): a start drawn uniformly over every position of every record
    where the window fits; a window with more than ``max_n_fraction`` of its bases not
    ``ACGT`` (``N``) is redrawn; the remaining ones (if ``max_n_fraction > 0``) become
    uniformly random bases. Seeded by ``rng``; raises when 50 rounds of draws do not find
    enough windows."""
    if not 0 <= max_n_fraction < 1:
        raise ValueError(f"max_n_fraction must be in [0, 1); got {max_n_fraction}.")
    flat = np.concatenate(genome)
    sizes = np.array([len(r) for r in genome])
    offsets = np.cumsum(sizes) - sizes
    lengths = np.asarray(lengths, dtype=np.int64)
    out: list = [None] * len(lengths)
    for L in np.unique(lengths):
        need = np.flatnonzero(lengths == L)
        fits = np.maximum(sizes - L + 1, 0)
        if fits.sum() == 0:
            raise ValueError(f"{where}: no record is {L} bases long or longer.")
        found: list[np.ndarray] = []
        for _ in range(50):
            n = 2 * (len(need) - len(found)) + 16
            record = rng.choice(len(genome), size=n, p=fits / fits.sum())
            start = offsets[record] + (rng.random(n) * fits[record]).astype(np.int64)
            windows = flat[start[:, None] + np.arange(L)]  # [n, L]
            ok = (windows < 0).sum(1) <= max_n_fraction * L
            found.extend(windows[ok][: len(need) - len(found)])
            if len(found) == len(need):
                break
        else:
            raise ValueError(
                f"{where}: only {len(found)} of {len(need)} windows of {L} bases with at most "
                f"{max_n_fraction:.0%} N found; pass a genome with fewer N or raise the limit."
            )
        for i, w in zip(need, found, strict=True):
            w = w.copy()
            bad = w < 0
            w[bad] = rng.integers(0, 4, size=int(bad.sum()))
            out[i] = w
    return out


def load_deepsea_task(folder, crop: int | None = 100) -> Task:
    """The DeepSEA subset task: train on ``deepsea.data.valid`` (2,000), validate on
    ``deepsea_small.data.valid`` (800), test on ``deepsea_small.data.test`` (1,200) — the only
    files of the authors' repository whose sequences survive (see the data's SOURCE.md)."""
    folder = Path(folder)
    splits = {
        s: read_deepsea(folder / d, folder / lab, crop) for s, (d, lab) in DEEPSEA_FILES.items()
    }
    return Task("DeepSEA", *splits["train"], *splits["valid"], *splits["test"])


def load_deepbind_task(
    ac_file,
    b_file,
    *,
    max_positives: int | None,
    valid_fraction=0.1,
    seed: int = 0,
    background: Sequence[np.ndarray] | None = None,
    max_n_fraction: float = 0.0,
) -> Task:
    """A DeepBind task: training peaks (``_AC``, at most ``max_positives``, random) plus one
    negative each — a dinucleotide shuffle of the peak (DeepBind's own negatives), or, with
    ``background`` (records of :func:`read_background`), a length-matched random genomic
    window (:func:`background_windows`); ``valid_fraction`` of those pairs held out for
    validation; the ``_B`` file is the test set (its 500 unbound records are dinucleotide
    shuffles of bound ones, whatever the training negatives)."""
    pos, labels = read_deepbind(ac_file)
    if not labels.all():
        raise ValueError(f"{ac_file}: expected only bound (1) training peaks.")
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(pos))[: max_positives or len(pos)]
    pos = [pos[i] for i in idx]
    if background is None:
        neg = [dinucleotide_shuffle(s, rng) for s in pos]
    else:
        neg = background_windows(
            background, [len(s) for s in pos], rng, max_n_fraction=max_n_fraction
        )
    n_valid = max(1, int(round(valid_fraction * len(pos))))
    x_train, x_valid = pos[n_valid:] + neg[n_valid:], pos[:n_valid] + neg[:n_valid]
    y_train = np.r_[np.ones(len(pos) - n_valid), np.zeros(len(pos) - n_valid)].astype(np.int8)
    y_valid = np.r_[np.ones(n_valid), np.zeros(n_valid)].astype(np.int8)
    test_x, test_y = read_deepbind(b_file)
    name = Path(ac_file).name.split("_")[0] + "_" + Path(ac_file).name.split("_")[1]
    return Task(name, x_train, y_train, x_valid, y_valid, test_x, test_y)


def load_tasks(
    folders: Sequence,
    *,
    crop: int | None = 100,
    max_positives: int | None = 1500,
    seed: int = 0,
    background=None,
    max_n_fraction: float = 0.0,
) -> list[Task]:
    """Every task found in ``folders``: a DeepSEA task where ``deepsea.data.valid.txt`` is,
    one DeepBind task per ``*_AC.seq.gz`` with its ``*_B.seq.gz``. ``background``: a genome
    FASTA whose windows are the DeepBind training negatives (default: shuffles)."""
    genome = None if background is None else read_background(background)
    tasks = []
    for folder in map(Path, folders):
        if not folder.is_dir():
            raise ValueError(f"{folder}: not a folder (pass the data folder with --data).")
        if (folder / DEEPSEA_FILES["train"][0]).is_file():
            tasks.append(load_deepsea_task(folder, crop))
        for ac in sorted(folder.glob("*_AC.seq*")):
            b = ac.with_name(ac.name.replace("_AC.seq", "_B.seq"))
            if not b.is_file():
                raise ValueError(f"{ac}: its test file {b.name} is missing.")
            tasks.append(
                load_deepbind_task(
                    ac,
                    b,
                    max_positives=max_positives,
                    seed=seed,
                    background=genome,
                    max_n_fraction=max_n_fraction,
                )
            )
    if not tasks:
        raise ValueError(
            f"no task found in {[str(f) for f in folders]}: expected deepsea.data.valid.txt "
            "(+ labels) or DeepBind *_AC.seq.gz / *_B.seq.gz files."
        )
    return tasks


# ------------------------------------------------------------------ the networks
def _reversal(lengths: Array, L: int) -> Array:
    """``[B, L, 1]`` indices reversing each row within its length (an involution; padding
    positions map to themselves)."""
    t = jnp.arange(L)[None, :]
    return jnp.where(t < lengths[:, None], lengths[:, None] - 1 - t, t)[..., None]


def _bidirectional(cell: str, fwd, bwd, h0, seq: Array, rev: Array) -> tuple[Array, Array]:
    """One bidirectional layer over ``seq [B, L, D]``: forward outputs ``f [B, L, H]`` and the
    backward outputs ``b_rev [B, L, H]`` in *reversed* order (row ``n``'s ``b_rev[n, t]`` has
    read bases ``len_n - 1 .. len_n - 1 - t``); ``fwd``/``bwd`` = ``(inputs, recurrent)``."""
    _, f = scan_layer(cell, *fwd, h0, seq, time_axis=1)
    _, b_rev = scan_layer(cell, *bwd, h0, jnp.take_along_axis(seq, rev, axis=1), time_axis=1)
    return f, b_rev


class BiGRUClassifier(nnx.Module):
    """Embedding → bidirectional GRU stack → concatenated final states → trunk → task logits.

    :meth:`__call__` maps ``x [B, L]`` (ints ``0..3``, padded) and ``lengths [B]`` to logits
    ``[B, num_tasks]``. Each direction of each layer is a GRU layer of :mod:`lsgm.models.rnn`
    (parameters ``fwd_in``/``fwd_rec``/``bwd_in``/``bwd_rec`` ``/<layer>``, made by
    :func:`~lsgm.models.rnn.recurrent_layers`, run by :func:`~lsgm.models.rnn.scan_layer`
    from the zero state).
    """

    def __init__(
        self,
        num_tasks: int,
        *,
        hidden_size: int = 128,
        num_layers: int = 2,
        embedding_dim: int = 2,
        trunk_size: int = 128,
        dropout: float = 0.05,
        rngs: nnx.Rngs,
    ):
        if num_tasks < 1 or hidden_size < 1 or num_layers < 1 or trunk_size < 0:
            raise ValueError("num_tasks, hidden_size, num_layers must be >= 1, trunk_size >= 0.")
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1); got {dropout}.")
        H = int(hidden_size)
        self.hidden_size, self.num_layers = H, int(num_layers)
        self.embed = nnx.Embed(4, embedding_dim, rngs=rngs)
        sizes = [int(embedding_dim)] + [2 * H] * (self.num_layers - 1)
        self.fwd_in, self.fwd_rec = recurrent_layers("gru", sizes, H, rngs=rngs)
        self.bwd_in, self.bwd_rec = recurrent_layers("gru", sizes, H, rngs=rngs)
        self.trunk = nnx.data(nnx.Linear(2 * H, trunk_size, rngs=rngs) if trunk_size else None)
        self.head = nnx.Linear(trunk_size or 2 * H, num_tasks, rngs=rngs)
        self.dropout = nnx.Dropout(dropout, rngs=rngs)

    def __call__(self, x: Array, lengths: Array) -> Array:
        B, L = x.shape
        rev = _reversal(lengths, L)
        seq, h0 = self.embed(x), zero_carry("gru", (B, self.hidden_size))
        for layer in range(self.num_layers):  # per direction: [B, L, ·] -> [B, L, H]
            f, b_rev = _bidirectional(
                "gru",
                (self.fwd_in[layer], self.fwd_rec[layer]),
                (self.bwd_in[layer], self.bwd_rec[layer]),
                h0,
                seq,
                rev,
            )
            seq = self.dropout(jnp.concatenate([f, jnp.take_along_axis(b_rev, rev, 1)], -1))
        rows, last = jnp.arange(B), lengths - 1
        u = self.dropout(jnp.concatenate([f[rows, last], b_rev[rows, last]], axis=-1))
        if self.trunk is not None:
            u = self.dropout(jax.nn.relu(self.trunk(u)))
        return self.head(u)

    def n_parameters(self) -> int:
        """Number of trainable scalars."""
        return int(sum(v.size for v in jax.tree.leaves(nnx.state(self, nnx.Param))))


class ConvRNNClassifier(nnx.Module):
    """DanQ-style (Quang & Xie 2016): one-hot bases → convolution (motif scanners) → ReLU →
    max-pool → bidirectional LSTM (or GRU) → max over time → trunk → task logits.

    Shapes, for ``x [B, L]`` (ints ``0..3``, padded) and ``lengths [B]``:

    * one-hot ``[B, L, 4]``, zero beyond each length; ``F`` filters of width ``k`` (``SAME``
      padding, so a sequence ends in zeros whatever its padding): ``c = relu(W * x + b)``
      ``[B, L, F]``, zeroed beyond the length;
    * max-pool over windows of ``P`` bases: ``[B, L', F]`` with ``L' = ceil(L / P)`` (the
      valid length becomes ``ceil(len / P)``); dropout;
    * a bidirectional ``cell`` layer of ``H`` units per direction (the backward one reads each
      row reversed within its pooled length) → ``[B, L', 2H]``;
    * ``u`` = ``max_t`` of the recurrent outputs over the valid pooled steps ``[2H]``
      concatenated with ``max_t`` of the convolution ``[F]`` (a DeepBind-style shortcut: the
      motif scores reach the output directly) → dropout → (an optional ReLU trunk; by default
      none: with one, training sat on a plateau for epochs) → one logit per task,
      ``p(y_j = 1 | x) = σ(w_j·u + b_j)``.

    The logits of a sequence depend on its first ``length`` bases only.
    """

    def __init__(
        self,
        num_tasks: int,
        *,
        filters: int = 64,
        kernel_size: int = 15,
        pool: int = 4,
        hidden_size: int = 32,
        cell: str = "lstm",
        trunk_size: int = 0,
        dropout: float = 0.1,
        rngs: nnx.Rngs,
    ):
        if min(num_tasks, filters, kernel_size, pool, hidden_size) < 1 or trunk_size < 0:
            raise ValueError(
                "num_tasks, filters, kernel_size, pool, hidden_size must be >= 1, "
                f"trunk_size >= 0; got {num_tasks}, {filters}, {kernel_size}, {pool}, "
                f"{hidden_size}, {trunk_size}."
            )
        if cell not in ("lstm", "gru"):
            raise ValueError(f"cell must be 'lstm' or 'gru'; got {cell!r}.")
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1); got {dropout}.")
        self.cell, self.pool, self.hidden_size = cell, int(pool), int(hidden_size)
        self.conv = nnx.Conv(4, filters, kernel_size=(kernel_size,), padding="SAME", rngs=rngs)
        (fi,), (fr,) = recurrent_layers(cell, [filters], self.hidden_size, rngs=rngs)
        (bi,), (br,) = recurrent_layers(cell, [filters], self.hidden_size, rngs=rngs)
        self.fwd_in, self.fwd_rec, self.bwd_in, self.bwd_rec = fi, fr, bi, br
        width = 2 * self.hidden_size + filters
        self.trunk = nnx.data(nnx.Linear(width, trunk_size, rngs=rngs) if trunk_size else None)
        self.head = nnx.Linear(trunk_size or width, num_tasks, rngs=rngs)
        self.dropout = nnx.Dropout(dropout, rngs=rngs)

    def __call__(self, x: Array, lengths: Array) -> Array:
        B, L = x.shape
        P = self.pool
        inside = (jnp.arange(L)[None, :] < lengths[:, None])[..., None]  # [B, L, 1]
        c = jax.nn.relu(self.conv(jax.nn.one_hot(x, 4) * inside)) * inside
        Lp = -(-L // P)
        c = jnp.pad(c, ((0, 0), (0, Lp * P - L), (0, 0))).reshape(B, Lp, P, -1).max(axis=2)
        plen = -(-lengths // P)
        rev = _reversal(plen, Lp)
        h0 = zero_carry(self.cell, (B, self.hidden_size))
        f, b_rev = _bidirectional(
            self.cell,
            (self.fwd_in, self.fwd_rec),
            (self.bwd_in, self.bwd_rec),
            h0,
            self.dropout(c),
            rev,
        )
        h = jnp.concatenate([f, jnp.take_along_axis(b_rev, rev, 1)], -1)  # [B, Lp, 2H]
        valid = (jnp.arange(Lp)[None, :] < plen[:, None])[..., None]
        u = jnp.concatenate([jnp.where(valid, h, -jnp.inf).max(axis=1), c.max(axis=1)], -1)
        u = self.dropout(u)
        if self.trunk is not None:
            u = self.dropout(jax.nn.relu(self.trunk(u)))
        return self.head(u)

    n_parameters = BiGRUClassifier.n_parameters


def _stack(tasks: Sequence[Task], split: str, width: int):
    """Padded ``x [N, width]``, ``lengths [N]``, labels ``y [N, T]`` and mask ``m [N, T]``."""
    xs, ys, ms, lengths = [], [], [], []
    for j, task in enumerate(tasks):
        for s, label in zip(getattr(task, f"{split}_x"), getattr(task, f"{split}_y"), strict=True):
            row = np.zeros(width, np.int32)
            row[: len(s)] = s
            xs.append(row)
            lengths.append(len(s))
            y, m = np.zeros(len(tasks), np.float32), np.zeros(len(tasks), np.float32)
            y[j], m[j] = label, 1.0
            ys.append(y)
            ms.append(m)
    return np.array(xs), np.array(lengths, np.int32), np.array(ys), np.array(ms)


def _masked_bce(logits, y, m):
    bce = optax.sigmoid_binary_cross_entropy(logits, y)
    return (bce * m).sum(), m.sum()


def _bce_objective(model, batch, carry):
    """Objective: the masked binary cross-entropy per label of ``(x, lengths, y, m)``."""
    x, n, y, m = batch
    total, count = _masked_bce(model(x, n), y, m)
    return total / jnp.maximum(count, 1.0), None, carry


@nnx.jit
def _clf_logits(model, x, n):
    return model(x, n)


def _batches(N: int, size: int):
    for start in range(0, N, size):
        idx = np.arange(start, start + size)
        yield idx[idx < N], idx < N


def predict_logits(model: nnx.Module, x, lengths, batch_size: int = 64) -> np.ndarray:
    """``[N, T]`` logits in fixed-size batches (the last padded: one compile)."""
    model.eval()
    out = []
    for idx, valid in _batches(len(x), batch_size):
        xb = np.zeros((batch_size, x.shape[1]), np.int32)
        nb = np.ones(batch_size, np.int32)
        xb[valid], nb[valid] = x[idx], lengths[idx]
        out.append(np.asarray(_clf_logits(model, jnp.asarray(xb), jnp.asarray(nb)))[valid])
    return np.concatenate(out)


#: The networks by name (``--model``): the paper's BiGRU and the DanQ-style convolution + BiLSTM.
NETWORKS: dict[str, type] = {"bigru": BiGRUClassifier, "danq": ConvRNNClassifier}


def build_network(kind: str, num_tasks: int, config: dict, seed: int = 0) -> nnx.Module:
    """A fresh network ``NETWORKS[kind](num_tasks, **config)`` initialised from ``seed``."""
    if kind not in NETWORKS:
        raise ValueError(f"network {kind!r} is not one of {sorted(NETWORKS)}.")
    return NETWORKS[kind](num_tasks, **config, rngs=nnx.Rngs(seed))


def _width(tasks: Sequence[Task]) -> int:
    return max(len(s) for t in tasks for s in (*t.train_x, *t.valid_x, *t.test_x))


def fit_multitask_rnn(
    tasks: Sequence[Task],
    *,
    kind: str = "danq",
    config: dict | None = None,
    epochs: int = 10,
    batch_size: int = 64,
    learning_rate: float = 1e-3,
    patience: int = 3,
    seed: int = 0,
    log: Callable[[str], object] | None = None,
) -> tuple[nnx.Module, dict]:
    """Train the network ``kind`` (``config``: its keyword arguments) on every task at once
    (masked loss, Adam); keep the parameters of the epoch with the lowest validation loss;
    stop after ``patience`` epochs without improvement. Returns ``(model, history)``; the
    history holds the losses per epoch, the best epoch (1-based) and the seconds taken."""
    width = _width(tasks)
    x, n, y, m = _stack(tasks, "train", width)
    vx, vn, vy, vm = _stack(tasks, "valid", width)
    model = build_network(kind, len(tasks), dict(config or {}), seed)
    start = time.perf_counter()
    trainer = Trainer(
        model, HyperOptimizer(optax.adam, {"learning_rate": learning_rate}), _bce_objective
    )
    early = EarlyStopping(model, "valid_loss", patience=patience)
    history: dict = {"train_loss": [], "valid_loss": [], "best_epoch": 0}

    def batches(epoch: int):
        order = np.random.default_rng([seed, epoch]).permutation(len(x))
        for idx, valid in _batches(len(x), batch_size):
            rows = order[idx]
            xb = np.zeros((batch_size, width), np.int32)
            nb = np.ones(batch_size, np.int32)
            yb = np.zeros((batch_size, len(tasks)), np.float32)
            mb = np.zeros_like(yb)
            xb[valid], nb[valid], yb[valid], mb[valid] = x[rows], n[rows], y[rows], m[rows]
            yield tuple(map(jnp.asarray, (xb, nb, yb, mb)))

    def metrics(losses: list, _) -> dict:
        logits = predict_logits(model, vx, vn)
        vloss = float(optax.sigmoid_binary_cross_entropy(logits, vy)[vm > 0].mean())
        if not np.isfinite(vloss):
            raise ValueError(
                f"{kind}: the validation loss is {vloss} after epoch "
                f"{len(history['valid_loss']) + 1}; "
                f"training diverged — lower the learning rate ({learning_rate})."
            )
        history["train_loss"].append(mean_loss(losses))
        history["valid_loss"].append(vloss)
        return {"train_loss": history["train_loss"][-1], "valid_loss": vloss}

    callbacks = [early] if log is None else [early, EpochLog(log, _epoch_line(kind))]
    run_epochs(trainer, batches, epochs=epochs, metrics=metrics, callbacks=callbacks)
    history["best_epoch"] = 0 if early.best_epoch is None else early.best_epoch + 1
    model.eval()
    history["seconds"] = time.perf_counter() - start
    return model, history


def _epoch_line(kind: str) -> Callable[[Loop], str]:
    def line(loop: Loop) -> str:
        train, valid = loop.logs["train_loss"], loop.logs["valid_loss"]
        return f"  {kind} epoch {loop.epoch + 1}: train {train:.4f} valid {valid:.4f}"

    return line


def network_scores(model: nnx.Module, tasks: Sequence[Task], split: str) -> list[np.ndarray]:
    """Per task, ``p(y = 1 | x)`` from its own output for the sequences of ``split``."""
    x, n, _, m = _stack(tasks, split, _width(tasks))
    probs = _sigmoid(predict_logits(model, x, n))
    task_of = m.argmax(1)
    return [np.asarray(probs[task_of == j, j]) for j in range(len(tasks))]


# ------------------------------------------------------------------ baseline and LSGM
def fit_kmer_baseline(
    task: Task, *, k_max: int = 5, Cs: Sequence[float] = (1.0,), max_iter: int = 2000
) -> tuple[dict, dict]:
    """k-mer counts → standardisation → L2 logistic regression (scikit-learn, lbfgs), with
    ``C`` (scikit-learn's inverse regularisation strength) chosen from ``Cs`` by the
    validation AUROC (ties: the first).

    Returns ``(params, info)``: ``params`` = ``{"mean", "scale", "coef"}`` (``[F]`` each,
    ``F = sum_k 4^k``) and ``"intercept"`` (``[1]``), so that :func:`kmer_lr_scores` gives
    ``p = σ(((f - mean) / scale)·coef + intercept)``; ``info`` = the chosen ``C`` and the
    validation AUROC of every ``C``.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    if not Cs:
        raise ValueError("Cs is empty; give at least one regularisation value.")
    scaler = StandardScaler().fit(kmer_features(task.train_x, k_max))
    train = scaler.transform(kmer_features(task.train_x, k_max))
    valid = scaler.transform(kmer_features(task.valid_x, k_max))
    best, aurocs = None, []
    for C in Cs:
        clf = LogisticRegression(C=C, max_iter=max_iter).fit(train, task.train_y)
        auroc = ranking_scores(task.valid_y, clf.decision_function(valid))["auroc"]
        aurocs.append(auroc)
        if best is None or (auroc is not None and (best[0] is None or auroc > best[0])):
            best = (auroc, C, clf)
    _, C, clf = best
    params = {
        "mean": scaler.mean_.astype(np.float32),
        "scale": scaler.scale_.astype(np.float32),
        "coef": clf.coef_[0].astype(np.float32),
        "intercept": clf.intercept_.astype(np.float32),
    }
    return params, {"C": float(C), "valid_auroc_by_C": aurocs}


def kmer_lr_scores(params: dict, seqs: Sequence[np.ndarray], k_max: int = 5) -> np.ndarray:
    """``[N]`` probabilities ``σ(((f - mean) / scale)·coef + intercept)`` of the k-mer
    logistic regression ``params`` (:func:`fit_kmer_baseline`) for ``f`` the k-mer counts."""
    z = (kmer_features(seqs, k_max) - params["mean"]) / params["scale"]
    return _sigmoid(z @ params["coef"] + params["intercept"][0])


def _sigmoid(z: np.ndarray) -> np.ndarray:
    """``σ(z) = 1 / (1 + e^{-z})`` in NumPy (no XLA compile per shape)."""
    return 1.0 / (1.0 + np.exp(-np.asarray(z)))


def _nll_objective(model, batch, carry):
    """Objective: the weighted NLL per base of ``(x, lengths, weights)``."""
    x, n, w = batch
    return batch_nll(model, x, n, w), None, carry


@nnx.jit
def _lsgm_log_probs(model, x, n):
    return jax.vmap(lambda xi, ni: inference.log_partition(model.potentials(xi), ni))(x, n)


def _padded_batches(seqs: Sequence[np.ndarray], width: int, batch_size: int, order=None):
    """Fixed-shape batches ``(x [B, width], lengths [B], weights [B])``; filler rows have
    weight 0 and length 1 (one compile for every task and class)."""
    order = np.arange(len(seqs)) if order is None else order
    for idx, valid in _batches(len(order), batch_size):
        x = np.zeros((batch_size, width), np.int32)
        n, w = np.ones(batch_size, np.int32), np.zeros(batch_size, np.float32)
        for row, i in enumerate(order[idx]):
            x[row, : len(seqs[i])], n[row], w[row] = seqs[i], len(seqs[i]), 1.0
        yield x, n, w, valid


def lsgm_log_probs(model, seqs: Sequence[np.ndarray], width: int, batch_size: int) -> np.ndarray:
    """``[N]`` exact ``log p(x_n)`` under an HMM or LSGM, in fixed-shape batches."""
    out = [
        np.asarray(_lsgm_log_probs(model, jnp.asarray(x), jnp.asarray(n)))[valid]
        for x, n, _, valid in _padded_batches(seqs, width, batch_size)
    ]
    return np.concatenate(out)


_TEMPLATES: dict = {}


def _class_lsgm(num_states: int, hidden_size: int, seed: int) -> LSGM:
    """A fresh LSGM built on one cached graph definition per configuration.

    Each ``LSGM`` instance carries new closures in its static emission family, so its graph
    definition differs from an identical model's and every jitted step would recompile; merging
    the fresh parameters into a cached definition lets all tasks and classes share one compile.
    """
    model = make_lsgm(num_states, hidden_size=hidden_size, seed=seed)
    key = (num_states, hidden_size)
    if key not in _TEMPLATES:
        _TEMPLATES[key] = nnx.graphdef(model)
    return nnx.merge(_TEMPLATES[key], nnx.state(model))


def fit_lsgm_classifier(
    task: Task,
    *,
    num_states: int = 4,
    hidden_size: int = 16,
    epochs: int = 5,
    batch_size: int = 64,
    learning_rate: float = 1e-2,
    width: int | None = None,
    seed: int = 0,
):
    """Class-conditional LSGMs (one GRU layer, ``num_states`` categorical states), one per
    class, each trained by Adam on the exact NLL per base of that class's training sequences
    (shuffled fixed-shape minibatches; the epoch with the lowest validation NLL of that class
    is kept); the score is the log-likelihood ratio plus the log prior odds (predict 1 when
    it is positive). ``width``: the padded length (default: the task's longest sequence; pass
    one value for all tasks to compile once). Returns ``(models, test scores, seconds)``."""
    start, models = time.perf_counter(), {}
    width = width or max(len(s) for s in (*task.train_x, *task.valid_x, *task.test_x))
    for label in (0, 1):
        xs = [s for s, y in zip(task.train_x, task.train_y, strict=True) if y == label]
        vs = [s for s, y in zip(task.valid_x, task.valid_y, strict=True) if y == label]
        if not xs or not vs:
            raise ValueError(
                f"task {task.name}: no training or validation sequences of "
                f"class {label}; the LSGM classifier needs both classes."
            )
        models[label] = model = _class_lsgm(num_states, hidden_size, seed)
        trainer = Trainer(
            model, HyperOptimizer(optax.adam, {"learning_rate": learning_rate}), _nll_objective
        )

        def batches(epoch: int, label=label, xs=xs):
            order = np.random.default_rng([seed, label, epoch]).permutation(len(xs))
            for x, n, w, _ in _padded_batches(xs, width, batch_size, order):
                yield tuple(map(jnp.asarray, (x, n, w)))

        def metrics(losses: list, auxes: list, model=model, vs=vs) -> dict:
            return {
                "valid_nll": -lsgm_log_probs(model, vs, width, batch_size).sum() / sum(map(len, vs))
            }

        early = EarlyStopping(model, "valid_nll")
        run_epochs(trainer, batches, epochs=epochs, metrics=metrics, callbacks=[early])
    prior = np.log(task.train_y.mean()) - np.log(1 - task.train_y.mean())
    ratio = (
        lsgm_log_probs(models[1], task.test_x, width, batch_size)
        - lsgm_log_probs(models[0], task.test_x, width, batch_size)
        + prior
    )
    return models, ratio, time.perf_counter() - start


# ------------------------------------------------------------------ saved models
#: The ``kind`` in a saved classifier's metadata.
MODEL_KIND = "lsgm-chromatin-classifier"


@dataclass
class ChromatinModel:
    """A trained classifier set: the multitask network (``kind``, ``config``) and one k-mer
    logistic regression per task (:func:`fit_kmer_baseline` parameters), for ``tasks``."""

    kind: str
    config: dict
    tasks: list[str]
    network: nnx.Module
    kmer_lr: list[dict]
    k_max: int = 5
    info: dict | None = None

    def _tree(self) -> dict:
        return {"network": nnx.state(self.network), "kmer_lr": list(self.kmer_lr)}

    def save(self, path) -> None:
        """Write one atomic checkpoint (:func:`lsgm.data.checkpoints.save_checkpoint`)."""
        from lsgm.data import save_checkpoint

        meta = {
            "kind": MODEL_KIND,
            "network": self.kind,
            "config": self.config,
            "tasks": self.tasks,
            "k_max": self.k_max,
            "info": self.info or {},
        }
        save_checkpoint(path, self._tree(), meta)

    @classmethod
    def load(cls, path) -> ChromatinModel:
        """Read a file written by :meth:`save`; a ``ValueError`` naming the file otherwise."""
        from lsgm.data import load_checkpoint, load_metadata

        path = Path(path)
        if not path.is_file():
            raise ValueError(
                f"{path}: no such model file (write one with lsgm experiment chromatin)."
            )
        meta = load_metadata(path)
        if meta.get("kind") != MODEL_KIND:
            raise ValueError(
                f"{path}: not a chromatin classifier (its kind is {meta.get('kind')!r}); pass a "
                "model_seed<N>.ckpt written by lsgm experiment chromatin."
            )
        k_max, n = int(meta["k_max"]), n_kmer_features(int(meta["k_max"]))
        zeros = {
            "mean": np.zeros(n, np.float32),
            "scale": np.zeros(n, np.float32),
            "coef": np.zeros(n, np.float32),
            "intercept": np.zeros(1, np.float32),
        }
        model = cls(
            meta["network"],
            meta["config"],
            list(meta["tasks"]),
            build_network(meta["network"], len(meta["tasks"]), meta["config"]),
            [dict(zeros) for _ in meta["tasks"]],
            k_max,
            meta.get("info"),
        )
        tree, _ = load_checkpoint(path, model._tree())
        nnx.update(model.network, tree["network"])
        model.kmer_lr = [{k: np.asarray(v) for k, v in d.items()} for d in tree["kmer_lr"]]
        model.network.eval()
        return model

    def predict(self, seqs: Sequence[np.ndarray], batch_size: int = 64) -> dict[str, np.ndarray]:
        """``{"<task>_rnn": p [N], "<task>_kmer_lr": p [N]}`` for every task: each model's
        ``p(bound | x)`` of integer-coded sequences of any lengths (padded to the training
        width, or to the longest sequence when longer: the padding changes nothing)."""
        if not len(seqs):
            raise ValueError("no sequences to score.")
        width = max(int((self.info or {}).get("width", 1)), max(len(s) for s in seqs))
        x = np.zeros((len(seqs), width), np.int32)
        for i, s in enumerate(seqs):
            x[i, : len(s)] = s
        lengths = np.array([len(s) for s in seqs], np.int32)
        probs = _sigmoid(predict_logits(self.network, x, lengths, batch_size))
        out = {}
        for j, name in enumerate(self.tasks):
            out[f"{name}_rnn"] = probs[:, j]
            out[f"{name}_kmer_lr"] = kmer_lr_scores(self.kmer_lr[j], seqs, self.k_max)
        return out


# ------------------------------------------------------------------ the experiment
def _mean_auroc(tasks: Sequence[Task], scores: list[np.ndarray]) -> float:
    values = [ranking_scores(t.valid_y, p)["auroc"] for t, p in zip(tasks, scores, strict=True)]
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else float("nan")


def run_chromatin(
    tasks: Sequence[Task],
    *,
    kind: str = "danq",
    config: dict | None = None,
    train_kwargs: dict | None = None,
    learning_rates: Sequence[float] = (1e-3,),
    Cs: Sequence[float] | None = (1.0,),
    task_Cs: Sequence[Sequence[float]] | None = None,
    k_max: int = 5,
    lsgm_kwargs: dict | None = None,
    with_lsgm: bool = True,
    seed: int = 0,
    log: Callable[[str], object] | None = None,
) -> tuple[dict, ChromatinModel]:
    """F1, AUROC and AUPRC per task of the multitask network ``kind``, the k-mer logistic
    regression and (``with_lsgm``) the LSGM likelihood-ratio classifier.

    Selection uses validation data only, with the same budget for both main models: one
    network per learning rate in ``learning_rates`` (each early-stopped on the validation
    loss), the one with the best mean validation AUROC kept; per task one regression per
    ``C`` in ``Cs`` (or in ``task_Cs[j]`` for task ``j``: e.g. the one chosen on another
    seed), the best validation AUROC kept. The test split is then scored once.
    Also the number and share of tasks (with >= 1 % training positives and both classes in
    the test split) where the network's test AUROC is strictly higher than the baseline's.
    Returns ``(result, model)``.
    """
    config = dict(config or {})
    best, by_lr = None, []
    for lr in learning_rates:
        if log is not None:
            log(f"  {kind}, learning rate {lr}")
        net, history = fit_multitask_rnn(
            tasks,
            kind=kind,
            config=config,
            learning_rate=lr,
            seed=seed,
            log=log,
            **(train_kwargs or {}),
        )
        history["learning_rate"] = lr
        history["valid_auroc"] = _mean_auroc(tasks, network_scores(net, tasks, "valid"))
        by_lr.append(history["valid_auroc"])
        if log is not None:
            log(f"  {kind}, learning rate {lr}: mean validation AUROC {history['valid_auroc']:.4f}")
        if best is None or history["valid_auroc"] > best[1]["valid_auroc"]:
            best = (net, history)
    net, history = best
    history["valid_auroc_by_lr"] = by_lr
    rnn_test = network_scores(net, tasks, "test")
    width = _width(tasks)
    rows, kmer = [], []
    for j, task in enumerate(tasks):
        start = time.perf_counter()
        grid = Cs if task_Cs is None else task_Cs[j]
        if grid is None:
            raise ValueError("give Cs or task_Cs.")
        params, info = fit_kmer_baseline(task, k_max=k_max, Cs=grid)
        kmer.append(params)
        lr_test = kmer_lr_scores(params, task.test_x, k_max)
        row = {
            "task": task.name,
            "train": len(task.train_x),
            "test": len(task.test_x),
            "train_positive_share": float(task.train_y.mean()),
            "f1_rnn": f1_score(task.test_y, rnn_test[j] > 0.5),
            "f1_kmer_lr": f1_score(task.test_y, lr_test > 0.5),
            "kmer_lr_C": info["C"],
            "kmer_lr_valid_auroc_by_C": info["valid_auroc_by_C"],
            "kmer_lr_seconds": time.perf_counter() - start,
        }
        for name, scores in (("rnn", rnn_test[j]), ("kmer_lr", lr_test)):
            for metric, value in ranking_scores(task.test_y, scores).items():
                row[f"{metric}_{name}"] = value
        if with_lsgm:
            _, ratio, seconds = fit_lsgm_classifier(
                task, seed=seed, width=width, **(lsgm_kwargs or {})
            )
            row["f1_lsgm"], row["lsgm_seconds"] = f1_score(task.test_y, ratio > 0), seconds
            row.update({f"{k}_lsgm": v for k, v in ranking_scores(task.test_y, ratio).items()})
        rows.append(row)
        if log is not None:
            log(
                f"  {task.name}: AUROC {kind} {_fmt(row['auroc_rnn'])}  k-mer LR "
                f"{_fmt(row['auroc_kmer_lr'])} (C={info['C']:g})"
                + (f"  LSGM {_fmt(row['auroc_lsgm'])}" if with_lsgm else "")
            )
    eligible = [r for r in rows if r["train_positive_share"] >= 0.01 and r["auroc_rnn"] is not None]
    wins = sum(r["auroc_rnn"] > r["auroc_kmer_lr"] for r in eligible)
    result = {
        "tasks": rows,
        "rnn": {"kind": kind, "config": config, "n_parameters": net.n_parameters(), **history},
        "learning_rates": list(learning_rates),
        "Cs": None if Cs is None else list(Cs),
        "rnn_wins": wins,
        "eligible_tasks": len(eligible),
        "rnn_win_share": wins / len(eligible) if eligible else None,
    }
    names = [t.name for t in tasks]
    info = {"seed": seed, "learning_rate": history["learning_rate"], "width": width}
    return result, ChromatinModel(kind, config, names, net, kmer, k_max, info)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


#: The per-task numbers :func:`summarise_seeds` averages.
METRICS = ("auroc", "auprc", "f1")


def summarise_seeds(runs: Sequence[dict]) -> dict:
    """Mean and SD (``ddof = 1``; 0 for one run) over seeds of every per-task metric of
    :func:`run_chromatin` results ``runs`` (same tasks in each), and the RNN's wins in AUROC:
    per seed, and on the seed means (``wins_on_means`` of ``eligible_tasks``)."""
    if not runs:
        raise ValueError("no runs to summarise.")
    models = [m for m in ("rnn", "kmer_lr", "lsgm") if f"auroc_{m}" in runs[0]["tasks"][0]]
    tasks = []
    for j, first in enumerate(runs[0]["tasks"]):
        row: dict = {"task": first["task"], "train": first["train"], "test": first["test"]}
        for metric in METRICS:
            for model in models:
                values = [r["tasks"][j][f"{metric}_{model}"] for r in runs]
                if any(v is None for v in values):
                    row[f"{metric}_{model}"] = row[f"{metric}_{model}_sd"] = None
                    continue
                row[f"{metric}_{model}"] = float(np.mean(values))
                row[f"{metric}_{model}_sd"] = (
                    float(np.std(values, ddof=1)) if len(runs) > 1 else 0.0
                )
        tasks.append(row)
    eligible = [
        t
        for j, t in enumerate(tasks)
        if runs[0]["tasks"][j]["train_positive_share"] >= 0.01 and t["auroc_rnn"] is not None
    ]
    wins = sum(t["auroc_rnn"] > t["auroc_kmer_lr"] for t in eligible)
    shares = [r["rnn_win_share"] for r in runs if r["rnn_win_share"] is not None]
    return {
        "seeds": len(runs),
        "tasks": tasks,
        "wins_on_means": wins,
        "eligible_tasks": len(eligible),
        "win_share_on_means": wins / len(eligible) if eligible else None,
        "win_share_per_seed": shares,
        "win_share_mean": float(np.mean(shares)) if shares else None,
        "win_share_sd": float(np.std(shares, ddof=1)) if len(shares) > 1 else 0.0,
    }
