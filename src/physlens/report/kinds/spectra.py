"""Report figures of the ``spectra`` probe: each weight matrix's eigenvalue spectrum with its power-law fit, and α per layer.

Registered for the ``quality`` kind; findings from other probes of that kind are
left to their own makers (this one returns ``[]`` for them).
"""

from __future__ import annotations

import numpy as np

from physlens.report.figures import _short, figure_for, plt, to_png

MAX_PANELS = 8  # ESD panels drawn; the rest are counted in the caption


def _own(findings) -> list:
    return [f for f in findings if f.probe == "spectra" and f.subject != "summary" and isinstance(f.value, dict)]


def esd_panel(ax, finding) -> None:
    """Draw one matrix's ESD (log-binned density) with the fitted power law, x_min and the MP bulk edge.

    Example:
        >>> import torch
        >>> from physlens.probes.spectra import run
        >>> f = run(torch.nn.Linear(200, 100), None, bootstrap=0)[0]
        >>> fig, ax = plt.subplots(); esd_panel(ax, f); plt.close(fig)
    """
    v = finding.value
    lam = np.asarray((finding.evidence or {}).get("eigenvalues", []), dtype=float)
    lam = lam[lam > 0]
    if len(lam) == 0:
        ax.text(0.5, 0.5, "no non-zero eigenvalue", ha="center", va="center", transform=ax.transAxes)
        return
    lo, hi = lam.min(), lam.max()
    if hi <= lo:
        hi = lo * 1.01
    edges = np.logspace(np.log10(lo), np.log10(hi) + 1e-9, min(40, max(5, len(lam) // 3)) + 1)
    dens, _ = np.histogram(lam, bins=edges, density=True)
    centres = np.sqrt(edges[1:] * edges[:-1])
    ax.loglog(centres[dens > 0], dens[dens > 0], "o", ms=3, color="tab:blue", label="ESD of WᵀW")
    if v.get("alpha") is not None:
        a, xmin = v["alpha"], v["xmin"]
        share = v["n_tail"] / len(lam)
        x = np.logspace(np.log10(xmin), np.log10(hi), 50)
        ax.loglog(x, share * (a - 1) / xmin * (x / xmin) ** (-a), "-", color="tab:red",
                  label=f"power law α = {a:.2f}")
        ax.axvline(xmin, color="tab:red", ls=":", lw=1)
    if v.get("mp_bulk_edge"):
        ax.axvline(v["mp_bulk_edge"], color="tab:green", ls="--", lw=1, label=f"MP edge (soft rank {v['soft_rank']})")
    ax.set_xlabel("eigenvalue λ")
    ax.set_ylabel("density")
    ax.set_title(_short(v.get("layer", finding.subject), 34), fontsize=9)
    ax.legend(fontsize=7)


@figure_for("quality")
def spectra_figures(findings, dataset):
    """ESD panels with the power-law fit (one per fitted matrix, up to 8) and α per matrix with its error bar.

    Example:
        >>> import torch
        >>> from physlens.probes.spectra import run
        >>> net = torch.nn.Sequential(torch.nn.Linear(50, 60), torch.nn.Linear(60, 40))
        >>> [c.split(":")[0] for c, _ in spectra_figures(run(net, None, bootstrap=0), None)]
        ['Eigenvalue spectra of the weight matrices', 'Power-law exponent α per weight matrix']
        >>> spectra_figures([], None)
        []
    """
    own = _own(findings)
    if not own:
        return []
    figs = []
    fitted = [f for f in own if f.value.get("alpha") is not None]
    panels = fitted[:MAX_PANELS]
    if panels:
        cols = min(4, len(panels))
        rows = (len(panels) + cols - 1) // cols
        fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.0 * rows), squeeze=False)
        for ax, f in zip(axes.flat, panels):
            esd_panel(ax, f)
        for ax in list(axes.flat)[len(panels):]:
            ax.axis("off")
        fig.tight_layout()
        more = f" ({len(fitted) - len(panels)} more not drawn)" if len(fitted) > len(panels) else ""
        figs.append(("Eigenvalue spectra of the weight matrices: log-binned density of the eigenvalues of WᵀW, "
                     "the fitted power law from x_min (dotted), and the Marchenko–Pastur bulk edge of a random "
                     f"matrix of the same scale (dashed){more}", to_png(fig)))
    fig, ax = plt.subplots(figsize=(max(4.0, 0.5 * len(own) + 2), 3.2))
    names = [_short(f.value["layer"], 22) for f in own]
    xs = np.arange(len(own))
    alpha = np.array([np.nan if f.value["alpha"] is None else f.value["alpha"] for f in own])
    err = np.array([0.0 if f.value.get("alpha_error") is None else f.value["alpha_error"] for f in own])
    ax.axhspan(2, 6, color="tab:green", alpha=0.12, label="2 ≤ α ≤ 6 (well trained)")
    ok = np.isfinite(alpha)
    ax.errorbar(xs[ok], alpha[ok], yerr=err[ok], fmt="o", color="tab:blue", capsize=3, label="α ± bootstrap s.d.")
    for x in xs[~ok]:
        ax.text(x, 0.5, "too few λ", rotation=90, ha="center", va="bottom", fontsize=7, color="grey")
    ax.set_xticks(xs)
    ax.set_xticklabels(names, rotation=45, ha="right", fontsize=7)
    ax.set_ylabel("α")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    figs.append(("Power-law exponent α per weight matrix: heavy-tailed layers of well-trained networks have "
                 "2 ≤ α ≤ 6; matrices with too few eigenvalues have no α", to_png(fig)))
    return figs
