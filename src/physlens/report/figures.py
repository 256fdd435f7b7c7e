"""Figures for the report, as base64 PNG strings embedded in the HTML (no external files).

``figure_for(kind)`` registers a function that draws the findings of one kind;
the report calls every registered function with that kind's findings. The
training curve and LaTeX rendering (matplotlib mathtext, so the page needs no
network for MathJax) are here too.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from physlens.findings import Finding  # noqa: E402

FigureMaker = Callable[[list[Finding]], list[tuple[str, str]]]
_MAKERS: dict[str, FigureMaker] = {}


def figure_for(kind: str) -> Callable[[FigureMaker], FigureMaker]:
    """Register a figure maker for findings of ``kind``; it returns ``[(caption, png_base64)]``.

    Example:
        >>> @figure_for("quality")
        ... def _quality_figs(findings):
        ...     return []
    """

    def deco(fn: FigureMaker) -> FigureMaker:
        _MAKERS[kind] = fn
        return fn

    return deco


def figures_for_findings(findings: list[Finding]) -> list[tuple[str, str]]:
    """All figures for a list of findings, kind by kind.

    Example:
        >>> figures_for_findings([])
        []
    """
    by_kind: dict[str, list[Finding]] = {}
    for f in findings:
        by_kind.setdefault(f.kind, []).append(f)
    out: list[tuple[str, str]] = []
    for kind, group in by_kind.items():
        if kind in _MAKERS:
            try:
                out.extend(_MAKERS[kind](group))
            except Exception as exc:  # a figure must never break the report
                out.append((f"(figure for {kind} failed: {exc})", ""))
    return out


def to_png(fig) -> str:
    """Render a matplotlib figure to a base64 PNG string and close it.

    Example:
        >>> fig = plt.figure(); len(to_png(fig)) > 100
        True
    """
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def latex_png(latex: str) -> str | None:
    """Render a LaTeX formula with matplotlib mathtext; None when mathtext cannot parse it.

    Example:
        >>> latex_png(r"x^{2}") is not None
        True
    """
    fig = plt.figure(figsize=(0.1, 0.1))
    fig.text(0, 0, f"${latex}$", fontsize=15)
    try:
        return to_png(fig)
    except Exception:
        plt.close(fig)
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
    ax.semilogy(ep, [h["train_loss"] for h in history], label="train")
    ax.semilogy(ep, [h["val_loss"] for h in history], label="validation")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (standardised MSE)")
    ax.legend()
    ax.grid(alpha=0.3)
    return to_png(fig)


@figure_for("relevant-variable")
def relevance_bars(findings: list[Finding]) -> list[tuple[str, str]]:
    """Permutation importance per input (with error bars), relevant inputs coloured, one chart per target.

    Example:
        >>> f = Finding("relevant-variable", "x matters", {"variable": "x", "relevant": True, "permutation": 1.0},
        ...             target="y", subject="x")
        >>> [caption for caption, _ in relevance_bars([f])]
        ['Permutation importance for y (blue: relevant, gray: irrelevant)']
    """
    out = []
    targets = sorted({f.target or "" for f in findings})
    for t in targets:
        group = [f for f in findings if (f.target or "") == t]
        names = [f.subject or f.value.get("variable", "?") for f in group]
        vals = [max(f.value.get("permutation", 0.0), 1e-12) for f in group]
        errs = [f.value.get("permutation_std", 0.0) for f in group]
        colors = ["tab:blue" if f.value.get("relevant") else "tab:gray" for f in group]
        fig, ax = plt.subplots(figsize=(max(4, 0.7 * len(names) + 2), 3.2))
        ax.bar(range(len(names)), vals, yerr=errs, color=colors)
        thr = group[0].evidence.get("threshold")
        if thr:
            ax.axhline(thr, color="tab:red", ls="--", lw=1, label="relevance threshold")
            ax.legend()
        ax.set_yscale("log")
        ax.set_xticks(range(len(names)), names, rotation=45 if len(names) > 6 else 0)
        ax.set_ylabel(f"permutation effect / Var({t})")
        ax.set_title(f"Which inputs the network uses for {t}")
        out.append((f"Permutation importance for {t} (blue: relevant, gray: irrelevant)", to_png(fig)))
    return out
