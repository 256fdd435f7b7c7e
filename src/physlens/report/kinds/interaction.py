"""Report figures for ``interaction`` findings: a heat map of pair strengths, one per target.

Each cell is the share of the target's variance carried by the pair's joint
(non-additive) part, on a logarithmic colour scale; interacting pairs are framed
and marked with their strength, pairs that were not tested stay blank.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from physlens.findings import Finding
from physlens.report.figures import Figures, _short, figure_for, plt, to_png


def strength_matrix(findings: list[Finding]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Input names, the symmetric matrix of pair strengths (NaN: not tested) and the interacting mask.

    Only pair findings (two variables) are used; call it with one target's findings.

    Example:
        >>> f = Finding("interaction", "a, b interact", {"variables": ["a", "b"], "interacting": True,
        ...             "strength": 0.4}, target="y")
        >>> names, M, hit = strength_matrix([f])
        >>> names, float(M[0, 1]), bool(hit[1, 0])
        (['a', 'b'], 0.4, True)
    """
    pairs = [f for f in findings if isinstance(f.value, dict) and len(f.value.get("variables", [])) == 2]
    names = list(dict.fromkeys(str(v) for f in pairs for v in f.value["variables"]))
    pos = {n: i for i, n in enumerate(names)}
    M = np.full((len(names), len(names)), np.nan)
    hit = np.zeros_like(M, dtype=bool)
    for f in pairs:
        a, b = (pos[str(v)] for v in f.value["variables"])
        M[a, b] = M[b, a] = float(f.value.get("strength") or 0.0)
        hit[a, b] = hit[b, a] = bool(f.value.get("interacting"))
    return names, M, hit


@figure_for("interaction")
def interaction_heatmaps(findings: list[Finding], dataset: Any = None) -> Figures:
    """One heat map of pair strengths per target (framed cells: interacting pairs).

    Example:
        >>> f = Finding("interaction", "a, b interact", {"variables": ["a", "b"], "interacting": True,
        ...             "strength": 0.4}, target="y")
        >>> [caption[:40] for caption, _ in interaction_heatmaps([f])]
        ['Pair interactions in y: share of Var(y) ']
    """
    from matplotlib.colors import LogNorm
    from matplotlib.patches import Rectangle

    out: Figures = []
    for target in dict.fromkeys(f.target or "" for f in findings if f.probe in ("interactions", "")):
        group = [f for f in findings if (f.target or "") == target]
        names, M, hit = strength_matrix(group)
        if len(names) < 2:
            continue
        shown = np.where(np.isfinite(M), np.maximum(M, 1e-6), np.nan)
        top = float(np.nanmax(shown)) if np.any(np.isfinite(shown)) else 1.0
        lo = max(1e-6, min(float(np.nanmin(shown)), top / 1e3)) if np.any(np.isfinite(shown)) else 1e-6
        size = max(3.5, 0.45 * len(names) + 2)
        fig, ax = plt.subplots(figsize=(size + 1, size))
        im = ax.imshow(shown, cmap="viridis", norm=LogNorm(vmin=lo, vmax=max(top, lo * 10)))
        fs = 9 if len(names) <= 10 else max(5, int(9 - (len(names) - 10) * 0.25))
        ax.set_xticks(range(len(names)), [_short(n, 10) for n in names], rotation=90 if len(names) > 6 else 0,
                      fontsize=fs)
        ax.set_yticks(range(len(names)), [_short(n, 14) for n in names], fontsize=fs)
        for (i, j), h in np.ndenumerate(hit):
            if h:
                ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, ec="tab:red", lw=1.8))
                if len(names) <= 12:
                    bright = im.norm(shown[i, j]) > 0.6  # viridis turns yellow at the top: dark text there
                    ax.text(j, i, f"{M[i, j]:.2g}", ha="center", va="center", fontsize=7,
                            color="black" if bright else "white")
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label=f"share of Var({_short(target, 12)})")
        ax.set_title(f"Which inputs act together in {_short(target, 30)}", fontsize=10)
        n_hit = int(hit.sum() // 2)
        out.append((f"Pair interactions in {target}: share of Var({target}) carried by each pair's joint, "
                    f"non-additive part (log scale; red frames: {n_hit} interacting pair(s), judged against the "
                    "model's own error; blank: not tested)", to_png(fig)))
    return out
