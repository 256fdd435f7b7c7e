"""Report figures for the concepts probe: the error curve against the number of latents, the R² of each
candidate from each latent, the linear probes of the emulator's layers, and scatter plots of an
unexplained latent against the candidates.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from physlens.findings import Finding
from physlens.report.figures import Figures, _short, figure_for, plt, to_png


@figure_for("quality")
def latent_count_curve(findings: list[Finding], dataset: Any = None) -> Figures:
    """Validation error (share of the variance) against the number of latents, with the count marked.

    Example:
        >>> f = Finding("quality", "2 latents", {"name": "latent count", "count": 1, "curve": [
        ...     {"latents": 0, "val_mse": 1.0, "envelope": 1.0}, {"latents": 1, "val_mse": 0.1, "envelope": 0.1}]})
        >>> len(latent_count_curve([f]))
        1
    """
    out = []
    for f in findings:
        v = f.value if isinstance(f.value, dict) else {}
        if v.get("name") != "latent count" or not v.get("curve"):
            continue
        K = [c["latents"] for c in v["curve"]]
        fig, ax = plt.subplots(figsize=(4.6, 3.2))
        ax.semilogy(K, [max(c["val_mse"], 1e-8) for c in v["curve"]], "o", color="0.6", label="best fit at K")
        ax.semilogy(K, [max(c["envelope"], 1e-8) for c in v["curve"]], "-", color="C0", label="monotone envelope")
        ax.axvline(v["count"], color="C3", ls="--", label=f"count = {v['count']}")
        ax.set_xlabel("number of latents K")
        ax.set_ylabel("validation MSE / variance")
        ax.set_xticks(K)
        ax.legend(fontsize=8)
        out.append((f"Error against the number of latents ({f.target or 'answer'}): the count is where adding a "
                    "latent stops paying", to_png(fig)))
    return out


@figure_for("concept")
def concept_matrix(findings: list[Finding], dataset: Any = None) -> Figures:
    """Heat map of R² (candidate from each latent, and from the latent set); layer-probe R² per layer.

    Example:
        >>> fs = [Finding("concept", "latent 1", {"latent": 0, "explained_by": {"k": 0.99, "b": 0.1}},
        ...               evidence={"set_r2": {"k": 0.99, "b": 0.98}}),
        ...       Finding("concept", "E in layer", {"candidate": "E", "layers": {"inputs": 0.2, "net.1": 0.97}})]
        >>> len(concept_matrix(fs))
        2
    """
    out = []
    latents = [f for f in findings if isinstance(f.value, dict) and "latent" in f.value]
    if latents:
        cands = sorted({c for f in latents for c in f.value.get("explained_by", {})})
        if cands:
            M = np.array([[f.value["explained_by"].get(c, np.nan) for c in cands] for f in latents], dtype=float)
            set_r2 = (latents[0].evidence or {}).get("set_r2") or {}
            M = np.vstack([M, [set_r2.get(c, np.nan) for c in cands]])
            rows = [f"latent {f.value['latent'] + 1}" for f in latents] + ["all latents"]
            fig, ax = plt.subplots(figsize=(1.2 + 0.9 * len(cands), 0.9 + 0.45 * len(rows)))
            im = ax.imshow(np.clip(M, 0, 1), vmin=0, vmax=1, cmap="viridis", aspect="auto")
            for i in range(M.shape[0]):
                for j in range(M.shape[1]):
                    if np.isfinite(M[i, j]):
                        ax.text(j, i, f"{M[i, j]:.2f}", ha="center", va="center", fontsize=8,
                                color="white" if M[i, j] < 0.6 else "black")
            ax.set_xticks(range(len(cands)), [_short(c, 14) for c in cands], rotation=30, ha="right")
            ax.set_yticks(range(len(rows)), rows)
            fig.colorbar(im, ax=ax, label="R² (held-out)")
            out.append(("What each latent encodes: R² of each candidate from one latent (monotone or smooth fit) and "
                        "from all latents together", to_png(fig)))
    layers = [f for f in findings if isinstance(f.value, dict) and "layers" in f.value]
    if layers:
        names = list(layers[0].value["layers"])
        fig, ax = plt.subplots(figsize=(1.5 + 0.6 * len(names), 3.2))
        for f in layers:
            ax.plot(range(len(names)), [f.value["layers"].get(n, np.nan) for n in names], "o-", label=_short(f.subject or "", 16))
        ax.set_xticks(range(len(names)), [_short(n, 12) for n in names], rotation=30, ha="right")
        ax.set_ylim(min(0.0, ax.get_ylim()[0]), 1.02)
        ax.set_ylabel("linear-probe R² (held-out)")
        ax.legend(fontsize=8)
        out.append(("Linear probes: how well each candidate is read linearly from the inputs and from each layer "
                    "of the emulator", to_png(fig)))
    return out


@figure_for("concept", per="finding")
def unexplained_latent(finding: Finding, dataset: Any = None) -> Figures:
    """Scatter plots of an unexplained latent against each candidate (from the sample kept in its evidence).

    Example:
        >>> f = Finding("concept", "latent 1", {"latent": 0, "explained_by": {}, "unexplained": True},
        ...             evidence={"sample": {"latent": np.arange(5.0), "candidates": {"k": np.arange(5.0) ** 2}}})
        >>> len(unexplained_latent(f))
        1
    """
    sample = (finding.evidence or {}).get("sample")
    if not isinstance(finding.value, dict) or not finding.value.get("unexplained") or not sample:
        return []
    z = np.asarray(sample["latent"], dtype=float)
    cands = sample.get("candidates") or {}
    if not cands:
        fig, ax = plt.subplots(figsize=(3.4, 2.6))
        ax.hist(z, bins=30, color="C0")
        ax.set_xlabel(f"latent {finding.value['latent'] + 1}")
        return [("An unexplained latent: its distribution (no candidate quantity was given)", to_png(fig))]
    fig, axes = plt.subplots(1, len(cands), figsize=(2.8 * len(cands), 2.6), squeeze=False)
    for ax, (name, c) in zip(axes[0], cands.items()):
        ax.plot(np.asarray(c, dtype=float), z, ".", ms=2, alpha=0.6)
        ax.set_xlabel(_short(name, 16))
        ax.set_ylabel(f"latent {finding.value['latent'] + 1}")
    fig.tight_layout()
    return [("An unexplained latent against each candidate quantity", to_png(fig))]
