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
from lsgm.apps.kmers import kmer_features
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
    ac_file, b_file, *, max_positives: int | None, valid_fraction=0.1, seed: int = 0
) -> Task:
    """A DeepBind task: training peaks (``_AC``, at most ``max_positives``, random) plus one
    dinucleotide shuffle of each as a negative; ``valid_fraction`` of those pairs held out for
    validation; the ``_B`` file (bound + unbound) is the test set."""
    pos, labels = read_deepbind(ac_file)
    if not labels.all():
        raise ValueError(f"{ac_file}: expected only bound (1) training peaks.")
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(pos))[: max_positives or len(pos)]
    pos = [pos[i] for i in idx]
    neg = [dinucleotide_shuffle(s, rng) for s in pos]
    n_valid = max(1, int(round(valid_fraction * len(pos))))
    x_train, x_valid = pos[n_valid:] + neg[n_valid:], pos[:n_valid] + neg[:n_valid]
    y_train = np.r_[np.ones(len(pos) - n_valid), np.zeros(len(pos) - n_valid)].astype(np.int8)
    y_valid = np.r_[np.ones(n_valid), np.zeros(n_valid)].astype(np.int8)
    test_x, test_y = read_deepbind(b_file)
    name = Path(ac_file).name.split("_")[0] + "_" + Path(ac_file).name.split("_")[1]
    return Task(name, x_train, y_train, x_valid, y_valid, test_x, test_y)


def load_tasks(
    folders: Sequence, *, crop: int | None = 100, max_positives: int | None = 1500, seed: int = 0
) -> list[Task]:
    """Every task found in ``folders``: a DeepSEA task where ``deepsea.data.valid.txt`` is,
    one DeepBind task per ``*_AC.seq.gz`` with its ``*_B.seq.gz``."""
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
            tasks.append(load_deepbind_task(ac, b, max_positives=max_positives, seed=seed))
    if not tasks:
        raise ValueError(
            f"no task found in {[str(f) for f in folders]}: expected deepsea.data.valid.txt "
            "(+ labels) or DeepBind *_AC.seq.gz / *_B.seq.gz files."
        )
    return tasks


# ------------------------------------------------------------------ the bidirectional GRU
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
        t = jnp.arange(L)[None, :]
        # reversal within each length (an involution; padding positions map to themselves)
        rev = jnp.where(t < lengths[:, None], lengths[:, None] - 1 - t, t)[..., None]
        seq, h0 = self.embed(x), zero_carry("gru", (B, self.hidden_size))
        for layer in range(self.num_layers):  # per direction: [B, L, ·] -> [B, L, H]
            _, f = scan_layer("gru", self.fwd_in[layer], self.fwd_rec[layer], h0, seq, time_axis=1)
            seq_rev = jnp.take_along_axis(seq, rev, axis=1)
            _, b_rev = scan_layer(
                "gru", self.bwd_in[layer], self.bwd_rec[layer], h0, seq_rev, time_axis=1
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


def predict_logits(model: BiGRUClassifier, x, lengths, batch_size: int = 64) -> np.ndarray:
    """``[N, T]`` logits in fixed-size batches (the last padded: one compile)."""
    model.eval()
    out = []
    for idx, valid in _batches(len(x), batch_size):
        xb = np.zeros((batch_size, x.shape[1]), np.int32)
        nb = np.ones(batch_size, np.int32)
        xb[valid], nb[valid] = x[idx], lengths[idx]
        out.append(np.asarray(_clf_logits(model, jnp.asarray(xb), jnp.asarray(nb)))[valid])
    return np.concatenate(out)


def fit_multitask_rnn(
    tasks: Sequence[Task],
    *,
    hidden_size: int = 128,
    num_layers: int = 2,
    trunk_size: int = 128,
    dropout: float = 0.05,
    epochs: int = 10,
    batch_size: int = 64,
    learning_rate: float = 1e-3,
    patience: int = 3,
    seed: int = 0,
    log: Callable[[str], object] | None = None,
) -> tuple[BiGRUClassifier, dict]:
    """Train a :class:`BiGRUClassifier` on every task at once (masked loss); keep the
    parameters of the epoch with the lowest validation loss; stop after ``patience`` epochs
    without improvement. Returns ``(model, history)``."""
    width = max(len(s) for t in tasks for s in (*t.train_x, *t.valid_x, *t.test_x))
    x, n, y, m = _stack(tasks, "train", width)
    vx, vn, vy, vm = _stack(tasks, "valid", width)
    model = BiGRUClassifier(
        len(tasks),
        hidden_size=hidden_size,
        num_layers=num_layers,
        trunk_size=trunk_size,
        dropout=dropout,
        rngs=nnx.Rngs(seed),
    )
    start = time.perf_counter()
    trainer = Trainer(
        model, HyperOptimizer(optax.adam, {"learning_rate": learning_rate}), _bce_objective
    )
    early = EarlyStopping(model, "valid_loss", patience=patience)
    history = {"train_loss": [], "valid_loss": [], "best_epoch": 0}

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
        history["train_loss"].append(mean_loss(losses))
        history["valid_loss"].append(vloss)
        return {"train_loss": history["train_loss"][-1], "valid_loss": vloss}

    callbacks = [early] if log is None else [early, EpochLog(log, _epoch_line)]
    run_epochs(trainer, batches, epochs=epochs, metrics=metrics, callbacks=callbacks)
    history["best_epoch"] = 0 if early.best_epoch is None else early.best_epoch + 1
    model.eval()
    history["seconds"] = time.perf_counter() - start
    return model, history


def _epoch_line(loop: Loop) -> str:
    train, valid = loop.logs["train_loss"], loop.logs["valid_loss"]
    return f"  BiGRU epoch {loop.epoch + 1}: train {train:.4f} valid {valid:.4f}"


def rnn_predictions(model: BiGRUClassifier, tasks: Sequence[Task]) -> list[np.ndarray]:
    """Per task, 0/1 predictions (``p > 0.5``) on its test sequences from its own output."""
    width = max(len(s) for t in tasks for s in (*t.train_x, *t.valid_x, *t.test_x))
    x, n, _, m = _stack(tasks, "test", width)
    logits = predict_logits(model, x, n)
    task_of = m.argmax(1)
    return [(logits[task_of == j, j] > 0).astype(np.int8) for j in range(len(tasks))]


# ------------------------------------------------------------------ baseline and LSGM
def fit_kmer_baseline(task: Task, *, k_max: int = 5, C: float = 1.0, max_iter: int = 2000):
    """k-mer counts → standardisation → L2 logistic regression (scikit-learn, lbfgs).

    ``C`` is scikit-learn's inverse regularisation strength. Returns ``(pipeline, test
    predictions)``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=max_iter))
    clf.fit(kmer_features(task.train_x, k_max), task.train_y)
    return clf, clf.predict(kmer_features(task.test_x, k_max)).astype(np.int8)


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
    is kept); predictions by the likelihood-ratio rule. ``width``: the padded length (default:
    the task's longest sequence; pass one value for all tasks to compile once). Returns
    ``(models, test predictions, seconds)``."""
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
    return models, (ratio > 0).astype(np.int8), time.perf_counter() - start


# ------------------------------------------------------------------ the experiment
def run_chromatin(
    tasks: Sequence[Task],
    *,
    rnn_kwargs: dict | None = None,
    lsgm_kwargs: dict | None = None,
    with_lsgm: bool = True,
    C: float = 1.0,
    seed: int = 0,
    log: Callable[[str], object] | None = None,
) -> dict:
    """F1 per task of the multitask bidirectional GRU, the k-mer logistic regression and
    (``with_lsgm``) the LSGM likelihood-ratio classifier, plus the share of tasks with at
    least 1 % training positives where the RNN's F1 is strictly higher than the baseline's.
    """
    model, history = fit_multitask_rnn(tasks, seed=seed, log=log, **(rnn_kwargs or {}))
    rnn_pred = rnn_predictions(model, tasks)
    width = max(len(s) for t in tasks for s in (*t.train_x, *t.valid_x, *t.test_x))
    rows = []
    for j, task in enumerate(tasks):
        start = time.perf_counter()
        _, lr_pred = fit_kmer_baseline(task, C=C)
        row = {
            "task": task.name,
            "train": len(task.train_x),
            "test": len(task.test_x),
            "train_positive_share": float(task.train_y.mean()),
            "f1_rnn": f1_score(task.test_y, rnn_pred[j]),
            "f1_kmer_lr": f1_score(task.test_y, lr_pred),
            "kmer_lr_seconds": time.perf_counter() - start,
        }
        if with_lsgm:
            _, lsgm_pred, seconds = fit_lsgm_classifier(
                task, seed=seed, width=width, **(lsgm_kwargs or {})
            )
            row["f1_lsgm"], row["lsgm_seconds"] = f1_score(task.test_y, lsgm_pred), seconds
        rows.append(row)
        if log is not None:
            log(
                f"  {task.name}: F1 RNN {row['f1_rnn']:.3f}  k-mer LR {row['f1_kmer_lr']:.3f}"
                + (f"  LSGM {row['f1_lsgm']:.3f}" if with_lsgm else "")
            )
    eligible = [r for r in rows if r["train_positive_share"] >= 0.01]
    wins = sum(r["f1_rnn"] > r["f1_kmer_lr"] for r in eligible)
    return {
        "tasks": rows,
        "rnn": {"n_parameters": model.n_parameters(), **history},
        "rnn_wins": wins,
        "eligible_tasks": len(eligible),
        "rnn_win_share": wins / len(eligible) if eligible else float("nan"),
    }
