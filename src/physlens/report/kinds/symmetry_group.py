"""Report figures of the symmetry probe's group statement and latent representation findings.

* The **latent representation** ``rho`` of a rotation on the network's embedding, drawn in its real
  Schur form (``scipy.linalg.schur``): invariant directions are zero rows, each vector block a 2 x 2
  rotation block, so the decomposition reads off the picture; beside it the frequencies of the blocks
  relative to the input rotation's (1 = a vector, 2 = a rank-2 tensor).
* The **group**: the component representatives (the discrete elements that the identity component
  does not reach) as signed-matrix heat maps, titled with the group's name.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.linalg as sla

from physlens.findings import Finding
from physlens.report.figures import Figures, figure_for, plt, to_png


@figure_for("symmetry", per="finding")
def latent_rho_figure(finding: Finding, dataset: Any = None) -> Figures:
    """``rho`` of the first rotation in real Schur form and the block frequencies (latent representation findings).

    Example:
        >>> K = np.zeros((3, 3)); K[0, 1], K[1, 0] = -1.0, 1.0
        >>> f = Finding("symmetry", "latent", {"representation": {"rho": [K], "blocks": {"invariant": 1, "vector": 1,
        ...     "spin-2": 0, "other": 0}, "error": 0.01, "per_generator": [{"frequencies": [1.0], "input_frequency": 1.0}]}})
        >>> [c[:25] for c, _ in latent_rho_figure(f)]
        ['Latent representation rho']
    """
    rep = (finding.value or {}).get("representation")
    if not rep or not rep.get("rho"):
        return []
    K = np.asarray(rep["rho"][0], dtype=float)
    S, _ = sla.schur(K, output="real")
    freqs = (rep.get("per_generator") or [{}])[0].get("frequencies") or []
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.8), gridspec_kw={"width_ratios": [1.3, 1]})
    vmax = float(np.abs(S).max()) or 1.0
    im = axes[0].imshow(S, cmap="RdBu_r", vmin=-vmax, vmax=vmax)
    axes[0].set_title("rho in real Schur form (2x2 blocks: vectors)", fontsize=9)
    axes[0].set_xticks([])
    axes[0].set_yticks([])
    fig.colorbar(im, ax=axes[0], fraction=0.046)
    axes[1].hist(freqs, bins=np.linspace(0, max(3.0, max(freqs, default=0) * 1.05), 31), color="#4477aa")
    for x, lab in ((1.0, "vector"), (2.0, "rank 2")):
        axes[1].axvline(x, color="gray", ls="--", lw=0.8)
        axes[1].text(x, axes[1].get_ylim()[1] * 0.9, f" {lab}", fontsize=8)
    axes[1].set_xlabel("block frequency / input rotation's frequency")
    axes[1].set_ylabel("blocks")
    b = rep.get("blocks") or {}
    axes[1].set_title(", ".join(f"{v} {k}" for k, v in b.items() if v) or "no blocks", fontsize=9)
    fig.tight_layout()
    caption = (f"Latent representation rho of a rotation on the embedding ({rep.get('source', 'embed')}): "
               f"unexplained fraction {float(rep.get('error', float('nan'))):.2g}")
    return [(caption, to_png(fig))]


@figure_for("symmetry", per="finding")
def group_components_figure(finding: Finding, dataset: Any = None) -> Figures:
    """Heat maps of the component representatives of a group statement (group findings only).

    Example:
        >>> f = Finding("symmetry", "g", {"group_name": "O(2)", "input_names": ["x", "y"],
        ...     "representatives": [{"name": "flip x", "transform": np.diag([-1.0, 1.0])}]})
        >>> [c[:14] for c, _ in group_components_figure(f)]
        ['Symmetry group']
    """
    value = finding.value or {}
    reps = value.get("representatives")
    if value.get("group_name") is None or not reps:
        return []
    names = list(value.get("input_names") or [])
    m = min(len(reps), 6)
    fig, axes = plt.subplots(1, m, figsize=(2.6 * m + 0.5, 2.9), squeeze=False)
    for ax, r in zip(axes[0], reps[:m]):
        T = np.asarray(r["transform"], dtype=float)
        n = T.shape[0]
        ax.imshow(T[:, :n], cmap="RdBu_r", vmin=-1, vmax=1)
        labels = names if len(names) == n else [str(i) for i in range(n)]
        if n <= 12:
            ax.set_xticks(range(n), labels, rotation=90, fontsize=7)
            ax.set_yticks(range(n), labels, fontsize=7)
        else:
            ax.set_xticks([])
            ax.set_yticks([])
        ax.set_title(r["name"][:32], fontsize=8)
    fig.suptitle(f"{value['group_name']}: {value.get('components', '?')} component(s)", fontsize=10)
    fig.tight_layout()
    caption = (f"Symmetry group {value['group_name']}: the discrete elements that reach the components the identity "
               f"component {value.get('identity_component') or '(none)'} does not")
    return [(caption, to_png(fig))]
