"""Genome language models: next-base prediction with character-level RNNs, an HMM and an LSGM.

Genome-RNN paper (Zhang & Kamath 2016, §4.2): a character-level RNN reads a genome and
predicts the next base; the metric is the perplexity

    PP = exp( -(1/N) sum_t log p(x_t | x_{<t}) )        (N predicted bases),

4 for bases drawn uniformly at random, 1 for a perfectly predictable sequence.

* **Data.** :func:`read_genome` streams a FASTA (gzip or plain) or raw-text genome once into
  a compact ``int8`` array (``A=0, C=1, G=2, T=3``; 4.6 MB for *E. coli*; no per-base Python
  objects). :func:`split_genome` keeps the last ``test_fraction`` of it as the held-out
  (test) region and, with ``valid_fraction``, the ``valid_fraction`` of the genome just
  before it as the validation region: ``[train | valid | test]``, three contiguous pieces.
  Every model is fed windows *by index* into that array; no padded copy of the genome is
  ever made.
* **Protocol** (``docs/experiments/README.md``): each model trains for at most ``epochs``
  epochs; after every epoch its validation perplexity is computed (:func:`evaluate` on the
  validation region), the parameters of the best epoch are kept and training stops after
  ``patience`` epochs without a lower validation NLL (:class:`~lsgm.training.EarlyStopping`).
  The test region is scored once per model and seed, after training. :func:`run_genome`
  repeats every model over ``seeds`` and reports the mean and SD (``ddof = 1``) of the test
  perplexity and of the bits per base ``log2 PP = NLL / ln 2``.
* **RNN** (:class:`CharRNN`): embedding → ``num_layers`` vanilla-RNN / GRU / LSTM layers →
  softmax over 4 bases. :func:`fit_char_rnn` trains it as char-rnn does (the paper's code):
  the training region is cut into ``batch_size`` contiguous streams, each read in chunks of
  ``seq_length`` bases by truncated back-propagation, carrying the hidden state from chunk
  to chunk (zero at the start of each epoch); Adam, gradient clipping at norm 5.
* **HMM / LSGM** (:func:`fit_windows`): ``K``-state categorical models trained by Adam on
  the exact mean NLL per base of non-overlapping training windows of ``window`` bases, in
  shuffled minibatches (no state carried between windows).
* **Evaluation** (:func:`evaluate`): the held-out region is cut into consecutive windows of
  ``eval_length`` bases (the last one shorter). The RNN starts each window from the zero
  state and predicts bases ``2..n`` of it (the first base is context only, as in the paper's
  ``n - 1`` predictions). The HMM and LSGM score each window exactly, ``log p(x_1..x_n)``, so
  their count *includes* the first base of each window, predicted by the initial
  distribution with no context. That is the only conditioning difference; with windows of
  10,000 bases it moves the perplexity by well under 0.001.
"""

from __future__ import annotations

import gzip
import math
import time
from collections.abc import Callable
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from lsgm.apps.seeds import check_seeds, mean_sd, summarise
from lsgm.data import dna
from lsgm.distributions import Categorical
from lsgm.models import CELL_TYPES, HMM, LSGM, Carry, recurrent_layers, scan_stack, zero_carry
from lsgm.training import (
    Callback,
    EarlyStopping,
    FitDivergedError,
    HyperOptimizer,
    Loop,
    StepLog,
    Trainer,
    batch_nll,
    mean_loss,
    run_epochs,
)

Array = jax.Array
#: The cells of :class:`CharRNN`: ``"rnn"`` (vanilla tanh), ``"gru"``, ``"lstm"``.
CELLS = tuple(CELL_TYPES)
SYNTHETIC = {"random": "randomgenome_input.txt", "repeat": "repeatgenome_input.txt"}
#: The paper's perplexities on its two synthetic genomes (§4.2).
PAPER_SYNTHETIC = {"random": 4.003, "repeat": 1.002}
#: The paper's held-out *E. coli* perplexity (§4.2: GRU/RNN, one epoch, on U00096.2 with its
#: own split) and a strong DNA compressor's published rate on the same genome, in bits per
#: base (Moruga; it codes the whole genome adaptively, so it is a reference, not a held-out
#: score).
PAPER_ECOLI = {"perplexity": 3.679, "moruga_bits_per_base": 1.909}
#: FASTA accessions of *E. coli* K-12 MG1655 (the paper's U00096.2 and its RefSeq twin).
ECOLI_ACCESSIONS = ("NC_000913", "U00096")


# ------------------------------------------------------------------ reading a genome
def _open_binary(path: Path):
    with open(path, "rb") as handle:
        magic = handle.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")


def read_genome(path, *, record: int | None = None) -> np.ndarray:
    """Read one genome sequence into an ``int8`` array ``[N]`` (``A=0, C=1, G=2, T=3``).

    The file is read line by line (gzip detected from its first bytes) and each line is
    encoded with a 256-entry lookup table into a growing ``int8`` buffer, so memory is about
    one byte per base. Accepted: FASTA (``>`` headers; lowercase bases are soft-masked bases
    and read as uppercase) or raw text (lines of bases, no header, e.g. the paper's synthetic
    genomes).

    Args:
        path: the file.
        record: which FASTA record (0-based) to read; ``None`` requires the file to hold one.

    Raises:
        ValueError: a missing file, no bases, a symbol other than ``ACGTacgt`` (naming the
            line, column and symbol), several records without ``record``, or ``record`` out
            of range.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such genome file.")
    buffer = np.empty(1 << 16, dtype=np.int8)
    size, current, n_records, wanted = 0, -1, 0, 0 if record is None else int(record)
    with _open_binary(path) as handle:
        for line_no, raw in enumerate(handle, start=1):
            line = raw.rstrip(b"\r\n")
            if line.startswith(b">"):
                n_records += 1
                current += 1
                continue
            if not line.strip():
                continue
            if current == -1:  # raw text without a header: one record
                current, n_records = 0, 1
            if current != wanted:
                continue
            codes = dna.lookup(line)
            bad = np.flatnonzero(codes < 0)
            if bad.size:
                col = int(bad[0])
                raise ValueError(
                    f"{path}, line {line_no}, column {col + 1}: symbol {chr(line[col])!r} is "
                    "not one of A, C, G, T; a genome language model needs plain bases "
                    "(remove or replace ambiguous bases first)."
                )
            if size + codes.size > buffer.size:
                buffer = np.resize(buffer, max(2 * buffer.size, size + codes.size))
            buffer[size : size + codes.size] = codes
            size += codes.size
    if record is None and n_records > 1:
        raise ValueError(
            f"{path} holds {n_records} records; choose one with record=<0-based index>."
        )
    if record is not None and not 0 <= wanted < max(n_records, 1):
        raise ValueError(f"{path}: record={record} is out of range ({n_records} records).")
    if size == 0:
        raise ValueError(f"{path}: no bases found.")
    return buffer[:size].copy()


def load_synthetic_genome(name: str) -> np.ndarray:
    """The paper's bundled 30,000-base synthetic genome ``"random"`` or ``"repeat"``
    (``AGCTTGAGGC`` repeated) as ``int8 [30000]``."""
    from lsgm.datasets import data_path

    if name not in SYNTHETIC:
        raise ValueError(f"unknown synthetic genome {name!r}; choose one of {list(SYNTHETIC)}.")
    return read_genome(data_path(SYNTHETIC[name]))


def split_genome(
    codes: np.ndarray, test_fraction: float = 0.1, valid_fraction: float = 0.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(train, valid, test)`` views of ``codes [N]``, three contiguous regions in that order.

    ``test`` is the last ``round(N·test_fraction)`` bases, ``valid`` the
    ``round(N·valid_fraction)`` bases just before it (carved from the end of the training
    part; empty when ``valid_fraction = 0``), ``train`` the rest.

    Raises:
        ValueError: a fraction outside its range, or a region of fewer than 2 bases.
    """
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1); got {test_fraction}.")
    if not 0 <= valid_fraction < 1 - test_fraction:
        raise ValueError(
            f"valid_fraction must be in [0, 1 - test_fraction) = [0, {1 - test_fraction:g}); "
            f"got {valid_fraction}."
        )
    n_test = int(round(len(codes) * test_fraction))
    n_valid = int(round(len(codes) * valid_fraction))
    n_train = len(codes) - n_test - n_valid
    if n_test < 2 or n_train < 2 or (valid_fraction > 0 and n_valid < 2):
        raise ValueError(
            f"a genome of {len(codes)} bases is too short to hold out {test_fraction:.0%} "
            f"(test) and {valid_fraction:.0%} (validation) of it."
        )
    return codes[:n_train], codes[n_train : n_train + n_valid], codes[n_train + n_valid :]


def genome_accession(path) -> str | None:
    """The first word of the first FASTA header of ``path`` (gzip ok), or None without one."""
    with _open_binary(Path(path)) as handle:
        for raw in handle:
            words = raw.split()
            if words:
                first = words[0]
                return first[1:].decode(errors="replace") if first.startswith(b">") else None
    return None


# ------------------------------------------------------------------ the character-level RNN
class CharRNN(nnx.Module):
    """Embedding → stacked recurrent cells → ``Linear(H, 4)``: ``p(x_{t+1} | x_{<=t}, carry)``.

    Shapes: ``x [B, T]`` ints in ``0..3``; :meth:`__call__` returns logits ``[B, T, 4]`` (row
    ``t`` predicts base ``t + 1``) and the new carry. The carry is a list with one entry per
    layer: ``h [B, H]`` (``(c, h)`` for an LSTM), zero at the start of a stream
    (:meth:`zero_carry`). Cells: ``"rnn"`` (tanh), ``"gru"``, ``"lstm"``; the layers
    (parameters ``inputs/<layer>``, ``recurrents/<layer>``) and their scan are
    :mod:`lsgm.models.rnn`'s (:func:`~lsgm.models.rnn.recurrent_layers`,
    :func:`~lsgm.models.rnn.scan_stack`).
    """

    def __init__(
        self,
        cell: str = "gru",
        hidden_size: int = 128,
        num_layers: int = 2,
        embedding_dim: int = 16,
        *,
        rngs: nnx.Rngs,
    ):
        if cell not in CELLS:
            raise ValueError(f"cell={cell!r} is not one of {CELLS}.")
        if hidden_size < 1 or num_layers < 1 or embedding_dim < 1:
            raise ValueError(
                "hidden_size, num_layers and embedding_dim must be >= 1; got "
                f"{hidden_size}, {num_layers}, {embedding_dim}."
            )
        self.cell, self.hidden_size, self.num_layers = cell, int(hidden_size), int(num_layers)
        H = self.hidden_size
        self.embed = nnx.Embed(4, embedding_dim, rngs=rngs)
        sizes = [int(embedding_dim)] + [H] * (self.num_layers - 1)
        self.inputs, self.recurrents = recurrent_layers(cell, sizes, H, rngs=rngs)
        self.out = nnx.Linear(H, 4, rngs=rngs)

    def zero_carry(self, batch: int) -> list[Carry]:
        """The zero state for ``batch`` streams."""
        return [zero_carry(self.cell, (batch, self.hidden_size)) for _ in range(self.num_layers)]

    def __call__(self, x: Array, carry: list[Carry]) -> tuple[Array, list[Carry]]:
        """``x [B, T]``, ``carry`` (per layer ``[B, H]``) -> ``(logits [B, T, 4], new carry)``."""
        new_carry, seq = scan_stack(
            self.cell, self.inputs, self.recurrents, carry, self.embed(x), time_axis=1
        )
        return self.out(seq), new_carry

    def n_parameters(self) -> int:
        """Number of trainable scalars."""
        return int(sum(v.size for v in jax.tree.leaves(nnx.state(self, nnx.Param))))


def _adam(learning_rate: float, clip_norm: float) -> HyperOptimizer:
    """Adam after global-norm clipping, both numbers arguments of the compiled step."""
    return HyperOptimizer(optax.adam, {"learning_rate": learning_rate}, clip_norm=clip_norm)


class _Validation(Callback):
    """After each epoch: fail on a non-finite training NLL, and with a validation region
    put its NLL per base in ``loop.logs["valid_nll"]`` (for :class:`EarlyStopping`) and its
    perplexity in ``perplexities``."""

    def __init__(self, model, valid: np.ndarray | None, eval_length: int, perplexities: list):
        self.model, self.valid, self.eval_length = model, valid, eval_length
        self.perplexities = perplexities

    def on_epoch_end(self, loop: Loop) -> None:
        train = loop.logs.get("train_nll", math.nan)
        if not math.isfinite(train):
            raise FitDivergedError(
                f"{type(self.model).__name__} diverged in epoch {loop.epoch + 1}: training NLL "
                f"{train}; lower the learning rate."
            )
        if self.valid is None or len(self.valid) == 0:
            return
        r = evaluate(self.model, self.valid, eval_length=self.eval_length)
        if not math.isfinite(r["nll_per_base"]):
            raise FitDivergedError(
                f"{type(self.model).__name__} diverged in epoch {loop.epoch + 1}: validation "
                f"NLL {r['nll_per_base']}; lower the learning rate."
            )
        loop.logs["valid_nll"] = r["nll_per_base"]
        self.perplexities.append(r["perplexity"])


def _train(
    trainer: Trainer,
    batches,
    *,
    epochs: int,
    valid: np.ndarray | None,
    patience: int | None,
    eval_length: int,
    metrics,
    step_log: StepLog | None,
    carry=None,
) -> dict:
    """:func:`run_epochs` with per-epoch validation and early stopping; the model ends with
    the best epoch's parameters. Returns ``{"valid_perplexity": [per epoch], "best_epoch"
    (1-based; None without validation), "epochs_run", "stopped_early"}``."""
    if patience is not None and patience < 1:
        raise ValueError(f"patience must be >= 1 (or None: run every epoch); got {patience}.")
    perplexities: list[float] = []
    early = EarlyStopping(trainer.model, "valid_nll", patience=patience)
    callbacks = [_Validation(trainer.model, valid, eval_length, perplexities), early]
    loop = run_epochs(
        trainer,
        batches,
        epochs=epochs,
        metrics=metrics,
        callbacks=callbacks + ([] if step_log is None else [step_log]),
        carry=carry,
    )
    epochs_run = loop.epoch + 1
    return {
        "valid_perplexity": perplexities,
        "best_epoch": None if early.best_epoch is None else early.best_epoch + 1,
        "epochs_run": epochs_run,
        "stopped_early": epochs_run < epochs,
    }


def _next_base_nll(model, chunk, carry):
    """Objective: mean cross-entropy of bases ``1..L`` of ``chunk [B, L + 1]`` given the
    previous ones and the incoming ``carry``; the carry after the chunk goes to the next step."""
    logits, new_carry = model(chunk[:, :-1], carry)
    nll = optax.softmax_cross_entropy_with_integer_labels(logits, chunk[:, 1:])
    return nll.mean(), None, new_carry


def fit_char_rnn(
    model: CharRNN,
    codes: np.ndarray,
    *,
    seq_length: int = 50,
    batch_size: int = 50,
    epochs: int = 1,
    learning_rate: float = 2e-3,
    clip_norm: float = 5.0,
    valid: np.ndarray | None = None,
    patience: int | None = None,
    eval_length: int = 10_000,
    log: Callable[[str], object] | None = None,
) -> dict:
    """Train ``model`` in place on ``codes [N]`` by truncated BPTT over contiguous streams.

    The first ``batch_size · n`` bases (``n = N // batch_size``) are viewed as
    ``[batch_size, n]`` streams (a reshape, no copy); step ``s`` of an epoch reads columns
    ``s·L .. s·L + L`` (``L = seq_length``; inputs ``L`` bases, targets shifted by one) and
    starts from the carry the previous step ended with. Loss: mean cross-entropy per
    predicted base. At most ``epochs`` epochs; with ``valid`` (bases ``[M]``) the validation
    perplexity is computed after each epoch (:func:`evaluate`, windows of ``eval_length``),
    the best epoch's parameters are kept and training stops after ``patience`` epochs without
    improvement. The minibatches are deterministic (no shuffling): only the initialisation
    depends on the model's seed.

    Returns ``{"train_nll": [per-epoch mean], "valid_perplexity": [per epoch], "best_epoch",
    "epochs_run", "stopped_early", "steps": int, "seconds": float}``.

    Raises:
        FitDivergedError: a non-finite training or validation NLL.
    """
    if seq_length < 1 or batch_size < 1 or epochs < 1:
        raise ValueError(
            f"seq_length, batch_size and epochs must be >= 1; got {seq_length}, "
            f"{batch_size}, {epochs}."
        )
    n = len(codes) // batch_size
    steps = (n - 1) // seq_length
    if steps < 1:
        raise ValueError(
            f"{len(codes)} training bases are too few for batch_size={batch_size} streams of "
            f"seq_length={seq_length} + 1 bases; lower either."
        )
    streams = codes[: batch_size * n].reshape(batch_size, n)
    trainer = Trainer(model, _adam(learning_rate, clip_norm), _next_base_nll)
    history, start = [], time.perf_counter()

    def batches(epoch: int):
        for s in range(steps):
            chunk = streams[:, s * seq_length : s * seq_length + seq_length + 1]
            yield jnp.asarray(chunk, dtype=jnp.int32)

    def metrics(losses: list, _) -> dict:
        total = jnp.zeros(())
        for loss in losses:  # summed on the device, in order
            total = total + loss
        history.append(float(total) / steps)
        return {"train_nll": history[-1]}

    def line(loop: Loop, step: int, loss) -> str:
        return f"  {model.cell} epoch {loop.epoch + 1} step {step}/{steps} nll {float(loss):.4f}"

    run = _train(
        trainer,
        batches,
        epochs=epochs,
        valid=valid,
        patience=patience,
        eval_length=eval_length,
        metrics=metrics,
        step_log=None if log is None else StepLog(500, log, line),
        carry=lambda epoch: model.zero_carry(batch_size),
    )
    return {
        "train_nll": history,
        **run,
        "steps": steps * run["epochs_run"],
        "seconds": time.perf_counter() - start,
    }


# ------------------------------------------------------------------ HMM and LSGM on windows
def make_hmm(num_states: int, *, seed: int = 0) -> HMM:
    """A random ``K``-state HMM over the 4 bases."""
    return HMM(num_states, Categorical(num_states, 4, rngs=nnx.Rngs(seed)), rngs=nnx.Rngs(seed + 1))


def make_lsgm(num_states: int, *, hidden_size: int = 32, seed: int = 0) -> LSGM:
    """A ``K``-state LSGM over the 4 bases (one GRU layer, shared emission network)."""
    return LSGM(
        num_states,
        Categorical(num_states, 4, rngs=nnx.Rngs(seed)),
        rnn="gru",
        hidden_size=hidden_size,
        embedding_dim=8,
        rngs=nnx.Rngs(seed + 1),
    )


def _window_nll(model, x, carry):
    """Objective: the exact NLL per base of full windows ``x [B, W]``."""
    B, T = x.shape
    return batch_nll(model, x, jnp.full((B,), T), jnp.ones((B,))), None, carry


def fit_windows(
    model,
    codes: np.ndarray,
    *,
    window: int = 100,
    batch_size: int = 50,
    epochs: int = 1,
    learning_rate: float = 1e-2,
    clip_norm: float = 5.0,
    max_windows: int | None = None,
    seed: int = 0,
    valid: np.ndarray | None = None,
    patience: int | None = None,
    eval_length: int = 10_000,
    log: Callable[[str], object] | None = None,
) -> dict:
    """Train an HMM or LSGM in place on non-overlapping windows of ``codes``.

    Window ``i`` is ``codes[i·W : (i+1)·W]`` (``W = window``); each epoch visits the
    windows in a new random order (``numpy.random.default_rng([seed, epoch])``) in
    minibatches of ``batch_size`` gathered by index, minimising the exact NLL per base
    ``-sum_b log p(x_b) / (B·W)`` with Adam. The last incomplete minibatch of an epoch is
    skipped (at most ``batch_size - 1`` windows). ``max_windows``: use only that many windows
    spread evenly over the region (for a time budget). ``valid``, ``patience``,
    ``eval_length``: validation and early stopping as in :func:`fit_char_rnn`. Returns the
    history dict (:func:`fit_char_rnn`'s keys and ``"windows"``).
    """
    n_windows = len(codes) // window
    if max_windows is not None and max_windows < n_windows:
        chosen = np.linspace(0, n_windows - 1, max_windows).round().astype(np.int64)
    else:
        chosen = np.arange(n_windows)
    if len(chosen) < batch_size:
        raise ValueError(
            f"{len(chosen)} windows of {window} bases are fewer than batch_size={batch_size}; "
            "lower batch_size or window."
        )
    trainer = Trainer(model, _adam(learning_rate, clip_norm), _window_nll)
    offsets, n_batches = np.arange(window), len(chosen) // batch_size
    history, start = [], time.perf_counter()

    def batches(epoch: int):
        order = np.random.default_rng([seed, epoch]).permutation(chosen)
        for b in range(n_batches):
            idx = order[b * batch_size : (b + 1) * batch_size]
            yield jnp.asarray(codes[idx[:, None] * window + offsets], dtype=jnp.int32)

    def metrics(losses: list, _) -> dict:
        history.append(mean_loss(losses))
        return {"train_nll": history[-1]}

    def line(loop: Loop, step: int, loss) -> str:
        return f"  {type(model).__name__} epoch {loop.epoch + 1} step {step} nll {float(loss):.4f}"

    run = _train(
        trainer,
        batches,
        epochs=epochs,
        valid=valid,
        patience=patience,
        eval_length=eval_length,
        metrics=metrics,
        step_log=None if log is None else StepLog(200, log, line),
    )
    return {
        "train_nll": history,
        **run,
        "steps": n_batches * run["epochs_run"],
        "windows": int(len(chosen)),
        "seconds": time.perf_counter() - start,
    }


# ------------------------------------------------------------------ evaluation
def eval_windows(n: int, eval_length: int) -> list[tuple[int, int]]:
    """``(start, stop)`` of consecutive windows covering ``[0, n)``; the last may be shorter."""
    if eval_length < 2:
        raise ValueError(f"eval_length must be >= 2; got {eval_length}.")
    return [(s, min(s + eval_length, n)) for s in range(0, n, eval_length)]


@nnx.jit
def _rnn_window_logp(model, x, lengths):
    logits, _ = model(x[:, :-1], model.zero_carry(x.shape[0]))
    logp = -optax.softmax_cross_entropy_with_integer_labels(logits, x[:, 1:])
    mask = jnp.arange(1, x.shape[1])[None, :] < lengths[:, None]
    return jnp.where(mask, logp, 0.0).sum()


def _padded(codes: np.ndarray, spans: list[tuple[int, int]], rows: int, width: int):
    x = np.zeros((rows, width), dtype=np.int32)
    lengths = np.zeros(rows, dtype=np.int64)
    for row, (a, b) in enumerate(spans):
        x[row, : b - a], lengths[row] = codes[a:b], b - a
    return x, lengths


def evaluate(model, codes: np.ndarray, *, eval_length: int = 10_000, group: int = 8) -> dict:
    """Held-out perplexity of ``model`` (a :class:`CharRNN`, HMM or LSGM) on ``codes``.

    ``codes`` is cut by :func:`eval_windows`; windows are scored ``group`` at a time, padded
    to one ``[min(group, windows), eval_length]`` shape (one compile, shared by every region
    of at least ``group`` windows: validation and test; memory: that many positions; padding
    rows and positions count for nothing). RNN: ``sum log p(x_t | x_{window start..t-1})`` over
    bases ``2..n`` of each window. HMM/LSGM: ``sum log p(window)`` (exact forward algorithm),
    all ``n`` bases. Returns ``{"perplexity", "nll_per_base", "bits_per_base" (``NLL / ln 2 =
    log2 PP``), "bases", "windows"}``.
    """
    spans = eval_windows(len(codes), eval_length)
    total, bases = 0.0, 0
    is_rnn = isinstance(model, CharRNN)
    rows = min(group, len(spans))
    for g in range(0, len(spans), group):
        x, lengths = _padded(codes, spans[g : g + group], rows, eval_length)
        real = lengths > 0
        if is_rnn:
            total += float(_rnn_window_logp(model, jnp.asarray(x), jnp.asarray(lengths)))
            bases += int((lengths[real] - 1).sum())
        else:
            total += float(np.sum(model.score_samples(x, np.maximum(lengths, 1))[real]))
            bases += int(lengths.sum())
    nll = -total / bases
    return {
        "perplexity": math.exp(nll),
        "nll_per_base": nll,
        "bits_per_base": nll / math.log(2),
        "bases": bases,
        "windows": len(spans),
    }


# ------------------------------------------------------------------ one genome, all models
def _summary(runs: list[dict]) -> dict:
    """The per-seed runs of one model and the mean / SD over them of the test perplexity,
    bits per base, best validation perplexity and fit time."""
    keys = ("perplexity", "bits_per_base", "nll_per_base", "fit_seconds")
    out: dict = {"seeds": [r["seed"] for r in runs], "runs": runs, **summarise(runs, keys)}
    best = [min(r["valid_perplexity"]) for r in runs if r["valid_perplexity"]]
    if best:
        out["valid_perplexity"], out["valid_perplexity_sd"] = mean_sd(best)
    return out


def run_genome(
    codes: np.ndarray,
    *,
    cells=("gru",),
    hidden_size: int = 128,
    num_layers: int = 2,
    seq_length: int = 50,
    batch_size: int = 50,
    epochs: int = 1,
    learning_rate: float = 2e-3,
    num_states: int = 8,
    lsgm_hidden: int = 32,
    window: int = 100,
    max_windows: int | None = None,
    test_fraction: float = 0.1,
    valid_fraction: float = 0.0,
    patience: int | None = None,
    eval_length: int = 10_000,
    window_models=("hmm", "lsgm"),
    seeds=(0,),
    log: Callable[[str], object] | None = None,
) -> dict:
    """Fit RNNs (one per cell in ``cells``) and the ``window_models`` (``"hmm"``: a
    ``num_states`` HMM, ``"lsgm"``: a ``num_states`` LSGM with a ``lsgm_hidden`` GRU) on the
    training region of ``codes``, once per seed in ``seeds``.

    Split: :func:`split_genome` (``[train | valid | test]``). Every model gets the same
    budget: at most ``epochs`` epochs, validation perplexity after each, the best epoch kept,
    early stopping after ``patience`` epochs without improvement. Then the test region is
    scored once per model and seed. Seed ``s`` initialises RNN cell ``i`` with ``s + i`` and
    the HMM / LSGM with ``s`` (their window order too).

    Returns ``{"bases": {"total", "train", "valid", "test"}, "models": {name: {"kind",
    "n_parameters", "seeds", "runs": [per seed], "perplexity", "perplexity_sd",
    "bits_per_base", "bits_per_base_sd", "valid_perplexity", ...}}}`` (``*_sd``: None for one
    seed).
    """
    seeds = check_seeds(seeds)
    for kind in window_models:
        if kind not in ("hmm", "lsgm"):
            raise ValueError(f"window model {kind!r} is not 'hmm' or 'lsgm'.")
    train, valid, test = split_genome(codes, test_fraction, valid_fraction)
    fit = dict(epochs=epochs, valid=valid if len(valid) else None, patience=patience)
    fit["eval_length"] = eval_length
    runs: dict[str, tuple[str, int, list[dict]]] = {}

    def record(name: str, kind: str, model, seed: int, history: dict) -> None:
        seconds = history.pop("seconds")
        run = {"seed": seed, **history, "fit_seconds": seconds}
        run.update(evaluate(model, test, eval_length=eval_length))  # the test, once
        runs.setdefault(name, (kind, int(model.n_parameters()), []))[2].append(run)
        if log is not None:
            log(f"  {name} seed {seed}: test perplexity {run['perplexity']:.4f}")

    for seed in seeds:
        for i, cell in enumerate(cells):
            model = CharRNN(cell, hidden_size, num_layers, rngs=nnx.Rngs(seed + i))
            history = fit_char_rnn(
                model,
                train,
                seq_length=seq_length,
                batch_size=batch_size,
                learning_rate=learning_rate,
                log=log,
                **fit,
            )
            record(f"{cell.upper()} {num_layers}x{hidden_size}", "rnn", model, seed, history)
        for kind in window_models:
            if kind == "hmm":
                model, name = make_hmm(num_states, seed=seed), f"HMM K={num_states}"
            else:
                model = make_lsgm(num_states, hidden_size=lsgm_hidden, seed=seed)
                name = f"LSGM K={num_states} GRU {lsgm_hidden}"
            history = fit_windows(
                model,
                train,
                window=window,
                batch_size=batch_size,
                max_windows=max_windows,
                seed=seed,
                log=log,
                **fit,
            )
            history["train_windows"] = history.pop("windows")
            record(name, kind, model, seed, history)
    bases = {"total": len(codes), "train": len(train), "valid": len(valid), "test": len(test)}
    return {
        "bases": {k: int(v) for k, v in bases.items()},
        "models": {
            name: {"kind": kind, "n_parameters": n, **_summary(r)}
            for name, (kind, n, r) in runs.items()
        },
    }
