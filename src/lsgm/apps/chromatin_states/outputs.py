"""ChromHMM's output files, same names and formats, written atomically.

For ``K`` states, in the output folder:

* ``model_K.txt`` (:func:`lsgm.data.write_chromhmm_model`; ChromHMM reads it);
* ``emissions_K.txt``: ``State (Emission order)`` then the marks, one row per state with
  ``p(mark present | state)``; ``emissions_K.png/.svg``, its heatmap;
* ``transitions_K.txt``: ``State (from\\to) (Emission order)`` then states ``1..K``, one row per
  from-state; ``transitions_K.png/.svg``;
* per cell ``CELL_K_segments.bed`` (``chrom start end E<k>``: the runs of equal state calls,
  4 columns as ChromHMM writes them), ``CELL_K_dense.bed`` (a UCSC track, BED9 with the
  state's colour; **its score column holds the segment's confidence**, ``round(1000 c)`` with
  ``c`` the mean posterior of the called state over the segment's bins; ChromHMM writes 0) and
  ``CELL_K_expanded.bed`` (BED12, one row per state and chromosome, the segments as blocks),
  and (beyond ChromHMM) ``CELL_K_confidence.bedgraph``, the same confidences as a track, one
  value in [0, 1] per segment;
* with ``-printposterior`` ``POSTERIOR/CELL_K_CHROM_posterior.txt`` (``cell chrom``, then
  ``E1 .. EK``, then one row of posteriors per bin, 4 decimals), with ``-printstatebyline``
  ``STATEBYLINE/CELL_K_CHROM_statebyline.txt`` (``cell chrom``, ``MaxState E``, one state a
  line);
* ``webpage_K.html``: one page showing and linking all of them.

Bin ``t`` of a chromosome covers ``[t b, (t + 1) b)`` for bin size ``b`` (``-b``, 200).
"""

from __future__ import annotations

import html
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lsgm.apps.chromatin_states.model import calls
from lsgm.data import Binarized, ChromHMMModel, atomic_write_text, write_chromhmm_model

POSTERIOR_DIR, STATEBYLINE_DIR = "POSTERIOR", "STATEBYLINE"

#: ``i / 10000`` as ChromHMM prints a posterior (4 decimals, no trailing zeros).
_TICKS = np.array([np.format_float_positional(i / 10_000, trim="-") for i in range(10_001)])


def state_colours(K: int) -> list[str]:
    """``K`` distinct ``r,g,b`` colours (matplotlib's ``tab20`` up to 20 states, evenly
    spaced hues beyond)."""
    from matplotlib import colormaps

    cmap = colormaps["tab20" if K <= 20 else "hsv"]
    values = [cmap(k if K <= 20 else k / K) for k in range(K)]
    return [",".join(str(round(255 * c)) for c in rgba[:3]) for rgba in values]


@dataclass
class Segmentation:
    """The state calls of one binarized file: ``states [T]`` (0-based) and its runs
    ``[start, end)`` in bins with their confidences (:func:`model.calls`)."""

    data: Binarized
    posterior: np.ndarray
    states: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    confidence: np.ndarray


def segmentations(
    data: Sequence[Binarized], posteriors: Sequence[np.ndarray]
) -> list[Segmentation]:
    """One :class:`Segmentation` per file from its posterior ``[T, K]``."""
    return [Segmentation(d, p, *calls(p)) for d, p in zip(data, posteriors, strict=True)]


def output_names(K: int, data: Sequence[Binarized], options: dict) -> list[str]:
    """The names written into the output folder (not the POSTERIOR/STATEBYLINE files)."""
    cells = sorted({d.cell for d in data})
    names = [f"model_{K}.txt", f"emissions_{K}.txt", f"transitions_{K}.txt", f"webpage_{K}.html"]
    if not options.get("noimage"):
        names += [
            f"{what}_{K}.{ext}" for what in ("emissions", "transitions") for ext in ("png", "svg")
        ]
    if options.get("restarts"):
        names += [f"restarts_{K}.txt", f"emission_spread_{K}.txt", f"transition_spread_{K}.txt"]
    for cell in cells:
        if not options.get("nobed"):
            names.append(f"{cell}_{K}_segments.bed")
        if not options.get("nobrowser"):
            names += [
                f"{cell}_{K}_dense.bed",
                f"{cell}_{K}_expanded.bed",
                f"{cell}_{K}_confidence.bedgraph",
            ]
    return names


def by_line_names(K: int, data: Sequence[Binarized], kind: str) -> list[str]:
    """The files of ``POSTERIOR`` (``kind="posterior"``) or ``STATEBYLINE``."""
    return [f"{d.cell}_{K}_{d.chrom}_{kind}.txt" for d in data]


def table(header: str, rows: np.ndarray, columns: Sequence[str]) -> str:
    """A ChromHMM parameter table: ``header`` and ``columns``, then row ``k + 1`` of
    ``rows``."""
    lines = ["\t".join([header, *columns])]
    lines += ["\t".join([str(k + 1), *(repr(float(v)) for v in row)]) for k, row in enumerate(rows)]
    return "\n".join(lines) + "\n"


def write_parameters(outdir: Path, model: ChromHMMModel, images: bool = True) -> None:
    """``model_K.txt``, ``emissions_K.*`` and ``transitions_K.*``."""
    from lsgm.plots import plot_emission_matrix, plot_transition_matrix

    K = model.num_states
    states = [str(k + 1) for k in range(K)]
    write_chromhmm_model(outdir / f"model_{K}.txt", model)
    atomic_write_text(
        outdir / f"emissions_{K}.txt",
        table("State (Emission order)", model.emission, model.marks),
    )
    atomic_write_text(
        outdir / f"transitions_{K}.txt",
        table("State (from\\to) (Emission order)", model.transition, states),
    )
    if images:
        for ext in ("png", "svg"):
            plot_emission_matrix(
                model.emission,
                outdir / f"emissions_{K}.{ext}",
                state_names=states,
                symbols=model.marks,
                kind="bernoulli",
                title=f"Emission probabilities, {K} states",
                bar_label="p(mark present | state)",
            )
            plot_transition_matrix(
                model.transition,
                outdir / f"transitions_{K}.{ext}",
                state_names=states,
                title=f"Transition probabilities, {K} states",
            )


def _by_cell(segs: Sequence[Segmentation]) -> dict[str, list[Segmentation]]:
    cells: dict[str, list[Segmentation]] = defaultdict(list)
    for s in segs:
        cells[s.data.cell].append(s)
    return dict(sorted(cells.items()))


def write_segments(
    outdir: Path, K: int, segs: Sequence[Segmentation], bin_size: int, browser: bool, bed: bool
) -> None:
    """Per cell ``CELL_K_segments.bed`` and the ``dense``/``expanded`` browser tracks."""
    colours = state_colours(K)
    for cell, parts in _by_cell(segs).items():
        four, dense, confident = [], [], []
        expanded: dict[int, list[str]] = defaultdict(list)
        for s in parts:
            chrom, end = s.data.chrom, len(s.states) * bin_size
            a, b = s.starts * bin_size, s.ends * bin_size
            k = s.states[s.starts]
            score = np.rint(1000 * s.confidence).astype(int)
            for i in range(len(a)):
                four.append(f"{chrom}\t{a[i]}\t{b[i]}\tE{k[i] + 1}\n")
                confident.append(f"{chrom}\t{a[i]}\t{b[i]}\t{s.confidence[i]:.4f}\n")
                dense.append(
                    f"{chrom}\t{a[i]}\t{b[i]}\t{k[i] + 1}\t{score[i]}\t.\t{a[i]}\t{b[i]}\t"
                    f"{colours[k[i]]}\n"
                )
            for state in range(K):
                mine = k == state
                starts = [0, *a[mine].tolist(), end - 1]
                sizes = [0, *(b[mine] - a[mine]).tolist(), 1]
                thick = int(a[mine][0]) if mine.any() else end
                expanded[state].append(
                    f"{chrom}\t0\t{end}\t{state + 1}\t0\t.\t{thick}\t{end}\t{colours[state]}\t"
                    f"{len(starts)}\t{','.join(map(str, sizes))}\t{','.join(map(str, starts))}\n"
                )
        if bed:
            atomic_write_text(outdir / f"{cell}_{K}_segments.bed", "".join(four))
        if browser:
            atomic_write_text(
                outdir / f"{cell}_{K}_confidence.bedgraph",
                f'track type=bedGraph name="{cell}_{K}_confidence" description="{cell}_{K} mean '
                'posterior of the called state per segment" viewLimits=0:1\n' + "".join(confident),
            )
            track = f'name="{cell}_{K}" description="{cell}_{K} (Emission ordered)"'
            atomic_write_text(
                outdir / f"{cell}_{K}_dense.bed",
                f'track {track} visibility=1 itemRgb="On"\n' + "".join(dense),
            )
            first = parts[0]
            window = f"{first.data.chrom}:1-{int(first.ends[0]) * bin_size + 1}"
            rows = [row for state in range(K - 1, -1, -1) for row in expanded[state]]
            atomic_write_text(
                outdir / f"{cell}_{K}_expanded.bed",
                f'track name="Expanded_{cell}_{K}" description="{cell}_{K} (Emission ordered)" '
                f'visibility=2 itemRgb="On"\nbrowser position {window}\n' + "".join(rows),
            )


def write_by_line(outdir: Path, K: int, segs: Sequence[Segmentation], kind: str) -> None:
    """``POSTERIOR/CELL_K_CHROM_posterior.txt`` (``kind="posterior"``) or
    ``STATEBYLINE/CELL_K_CHROM_statebyline.txt`` for every file."""
    folder = outdir / (POSTERIOR_DIR if kind == "posterior" else STATEBYLINE_DIR)
    for s in segs:
        head = f"{s.data.cell}\t{s.data.chrom}\n"
        if kind == "posterior":
            head += "\t".join(f"E{k + 1}" for k in range(K)) + "\n"
            # 4 decimals, trailing zeros dropped ("0", "0.25", "1"): a lookup of 10,001 texts
            ticks = np.rint(np.clip(s.posterior.astype(np.float64), 0, 1) * 10_000).astype(int)
            body = "\n".join("\t".join(row) for row in _TICKS[ticks].tolist())
        else:
            head += "MaxState E\n"
            body = "\n".join(map(str, (s.states + 1).tolist()))
        atomic_write_text(
            folder / f"{s.data.cell}_{K}_{s.data.chrom}_{kind}.txt", head + body + "\n"
        )


def write_webpage(
    outdir: Path, model: ChromHMMModel, data: Sequence[Binarized], summary: dict, options: dict
) -> None:
    """``webpage_K.html``: the run's settings, the parameter heatmaps and tables, the
    training trace and links to every segmentation and track."""
    K = model.num_states
    esc = html.escape
    lines = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>lsgm chromatin states, {K} states</title></head><body>",
        f"<h1>lsgm chromatin-state report ({K} states)</h1>",
        "<ul>",
        *(
            f"<li>{esc(str(k))}: {esc(str(v))}</li>"
            for k, v in summary.items()
            if k not in ("iterations", "enrichments")
        ),
        "</ul><h2>Model parameters</h2>",
    ]
    for what, title in (("emissions", "Emission"), ("transitions", "Transition")):
        if not options.get("noimage"):
            lines += [
                f'<img src="{what}_{K}.png" alt="{title} parameters"><br>',
                f'<a href="{what}_{K}.svg">{title} parameters (SVG)</a><br>',
            ]
        lines.append(f'<a href="{what}_{K}.txt">{title} parameters (tab-delimited text)</a><br>')
    lines.append(f'<a href="model_{K}.txt">All model parameters (ChromHMM model file)</a><br>')
    trace = summary.get("iterations") or []
    if trace:
        lines += [
            "<h2>Training</h2><table border=1><tr><th>iteration</th><th>log-likelihood</th>"
            "<th>change</th><th>seconds</th></tr>",
            *(
                f"<tr><td>{it.number}</td><td>{it.log_likelihood:.3f}</td>"
                f"<td>{it.change:.3f}</td><td>{it.seconds:.2f}</td></tr>"
                for it in trace
            ),
            "</table>",
        ]
    if options.get("state_selection"):
        lines += [
            "<h2>Number of states (beyond ChromHMM)</h2>",
            '<img src="state_selection.png" alt="held-out log-likelihood and BIC against K"><br>',
            '<a href="state_selection.txt">the table (tab-delimited)</a> · '
            '<a href="state_selection.svg">SVG</a><br>',
        ]
    if options.get("restarts"):
        lines += [
            f"<h2>Spread over {options['restarts'] + 1} fits (beyond ChromHMM)</h2>",
            f'<a href="restarts_{K}.txt">the fits</a> · <a href="emission_spread_{K}.txt">'
            f'emission SDs</a> · <a href="transition_spread_{K}.txt">transition SDs</a><br>',
        ]
    enrichments = summary.get("enrichments") or []
    if enrichments:
        lines.append("<h2>Enrichments (ChromHMM's OverlapEnrichment, NeighborhoodEnrichment)</h2>")
        for name in enrichments:
            if name.endswith(".png"):
                lines.append(f'<img src="{esc(name)}" alt="{esc(name)}"><br>')
            elif name.endswith(".txt"):
                lines.append(f'<a href="{esc(name)}">{esc(name)} (tab-delimited text)</a><br>')
    lines.append("<h2>Segmentations</h2><ul>")
    for cell in sorted({d.cell for d in data}):
        c = esc(cell)
        if not options.get("nobed"):
            lines.append(f'<li><a href="{c}_{K}_segments.bed">{c} segmentation (4-column BED)</a>')
        if not options.get("nobrowser"):
            lines.append(
                f'<li><a href="{c}_{K}_dense.bed">{c} browser track, dense (score: 1000 × '
                f'mean posterior of the called state)</a> · <a href="{c}_{K}_expanded.bed">'
                f'expanded</a> · <a href="{c}_{K}_confidence.bedgraph">confidence track</a>'
            )
    if options.get("printposterior"):
        lines.append(f'<li><a href="{POSTERIOR_DIR}">posterior probabilities per bin</a>')
    if options.get("printstatebyline"):
        lines.append(f'<li><a href="{STATEBYLINE_DIR}">state calls line by line</a>')
    lines.append("</ul></body></html>")
    atomic_write_text(outdir / f"webpage_{K}.html", "\n".join(lines) + "\n")
