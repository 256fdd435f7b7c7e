"""Figures for the report, as base64 PNG strings embedded in the HTML (no external files).

Two registries, one per place a figure goes:

* ``figure_for(kind)`` registers a *section* figure: it draws all findings of
  one kind together (relevance bars per target);
* ``figure_for(kind, per="finding")`` registers a *finding* figure: it draws one
  finding (the generator matrices of a Lie algebra, the Pareto front of an
  equation, a conserved quantity along the data's trajectories).

Makers take ``(findings or finding, dataset)`` (the dataset may be None) and
return ``[(caption, png_base64)]``. :func:`draw` runs a maker so that a figure
that fails becomes a one-line note and never breaks the page. LaTeX is drawn
with matplotlib's mathtext, so the page needs no network for MathJax; what
mathtext cannot parse falls back to text.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Callable
from typing import Any

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402

from physlens.findings import Finding  # noqa: E402

Figures = list[tuple[str, str]]
FigureMaker = Callable[..., Figures]
_SECTION_MAKERS: dict[str, list[FigureMaker]] = {}  # several probes may draw figures for one kind
_FINDING_MAKERS: dict[str, list[FigureMaker]] = {}

MAX_GENERATORS = 8  # heat maps drawn per algebra; the rest are counted in the caption
DIVERGING = "RdBu_r"


def figure_for(kind: str, per: str = "section") -> Callable[[FigureMaker], FigureMaker]:
    """Register a figure maker for findings of ``kind``; it returns ``[(caption, png_base64)]``.

    ``per="section"`` makers receive ``(findings, dataset)``, ``per="finding"``
    makers ``(finding, dataset)``; ``dataset`` may be None. Several makers may
    register for one kind (two probes that both report ``quality``, say): each is
    run, and a maker returns ``[]`` for findings that are not its own.

    Example:
        >>> @figure_for("quality")
        ... def _quality_figs(findings, dataset):
        ...     return []
        >>> _ = _SECTION_MAKERS["quality"].remove(_quality_figs)
    """
    if per not in ("section", "finding"):
        raise ValueError(f"per must be 'section' or 'finding', got {per!r}")

    def deco(fn: FigureMaker) -> FigureMaker:
        makers = (_SECTION_MAKERS if per == "section" else _FINDING_MAKERS).setdefault(kind, [])
        if fn not in makers:
            makers.append(fn)
        return fn

    return deco


def _load_kind_modules() -> None:
    """Import every module of :mod:`physlens.report.kinds` (once, cached): each registers its makers with :func:`figure_for`.

    A new finding kind brings its figures as one new file there, without touching this module.
    """
    from physlens.plugins import import_submodules

    import_submodules("physlens.report.kinds", skip=())


def _one_line(exc: BaseException, limit: int = 160) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    text = f"{type(exc).__name__}: {text}"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def draw(maker: FigureMaker, *args: Any) -> tuple[Figures, str | None]:
    """Run a figure maker; on failure return no figure and a one-line note (figures it opened are closed).

    Example:
        >>> def broken(findings, dataset):
        ...     raise ValueError("no data")
        >>> draw(broken, [], None)
        ([], 'figure broken failed: ValueError: no data')
    """
    before = set(plt.get_fignums())
    try:
        return list(maker(*args)), None
    except Exception as exc:  # a figure must never break the report
        for num in set(plt.get_fignums()) - before:
            plt.close(num)
        return [], f"figure {getattr(maker, '__name__', 'maker')} failed: {_one_line(exc)}"


def section_figures(kind: str, findings: list[Finding], dataset: Any = None) -> tuple[Figures, str | None]:
    """The section figures of one kind, and a note when drawing failed.

    Example:
        >>> section_figures("quality", [])
        ([], None)
    """
    _load_kind_modules()
    return _draw_all(_SECTION_MAKERS.get(kind, []) if findings else [], findings, dataset)


def finding_figures(finding: Finding, dataset: Any = None) -> tuple[Figures, str | None]:
    """The figures drawn for one finding, and a note when drawing failed.

    Example:
        >>> figs, note = finding_figures(Finding("equation", "y = x", {"expression": "x", "complexity": 1,
        ...     "rmse": 0.1, "pareto": [{"expression": "1", "complexity": 1, "rmse": 1.0},
        ...                             {"expression": "x", "complexity": 1, "rmse": 0.1}]}))
        >>> len(figs), note
        (1, None)
    """
    _load_kind_modules()
    return _draw_all(_FINDING_MAKERS.get(finding.kind, []), finding, dataset)


def _draw_all(makers: list[FigureMaker], *args: Any) -> tuple[Figures, str | None]:
    figs: Figures = []
    notes = []
    for maker in makers:
        got, note = draw(maker, *args)
        figs.extend(got)
        if note:
            notes.append(note)
    return figs, ("; ".join(notes) or None)


def figures_for_findings(findings: list[Finding], dataset: Any = None) -> Figures:
    """All figures for a list of findings, kind by kind (failures become captions without image).

    Example:
        >>> figures_for_findings([])
        []
    """
    by_kind: dict[str, list[Finding]] = {}
    for f in findings:
        by_kind.setdefault(f.kind, []).append(f)
    out: Figures = []
    for kind, group in by_kind.items():
        figs, note = section_figures(kind, group, dataset)
        out.extend(figs)
        if note:
            out.append((note, ""))
        for f in group:
            figs, note = finding_figures(f, dataset)
            out.extend(figs)
            if note:
                out.append((note, ""))
    return out


def to_png(fig, dpi: int = 110) -> str:
    """Render a matplotlib figure to a base64 PNG string and close it (also when rendering fails).

    Example:
        >>> fig = plt.figure(); len(to_png(fig)) > 100
        True
    """
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    finally:
        plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def latex_png(latex: str, fontsize: int = 15) -> str | None:
    """Render a LaTeX formula with matplotlib mathtext; None when mathtext cannot parse it.

    Example:
        >>> latex_png(r"x^{2}") is not None
        True
        >>> latex_png(r"\\begin{matrix} x \\end{matrix}") is None
        True
    """
    if not latex or not latex.strip() or len(latex) > 2000:
        return None
    fig = plt.figure(figsize=(0.1, 0.1))
    fig.text(0, 0, f"${latex}$", fontsize=fontsize)
    try:
        return to_png(fig, dpi=130)
    except Exception:
        return None


def training_curve(history: list[dict]) -> str | None:
    """Train and validation loss per epoch (log scale).

    Example:
        >>> training_curve([{"epoch": 1, "train_loss": 1.0, "val_loss": 1.2}]) is not None
        True
    """
    if not history:
        return None
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ep = [h["epoch"] for h in history]
    for key, label in (("train_loss", "train"), ("val_loss", "validation")):
        vals = [h.get(key) for h in history]
        if any(v is not None for v in vals):
            ax.plot(ep, [np.nan if v is None else v for v in vals], label=label, marker="." if len(ep) < 30 else None)
    if any(h.get(k, 0) and h.get(k, 0) > 0 for h in history for k in ("train_loss", "val_loss")):
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (standardised MSE)")
    ax.legend()
    ax.grid(alpha=0.3, which="both")
    ax.set_title("Training")
    return to_png(fig)


# --------------------------------------------------------------------------- helpers
def _matrix(a: Any) -> np.ndarray:
    m = np.asarray(a, dtype=float)
    if m.ndim != 2:
        raise ValueError(f"expected a matrix, got shape {m.shape}")
    return m


def _input_labels(n: int, dataset: Any) -> list[str]:
    names = list(getattr(dataset, "input_names", []) or [])
    return names if len(names) == n else [f"x{i + 1}" for i in range(n)]


def _target_labels(k: int, dataset: Any) -> list[str]:
    names = list(getattr(dataset, "target_names", []) or [])
    return names if len(names) == k else [f"y{i + 1}" for i in range(k)]


def _short(text: str, limit: int = 28) -> str:
    """A user string shortened for a plot label, with ``$`` escaped so matplotlib never reads it as mathtext."""
    text = str(text)
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return text.replace("$", r"\$")


def signed_permutation_text(T: Any, names: list[str]) -> str | None:
    """``(q, p) → (−q, p)`` when ``T`` (acting as ``x' = T x``) is a signed permutation; None otherwise.

    Example:
        >>> signed_permutation_text([[0, 1], [-1, 0]], ["q", "p"])
        '(q, p) → (p, −q)'
        >>> signed_permutation_text([[0.6, 0.8], [-0.8, 0.6]], ["q", "p"]) is None
        True
    """
    M = _matrix(T)
    if M.shape[0] != M.shape[1] or M.shape[0] != len(names):
        return None
    R = np.round(M)
    if not np.allclose(M, R, atol=1e-9) or not np.all(np.abs(R).sum(axis=1) == 1) or not np.all(np.abs(R).sum(axis=0) == 1):
        return None
    image = []
    for row in R:
        j = int(np.flatnonzero(row)[0])
        image.append(("−" if row[j] < 0 else "") + names[j])
    return f"({', '.join(names)}) → ({', '.join(image)})"


def _heatmap(ax, M: np.ndarray, rows: list[str], cols: list[str], title: str, annotate: bool) -> Any:
    vmax = float(np.max(np.abs(M))) if M.size else 1.0
    vmax = vmax if vmax > 0 else 1.0
    im = ax.imshow(M / vmax, cmap=DIVERGING, vmin=-1.0, vmax=1.0, aspect="equal")  # each map on its own scale
    fs = 9 if max(M.shape) <= 8 else max(5, int(9 - (max(M.shape) - 8) * 0.25))
    ax.set_xticks(range(M.shape[1]), [_short(c, 10) for c in cols], rotation=90 if M.shape[1] > 6 else 0, fontsize=fs)
    ax.set_yticks(range(M.shape[0]), [_short(r, 14) for r in rows], fontsize=fs)
    ax.set_xticks(np.arange(M.shape[1] + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(M.shape[0] + 1) - 0.5, minor=True)
    ax.grid(which="minor", color="white", lw=0.8)
    ax.tick_params(which="minor", length=0)
    ax.set_title(title, fontsize=10)
    if annotate:
        for (i, j), v in np.ndenumerate(M):
            if abs(v) >= 0.02 * vmax:
                ax.text(j, i, f"{v:.2g}", ha="center", va="center", fontsize=7.5,
                        color="white" if abs(v) > 0.6 * vmax else "black")
    return im


def generator_heatmaps(generators: list[Any], in_names: list[str], title: str,
                       out_generators: list[Any] | None = None, out_names: list[str] | None = None) -> str:
    """One heat map per affine generator ``[L | b]`` (rows: d(input), columns: inputs and ``1``), centred at 0.

    When output generators are given (equivariance), each input generator is
    drawn above its output generator.

    Example:
        >>> len(generator_heatmaps([[[0, -1, 0], [1, 0, 0]]], ["x", "y"], "so(2)")) > 100
        True
    """
    n = _matrix(generators[0]).shape[0]
    shown = MAX_GENERATORS if n <= 8 else 6 if n <= 14 else 4  # keep a figure of many inputs readable
    gens = [_matrix(g) for g in generators[:shown]]
    outs = [_matrix(g) for g in (out_generators or [])[: len(gens)]]
    rows_per = 2 if outs and len(outs) == len(gens) else 1
    k = len(gens)
    ncol = min(k, 4 if n <= 6 else 2)
    nrow = math.ceil(k / ncol) * rows_per
    cell = 0.42 if n <= 8 else max(0.12, 3.4 / n)
    w = max(2.6, (n + 1) * cell + 1.2)
    h_in = max(1.8, n * cell + 0.8)
    h_out = max(1.4, (outs[0].shape[0] * cell + 1.0)) if rows_per == 2 else 0
    heights = ([h_in, h_out] if rows_per == 2 else [h_in]) * math.ceil(k / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(w * ncol + 0.8, sum(heights)), squeeze=False, layout="constrained",
                             gridspec_kw={"height_ratios": heights})
    cols = list(in_names) + ["1"]
    rows = [f"δ{nm}" for nm in in_names]
    annotate = n <= 8
    im = None
    for idx, G in enumerate(gens):
        r, c = divmod(idx, ncol)
        im = _heatmap(axes[r * rows_per][c], G, rows, cols, f"generator {idx + 1}", annotate)
        if rows_per == 2:
            O = outs[idx]
            onames = out_names if out_names and len(out_names) == O.shape[0] else [f"y{i + 1}" for i in range(O.shape[0])]
            ocols = onames + ["1"] if O.shape[1] == O.shape[0] + 1 else onames
            _heatmap(axes[r * rows_per + 1][c], O, [f"δ{nm}" for nm in onames], ocols,
                     f"generator {idx + 1}: outputs", annotate)
    for idx in range(k, nrow // rows_per * ncol):
        r, c = divmod(idx, ncol)
        for s in range(rows_per):
            axes[r * rows_per + s][c].axis("off")
    more = f" (first {shown} of {len(generators)})" if len(generators) > shown else ""
    fig.suptitle(_short(title, 90) + more, fontsize=12)
    if im is not None:
        fig.colorbar(im, ax=axes.ravel().tolist(), shrink=0.6 if nrow > 1 else 0.9, label="coefficient / largest in map")
    return to_png(fig)


# --------------------------------------------------------------------------- symmetry
@figure_for("symmetry", per="finding")
def symmetry_figures(finding: Finding, dataset: Any = None) -> Figures:
    """Heat maps of a continuous algebra's generators (titled with its group); a discrete transform's matrix.

    A discrete transform that is a signed permutation is shown as text by the
    report instead (see :func:`signed_permutation_text`), so it gets no figure.

    Example:
        >>> f = Finding("symmetry", "so(2)", {"generators": [[[0, -1, 0], [1, 0, 0]]], "group": "so(2)"})
        >>> [c for c, _ in symmetry_figures(f)]
        ['Generators [L | b] of so(2): each map moves the inputs by dx = (L x + b) dt']
    """
    v = finding.value if isinstance(finding.value, dict) else {}
    out: Figures = []
    if v.get("generators"):
        gens = v["generators"]
        n = _matrix(gens[0]).shape[0]
        names = _input_labels(n, dataset)
        group = v.get("group") or "an unnamed Lie algebra"
        outs = v.get("output_generators")
        k = _matrix(outs[0]).shape[0] if outs else 0
        png = generator_heatmaps(gens, names, f"{group}  ({len(gens)} generator{'s' if len(gens) > 1 else ''})",
                                 outs, _target_labels(k, dataset) if outs else None)
        out.append((f"Generators [L | b] of {group}: each map moves the inputs by dx = (L x + b) dt", png))
        phys = v.get("physical")
        if isinstance(phys, dict) and phys.get("generators"):
            pg = phys["generators"]
            pgroup = phys.get("group") or "an unnamed Lie algebra"
            png = generator_heatmaps(pg, names, f"acting alike on every particle: {pgroup}")
            out.append((f"The physical part, {pgroup}: one matrix on every vector of every particle", png))
    elif v.get("transform") is not None:
        T = _matrix(v["transform"])
        names = _input_labels(T.shape[0], dataset)
        if signed_permutation_text(T, names) is None:
            fig, ax = plt.subplots(figsize=(max(2.4, 0.42 * T.shape[1] + 1.2), max(2.0, 0.42 * T.shape[0] + 0.9)))
            im = _heatmap(ax, T, [f"{nm}'" for nm in names], names, _short(v.get("name", "transform"), 40),
                          T.shape[0] <= 8)
            fig.colorbar(im, ax=ax, shrink=0.8)
            out.append((f"Transform '{v.get('name', '')}': x' = T x", to_png(fig)))
    return out


# --------------------------------------------------------------------------- equations
@figure_for("equation", per="finding")
def pareto_figure(finding: Finding, dataset: Any = None) -> Figures:
    """The accuracy-complexity Pareto front of an equation search, the chosen law highlighted.

    The y axis is the RMSE (log scale; exact fits sit on a floor marked "exact").

    Example:
        >>> f = Finding("equation", "y = 2*x", {"expression": "2*x", "complexity": 3, "rmse": 1e-9,
        ...     "pareto": [{"expression": "x", "complexity": 1, "rmse": 0.5}, {"expression": "2*x", "complexity": 3,
        ...     "rmse": 1e-9}]}, target="y")
        >>> [c for c, _ in pareto_figure(f)]
        ['Pareto front of the equation search for y: error against complexity; the red star is the chosen law']
    """
    v = finding.value if isinstance(finding.value, dict) else {}
    front = [p for p in (v.get("pareto") or []) if isinstance(p, dict) and "complexity" in p]
    metric = "rmse"
    if not any("rmse" in p for p in front) and any("r2" in p for p in front):
        metric = "1-R²"
    if not front and "complexity" in v:
        front = [v]

    def err(p: dict) -> float:
        if metric == "rmse":
            return float(p.get("rmse", np.nan))
        return 1.0 - float(p.get("r2", np.nan))

    if len({(p.get("complexity"), p.get("expression")) for p in front}) < 2:
        return []  # a front of one formula says nothing the statement does not
    cx = np.array([float(p["complexity"]) for p in front])
    ey = np.array([err(p) for p in front])
    chosen_c = float(v.get("complexity", np.nan))
    chosen_e = err(v) if (metric in v or (metric == "1-R²" and "r2" in v)) else np.nan
    finite = ey[np.isfinite(ey) & (ey > 0)]
    pos = np.concatenate([finite, [chosen_e] if np.isfinite(chosen_e) and chosen_e > 0 else []])
    floor = (pos.min() / 10.0) if pos.size else 1e-12
    floor = max(floor, 1e-16)

    def shown(e: float) -> float:
        return e if np.isfinite(e) and e > 0 else floor

    order = np.argsort(cx)
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    ys = np.array([shown(e) for e in ey])
    ax.step(cx[order], ys[order], where="post", color="tab:blue", alpha=0.35)
    ax.plot(cx[order], ys[order], "o", color="tab:blue", label="Pareto front")
    for c, e, p in zip(cx, ys, front):
        ax.annotate(_short(p.get("expression", ""), 26), (c, e), textcoords="offset points", xytext=(5, 4),
                    fontsize=7.5, color="#333")
    if np.isfinite(chosen_c):
        ax.plot([chosen_c], [shown(chosen_e)], marker="*", ms=16, color="tab:red", ls="none", label="chosen law", zorder=5)
    ax.set_yscale("log")
    if ys.max() / ys.min() < 20:  # under a decade or so: plain tick labels, not 3.995 x 10^-2
        ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda val, _: f"{val:.4g}"))
        ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.yaxis.set_major_locator(matplotlib.ticker.LinearLocator(5))
        pad = (ys.max() - ys.min()) * 0.08 or ys.max() * 0.05
        ax.set_ylim(ys.min() - pad, ys.max() + pad)
    if np.any(ys == floor) or (np.isfinite(chosen_c) and shown(chosen_e) == floor):
        ax.axhline(floor, color="#999", lw=0.8, ls=":")
        ax.text(ax.get_xlim()[0], floor, " exact", va="bottom", fontsize=8, color="#666")
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_xlabel("complexity (expression-tree nodes)")
    ax.set_ylabel("RMSE" if metric == "rmse" else "1 − R²")
    target = finding.target or v.get("target") or "the target"
    ax.set_title(f"Equation search for {_short(target, 30)}")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="upper right")
    return [(f"Pareto front of the equation search for {target}: error against complexity; the red star is the "
             "chosen law", to_png(fig))]


# --------------------------------------------------------------------------- relevance
@figure_for("relevant-variable")
def relevance_bars(findings: list[Finding], dataset: Any = None) -> Figures:
    """Permutation importance per input (with error bars), relevant inputs coloured, one chart per target.

    Example:
        >>> f = Finding("relevant-variable", "x matters", {"variable": "x", "relevant": True, "permutation": 1.0},
        ...             target="y", subject="x")
        >>> [caption for caption, _ in relevance_bars([f])]
        ['Permutation importance for y (blue: relevant, gray: irrelevant; bars: ± one standard deviation)']
    """
    out = []
    targets = list(dict.fromkeys(f.target or "" for f in findings))
    for t in targets:
        group = [f for f in findings if (f.target or "") == t and isinstance(f.value, dict)]
        if not group:
            continue
        names = [str(f.subject or f.value.get("variable", "?")) for f in group]
        raw = np.array([float(f.value.get("permutation", f.value.get("importance", 0.0)) or 0.0) for f in group])
        errs = np.array([float(f.value.get("permutation_std", 0.0) or 0.0) for f in group])
        thr = group[0].evidence.get("threshold") if isinstance(group[0].evidence, dict) else None
        positive = raw[raw > 0]
        floor = min([*(positive / 30).tolist(), *([thr / 30] if thr else [])] or [1e-6])
        vals = np.maximum(raw, floor)
        lower = np.minimum(errs, vals - floor * 0.999)
        colors = ["tab:blue" if f.value.get("relevant") else "tab:gray" for f in group]
        fig, ax = plt.subplots(figsize=(max(4.0, 0.6 * len(names) + 2), 3.1))
        ax.bar(range(len(names)), vals, yerr=[lower, errs], color=colors, capsize=3, ecolor="#333")
        if thr:
            ax.axhline(thr, color="tab:red", ls="--", lw=1, label="relevance threshold")
            ax.legend(fontsize=8)
        for i, r in enumerate(raw):
            if r <= 0:
                ax.text(i, floor, "0", ha="center", va="bottom", fontsize=8, color="#555")
        ax.set_yscale("log")
        ax.set_ylim(bottom=floor)
        ax.set_axisbelow(True)
        ax.set_xticks(range(len(names)), [_short(n, 14) for n in names], rotation=45 if len(names) > 6 else 0,
                      ha="right" if len(names) > 6 else "center")
        ax.set_ylabel(f"shuffle effect / Var({_short(t, 12)})")
        ax.set_title(f"Which inputs the network uses for {_short(t, 30)}")
        ax.grid(alpha=0.3, axis="y")
        out.append((f"Permutation importance for {t} (blue: relevant, gray: irrelevant; bars: ± one standard "
                    "deviation)", to_png(fig)))
    return out


# --------------------------------------------------------------------------- conserved
def conserved_expression(value: Any):
    """The SymPy expression of a conserved finding's value (an expression, or a dict with ``expression``).

    Example:
        >>> conserved_expression({"expression": "p**2/2 + q**2/2"})
        p**2/2 + q**2/2
    """
    import sympy as sp

    from physlens.expressions import parse_expression

    expr = value.get("expression") if isinstance(value, dict) else value
    if isinstance(expr, str):
        return parse_expression(expr)
    if isinstance(expr, sp.Basic):
        return expr
    raise ValueError("the finding has no expression")


def conserved_along_trajectories(expr, dataset: Any, max_trajectories: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """(times (T,), relative variation (m, T)) of ``expr`` along the first trajectories of ``dataset``.

    The relative variation is ``(C(t) - C(0)) / scale`` with ``scale`` the
    spread of C over all trajectories (or ``|C(0)|`` when that is larger), so a
    conserved quantity stays near 0 and a broken one wanders by O(1).

    Example:
        >>> import sympy as sp
        >>> from physlens.systems import get_system
        >>> ds = get_system("harmonic_oscillator").sample(200, seed=0)
        >>> q, p = sp.symbols("q p", real=True)
        >>> t, rel = conserved_along_trajectories(p**2 / 2 + q**2 / 2, ds)
        >>> bool(np.abs(rel).max() < 1e-3)
        True
    """
    from physlens.probes.equations.simplify import evaluate

    traj = getattr(dataset, "trajectories", None)
    if traj is None:
        raise ValueError("the dataset has no trajectories")
    traj = np.asarray(traj, dtype=float)
    names = getattr(dataset, "state_names", None) or getattr(dataset, "input_names", [])
    if len(names) != traj.shape[2]:
        raise ValueError(f"{traj.shape[2]} state variables but {len(names)} names")
    used = traj[:max_trajectories]
    m, T, _ = used.shape
    flat = used.reshape(m * T, -1)
    cols = {nm: flat[:, j] for j, nm in enumerate(names)}
    with np.errstate(all="ignore"):
        C = np.asarray(evaluate(expr, cols), dtype=float).reshape(m, T)
    times = getattr(dataset, "times", None)
    t = np.asarray(times, dtype=float) if times is not None and len(times) == T else np.arange(T, dtype=float)
    spread = float(np.nanstd(C))
    scale = np.maximum(np.maximum(np.abs(C[:, :1]), spread), 1e-300)
    return t, (C - C[:, :1]) / scale


@figure_for("conserved", per="finding")
def conserved_figure(finding: Finding, dataset: Any = None) -> Figures:
    """The quantity along a few of the data's trajectories (relative variation against time).

    Nothing is drawn when the data have no trajectories (the report shows the table alone).

    Example:
        >>> from physlens.systems import get_system
        >>> ds = get_system("harmonic_oscillator").sample(200, seed=0)
        >>> f = Finding("conserved", "energy", {"expression": "p**2/2 + q**2/2"})
        >>> len(conserved_figure(f, ds))
        1
    """
    if dataset is None or getattr(dataset, "trajectories", None) is None:
        return []
    expr = conserved_expression(finding.value)
    t, rel = conserved_along_trajectories(expr, dataset)
    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    for i, r in enumerate(rel):
        ax.plot(t, r, lw=1.2, label=f"trajectory {i + 1}")
    worst = float(np.nanmax(np.abs(rel))) if np.isfinite(rel).any() else float("nan")
    ax.axhline(0, color="#999", lw=0.8)
    ax.set_xlabel("time" if getattr(dataset, "times", None) is not None else "step")
    ax.set_ylabel("(C(t) − C(0)) / scale")
    ax.set_title(f"Along {len(rel)} trajectories: largest relative change {worst:.2g}")
    ax.grid(alpha=0.3)
    if len(rel) <= 6:
        ax.legend(fontsize=7, ncol=3)
    return [(f"C = {_short(str(expr), 60)} along the data's trajectories (0 means exactly conserved)", to_png(fig))]
