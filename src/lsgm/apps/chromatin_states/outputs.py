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
  value in [0, 1] per segment; with ``--posterior-track`` also
  ``CELL_K_posterior.bedgraph``, the posterior of the called state bin by bin,
  ``max_k p(z_t = k | x)`` (4 decimals; neighbouring bins of equal value merged);
* with ``-printposterior`` ``POSTERIOR/CELL_K_CHROM_posterior.txt`` (``cell chrom``, then
  ``E1 .. EK``, then one row of posteriors per bin, 4 decimals), with ``-printstatebyline``
  ``STATEBYLINE/CELL_K_CHROM_statebyline.txt`` (``cell chrom``, ``MaxState E``, one state a
  line);
* ``webpage_K.html``: one page showing and linking all of them.

Bin ``t`` of a chromosome covers ``[t b, (t + 1) b)`` for bin size ``b`` (``-b``, 200); a
chromosome length (``-l``) clips the last segment's end. ChromHMM's naming and drawing options
are a :class:`Style`: ``-i ID`` makes every ``K`` above ``K_ID``; ``-stateordering`` names the
order in the headers and the state labels (``E1``, ``T1``, ``F1`` with ``-holdroworder``);
the mark columns of ``emissions_K.*`` are put in ChromHMM's correlation order unless
``-holdcolumnorder``; ``-color`` is the heatmaps' colour; ``-gzip`` writes the segmentation,
browser and per-bin files gzipped (``.gz`` added); ``-nobrowserheader`` drops the track lines.
"""

from __future__ import annotations

import gzip
import html
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lsgm.apps.chromatin_states.model import calls, emission_order, runs
from lsgm.data import (
    Binarized,
    ChromHMMModel,
    atomic_write_bytes,
    atomic_write_text,
    value_runs,
    write_chromhmm_model,
)

POSTERIOR_DIR, STATEBYLINE_DIR = "POSTERIOR", "STATEBYLINE"

#: ``i / 10000`` as ChromHMM prints a posterior (4 decimals, no trailing zeros).
_TICKS = np.array([np.format_float_positional(i / 10_000, trim="-") for i in range(10_001)])


@dataclass(frozen=True)
class Style:
    """ChromHMM's naming and drawing options (module docstring).

    Attributes:
        outfile_id: ``-i``: ``K`` becomes ``K_ID`` in every file name ("" : none).
        order: the state order's name, ``"Emission"``, ``"Transition"`` or ``"Fixed"``.
        hold_columns: ``-holdcolumnorder``: the marks in the data's order in
            ``emissions_K.*`` (else ChromHMM's correlation order of the columns).
        color: ``-color``: the heatmaps' colour of the highest value (``r, g, b``).
        gzip: ``-gzip``: segmentation, browser and per-bin files gzipped.
        browser_header: False with ``-nobrowserheader``: no ``track``/``browser`` lines.
        posterior_track: write ``CELL_K_posterior.bedgraph`` (beyond ChromHMM).
        chrom_lengths: ``-l``: chromosome lengths in bases that clip the last segment.
    """

    outfile_id: str = ""
    order: str = "Emission"
    hold_columns: bool = False
    color: tuple[int, int, int] = (0, 0, 255)
    gzip: bool = False
    browser_header: bool = True
    posterior_track: bool = False
    chrom_lengths: Mapping[str, int] = field(default_factory=dict)

    def tag(self, K: int) -> str:
        """``K``, or ``K_ID`` with ``-i ID``."""
        return f"{K}_{self.outfile_id}" if self.outfile_id else str(K)

    @property
    def letter(self) -> str:
        """The state labels' letter: ``E``, ``T`` or ``F``."""
        return self.order[0]

    def gz(self, name: str) -> str:
        """``name`` as written: with ``.gz`` under ``-gzip``."""
        return name + ".gz" if self.gzip else name

    def cmap(self):
        """The heatmaps' colours: white to :attr:`color` (ChromHMM's)."""
        from matplotlib.colors import LinearSegmentedColormap

        top = tuple(v / 255 for v in self.color)
        return LinearSegmentedColormap.from_list("chromhmm", ["white", top])


def style_of(options: Mapping) -> Style:
    """``options["style"]`` or the default :class:`Style`."""
    return options.get("style") or Style()


def write_text(path: Path, text: str, gz: bool) -> None:
    """``text`` into ``path`` atomically, gzip-compressed with ``gz`` (the name as given)."""
    if gz:
        atomic_write_bytes(path, gzip.compress(text.encode(), compresslevel=6))
    else:
        atomic_write_text(path, text)


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
    ``[start, end)`` in bins with their confidences (:func:`model.calls`), ``called [T]``
    the posterior of the called state per bin, ``posterior [T, K]`` all of them (None when
    the calls came from a decoding: :func:`decoded_segmentations`)."""

    data: Binarized
    posterior: np.ndarray | None
    states: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    confidence: np.ndarray
    called: np.ndarray


def segmentations(
    data: Sequence[Binarized], posteriors: Sequence[np.ndarray]
) -> list[Segmentation]:
    """One :class:`Segmentation` per file from its posterior ``[T, K]``."""
    out = []
    for d, p in zip(data, posteriors, strict=True):
        states, *rest = calls(p)
        out.append(Segmentation(d, p, states, *rest, p[np.arange(len(states)), states]))
    return out


def decoded_segmentations(
    data: Sequence[Binarized], decoded: Sequence[tuple[np.ndarray, np.ndarray]]
) -> list[Segmentation]:
    """One :class:`Segmentation` per file from its decoding ``(states [T], called [T])``
    (:meth:`lsgm.HMM.posterior_decode`: the most probable state of every bin and its
    posterior), the same calls as :func:`segmentations` of the posteriors."""
    return [
        Segmentation(d, None, states, *runs(states, called), called)
        for d, (states, called) in zip(data, decoded, strict=True)
    ]


def output_names(K: int, data: Sequence[Binarized], options: dict) -> list[str]:
    """The names written into the output folder (not the POSTERIOR/STATEBYLINE files)."""
    style = style_of(options)
    tag = style.tag(K)
    cells = sorted({d.cell for d in data})
    names = [f"{what}_{tag}.txt" for what in ("model", "emissions", "transitions")]
    names.append(f"webpage_{tag}.html")
    if not options.get("noimage"):
        names += [
            f"{what}_{tag}.{ext}" for what in ("emissions", "transitions") for ext in ("png", "svg")
        ]
    if options.get("restarts"):
        names += [
            f"{what}_{tag}.txt" for what in ("restarts", "emission_spread", "transition_spread")
        ]
    for cell in cells:
        if not options.get("nobed"):
            names.append(style.gz(f"{cell}_{tag}_segments.bed"))
            if not options.get("nobrowser"):
                names += [style.gz(f"{cell}_{tag}_{kind}.bed") for kind in ("dense", "expanded")]
                names.append(f"{cell}_{tag}_confidence.bedgraph")
        if style.posterior_track:
            names.append(f"{cell}_{tag}_posterior.bedgraph")
    return names


def by_line_names(
    K: int, data: Sequence[Binarized], kind: str, style: Style | None = None
) -> list[str]:
    """The files of ``POSTERIOR`` (``kind="posterior"``) or ``STATEBYLINE``."""
    style = style or Style()
    return [style.gz(f"{d.cell}_{style.tag(K)}_{d.chrom}_{kind}.txt") for d in data]


def table(header: str, rows: np.ndarray, columns: Sequence[str]) -> str:
    """A ChromHMM parameter table: ``header`` and ``columns``, then row ``k + 1`` of
    ``rows``."""
    lines = ["\t".join([header, *columns])]
    lines += ["\t".join([str(k + 1), *(repr(float(v)) for v in row)]) for k, row in enumerate(rows)]
    return "\n".join(lines) + "\n"


def write_parameters(
    outdir: Path, model: ChromHMMModel, images: bool = True, style: Style | None = None
) -> None:
    """``model_K.txt``, ``emissions_K.*`` (mark columns in ChromHMM's correlation order
    unless ``style.hold_columns``) and ``transitions_K.*``."""
    from lsgm.plots import plot_emission_matrix, plot_transition_matrix

    style = style or Style()
    K, tag = model.num_states, style.tag(K=model.num_states)
    states = [str(k + 1) for k in range(K)]
    columns = np.arange(len(model.marks))
    if not style.hold_columns and len(columns) > 1:
        columns = emission_order(model.emission.T)
    marks = [model.marks[c] for c in columns]
    write_chromhmm_model(outdir / f"model_{tag}.txt", model)
    atomic_write_text(
        outdir / f"emissions_{tag}.txt",
        table(f"State ({style.order} order)", model.emission[:, columns], marks),
    )
    atomic_write_text(
        outdir / f"transitions_{tag}.txt",
        table(f"State (from\\to) ({style.order} order)", model.transition, states),
    )
    if images:  # each drawn once, written as PNG and SVG
        cmap = style.cmap()
        plot_emission_matrix(
            model.emission[:, columns],
            [outdir / f"emissions_{tag}.{ext}" for ext in ("png", "svg")],
            state_names=states,
            symbols=marks,
            kind="bernoulli",
            title=f"Emission probabilities, {K} states",
            bar_label="p(mark present | state)",
            cmap=cmap,
        )
        plot_transition_matrix(
            model.transition,
            [outdir / f"transitions_{tag}.{ext}" for ext in ("png", "svg")],
            state_names=states,
            title=f"Transition probabilities, {K} states",
            cmap=cmap,
        )


def _by_cell(segs: Sequence[Segmentation]) -> dict[str, list[Segmentation]]:
    cells: dict[str, list[Segmentation]] = defaultdict(list)
    for s in segs:
        cells[s.data.cell].append(s)
    return dict(sorted(cells.items()))


def _ends(s: Segmentation, bin_size: int, style: Style) -> tuple[np.ndarray, np.ndarray, int]:
    """The segments' ``[start, end)`` in bases and the chromosome's end: ``T b``, or its
    length (``-l``) where that is shorter (a partial last bin)."""
    end = len(s.states) * bin_size
    length = style.chrom_lengths.get(s.data.chrom)
    if length is not None:
        if length <= (len(s.states) - 1) * bin_size:
            raise ValueError(
                f"{s.data.path}: {len(s.states)} bins of {bin_size} bp but the chromosome "
                f"length file (-l) gives {s.data.chrom} {length} bp; check -b and the file."
            )
        end = min(end, length)
    return s.starts * bin_size, np.minimum(s.ends * bin_size, end), end


def _posterior_track(s: Segmentation, bin_size: int, end: int) -> list[str]:
    """bedGraph lines of ``max_k p(z_t = k | x)`` (4 decimals, equal neighbours merged by
    :func:`lsgm.data.value_runs`); the last one ends at ``end`` (the chromosome's end)."""
    return [
        f"{s.data.chrom}\t{a * bin_size}\t{min(b * bin_size, end)}\t{v:g}\n"
        for a, b, v in value_runs(s.called, 4)
    ]


def write_segments(
    outdir: Path,
    K: int,
    segs: Sequence[Segmentation],
    bin_size: int,
    browser: bool,
    bed: bool,
    style: Style | None = None,
) -> None:
    """Per cell ``CELL_K_segments.bed``, the ``dense``/``expanded`` browser tracks and the
    confidence (and, with ``style.posterior_track``, posterior) bedGraphs (module
    docstring)."""
    style = style or Style()
    tag, letter, order = style.tag(K), style.letter, style.order
    colours = state_colours(K)
    for cell, parts in _by_cell(segs).items():
        four, dense, confident, posterior = [], [], [], []
        expanded: dict[int, list[str]] = defaultdict(list)
        for s in parts:
            chrom = s.data.chrom
            a, b, end = _ends(s, bin_size, style)
            k = s.states[s.starts]
            score = np.rint(1000 * s.confidence).astype(int)
            if style.posterior_track:
                posterior += _posterior_track(s, bin_size, end)
            for i in range(len(a)):
                four.append(f"{chrom}\t{a[i]}\t{b[i]}\t{letter}{k[i] + 1}\n")
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
        head = style.browser_header
        if style.posterior_track:
            atomic_write_text(
                outdir / f"{cell}_{tag}_posterior.bedgraph",
                (
                    f'track type=bedGraph name="{cell}_{tag}_posterior" description="{cell}_{tag} '
                    'posterior of the called state per bin" viewLimits=0:1\n'
                    if head
                    else ""
                )
                + "".join(posterior),
            )
        if bed:
            write_text(outdir / style.gz(f"{cell}_{tag}_segments.bed"), "".join(four), style.gzip)
        if bed and browser:
            atomic_write_text(
                outdir / f"{cell}_{tag}_confidence.bedgraph",
                (
                    f'track type=bedGraph name="{cell}_{tag}_confidence" description="{cell}_{tag} '
                    'mean posterior of the called state per segment" viewLimits=0:1\n'
                    if head
                    else ""
                )
                + "".join(confident),
            )
            track = f'name="{cell}_{tag}" description="{cell}_{tag} ({order} ordered)"'
            write_text(
                outdir / style.gz(f"{cell}_{tag}_dense.bed"),
                (f'track {track} visibility=1 itemRgb="On"\n' if head else "") + "".join(dense),
                style.gzip,
            )
            first = parts[0]
            window = f"{first.data.chrom}:1-{int(_ends(first, bin_size, style)[1][0]) + 1}"
            rows = [row for state in range(K - 1, -1, -1) for row in expanded[state]]
            header = (
                f'track name="Expanded_{cell}_{tag}" description="{cell}_{tag} ({order} ordered)" '
                f'visibility=2 itemRgb="On"\nbrowser position {window}\n'
            )
            write_text(
                outdir / style.gz(f"{cell}_{tag}_expanded.bed"),
                (header if head else "") + "".join(rows),
                style.gzip,
            )


def write_by_line(
    outdir: Path, K: int, segs: Sequence[Segmentation], kind: str, style: Style | None = None
) -> None:
    """``POSTERIOR/CELL_K_CHROM_posterior.txt`` (``kind="posterior"``) or
    ``STATEBYLINE/CELL_K_CHROM_statebyline.txt`` for every file."""
    style = style or Style()
    folder = outdir / (POSTERIOR_DIR if kind == "posterior" else STATEBYLINE_DIR)
    for s in segs:
        head = f"{s.data.cell}\t{s.data.chrom}\n"
        if kind == "posterior":
            assert s.posterior is not None, "-printposterior needs the posteriors"
            head += "\t".join(f"{style.letter}{k + 1}" for k in range(K)) + "\n"
            # 4 decimals, trailing zeros dropped ("0", "0.25", "1"): a lookup of 10,001 texts
            ticks = np.rint(np.clip(s.posterior.astype(np.float64), 0, 1) * 10_000).astype(int)
            body = "\n".join("\t".join(row) for row in _TICKS[ticks].tolist())
        else:
            head += f"MaxState {style.letter}\n"
            body = "\n".join(map(str, (s.states + 1).tolist()))
        name = f"{s.data.cell}_{style.tag(K)}_{s.data.chrom}_{kind}.txt"
        write_text(folder / style.gz(name), head + body + "\n", style.gzip)


def write_webpage(
    outdir: Path, model: ChromHMMModel, data: Sequence[Binarized], summary: dict, options: dict
) -> None:
    """``webpage_K.html``: the run's settings, the parameter heatmaps and tables, the
    training trace and links to every segmentation and track."""
    K = model.num_states
    style = style_of(options)
    tag = style.tag(K)
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
                f'<img src="{what}_{tag}.png" alt="{title} parameters"><br>',
                f'<a href="{what}_{tag}.svg">{title} parameters (SVG)</a><br>',
            ]
        lines.append(f'<a href="{what}_{tag}.txt">{title} parameters (tab-delimited text)</a><br>')
    lines.append(f'<a href="model_{tag}.txt">All model parameters (ChromHMM model file)</a><br>')
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
            f'<a href="restarts_{tag}.txt">the fits</a> · <a href="emission_spread_{tag}.txt">'
            f'emission SDs</a> · <a href="transition_spread_{tag}.txt">transition SDs</a><br>',
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
        bed, dense, expanded = (
            style.gz(f"{c}_{tag}_{k}.bed") for k in ("segments", "dense", "expanded")
        )
        if not options.get("nobed"):
            lines.append(f'<li><a href="{bed}">{c} segmentation (4-column BED)</a>')
        if not options.get("nobrowser") and not options.get("nobed"):
            lines.append(
                f'<li><a href="{dense}">{c} browser track, dense (score: 1000 × mean posterior of '
                f'the called state)</a> · <a href="{expanded}">expanded</a> · '
                f'<a href="{c}_{tag}_confidence.bedgraph">confidence track</a>'
            )
        if style.posterior_track:
            lines.append(
                f'<li><a href="{c}_{tag}_posterior.bedgraph">{c} posterior of the called state '
                "per bin (bedGraph)</a>"
            )
    if options.get("printposterior"):
        lines.append(f'<li><a href="{POSTERIOR_DIR}">posterior probabilities per bin</a>')
    if options.get("printstatebyline"):
        lines.append(f'<li><a href="{STATEBYLINE_DIR}">state calls line by line</a>')
    lines.append("</ul></body></html>")
    atomic_write_text(outdir / f"webpage_{tag}.html", "\n".join(lines) + "\n")
