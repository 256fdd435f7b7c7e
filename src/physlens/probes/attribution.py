"""Global feature importance: which inputs the trained network uses, and which it ignores.

Two measures, both computed on the trained model:

* Integrated Gradients (Sundararajan, Taly & Yan 2017, "Axiomatic attribution
  for deep networks"), through Captum, from the data mean as baseline,
  aggregated over the data as the mean absolute attribution per input.
* Permutation importance (Breiman 2001; Fisher, Rudin & Dominici 2019): the
  mean squared change of the model's output when one input column is shuffled,
  ``D_j = E[(f(x) - f(x with column j permuted))^2]``, repeated to get an error
  bar, in units of the target variance.

An input is called relevant when shuffling it changes the output by more than
the model's own error could explain, by two standard errors over the repeated
shuffles: ``D_j - 2 se(D_j) > max(k * MSE_model, floor * Var(y))``
where ``MSE_model`` is the model's mean squared error on held-out rows when the
caller names them (``heldout``: the study runner passes its validation rows),
else on the data. The probe returns one ``relevant-variable`` finding per input
and target, except that a model missing more than ``max_unexplained`` (5 %) of
a target's variance does not declare inputs irrelevant for it: those inputs are
listed in one ``uncertainty`` finding (measured on the spin and quantum systems:
a 35 % error model called all 256 spins of the Ising lattice irrelevant).

**The data must need the input, not only the network.** A network can use an input the
target does not depend on: measured on a 3-D Kepler emulator, shuffling the velocity changed
the predicted acceleration by 0.3–3 % of its variance, well above the model's error, although
the acceleration depends on position only. Such a dependence is the network's own error
pattern, and it does not help predict the data: shuffling the input leaves the *loss* against
the held-out targets where it was, whereas for an input the target truly depends on, the loss
rises by about as much as the prediction moves (for a model that fits, the shuffled-in change
is error). So an input is declared relevant only when, in addition, the loss increase it causes
on held-out rows is at least half of the prediction change there (the model reliance of Fisher,
Rudin & Dominici 2019 set against the output change; ``evidence["loss_ratio"]``). A dependence
the network has and the data do not support is reported as not relevant, with the ratio in its
statement. This check cannot see a dependence that lives where no data are: there the model's
error at the shuffled rows is itself the change, and the ratio is about 1 (0.6-0.9 for the 3-D
Kepler velocities below); the typical-row test below catches those.

**Shuffled rows stay where the network was trained.** A shuffled column puts
rows where no data lie (a Kepler state with a velocity far above escape speed),
and there a network extrapolates: measured on a 2-D Kepler field emulator, shuffling
``vx`` changed the predicted ``dvx/dt`` by 0.0084 of its variance over all rows but
by 0.0006 over the shuffled rows that lie inside the data (true value 0), while the
relevant inputs changed it by 0.25 to 1.2 either way. So ``D_j`` is averaged over
the shuffled rows whose nearest data row (standardised inputs) is no farther than
the 95th percentile of the data's own nearest-neighbour distances (the support),
when at least a fifth of them do; else over all rows (``evidence["in_support"]``
says which fraction was used). This is the on-manifold restriction of permutation
importance that Hooker, Mentch & Zhou (2021) argue for; it is written here because
Captum's ``FeaturePermutation`` permutes without regard to the data's support.

**The typical row must move, not a few rows off the manifold.** Where the data are sparse the
support test cannot see the manifold, and a mean of squared changes is carried by a handful of
rows. Measured on a 3-D Kepler emulator (4000 states on orbits with energies in [-1, -0.33]; held-out
error 0.05 % of Var(dvz/dt)): shuffling ``vy`` changed the predicted ``dvz/dt`` by 2.5 % of its
variance, ten times the threshold, yet 97 % of that came from 1 % of the rows: states near
pericentre (r ≈ 0.25) given a slow velocity, at energy -2.4, where no orbit of the data goes; the
median row moved by 2e-5. Neither remedy for off-manifold queries reached them: the run's
calibrated out-of-distribution score (:class:`physlens.probes.uncertainty.Calibration`, distance in
the network's representation plus last-layer Laplace disagreement) accepted 100 % of the shuffled
rows, and a conditional permutation (each row takes the shuffled value from one of its 10 or 50
nearest neighbours in the other inputs) changed the effects by less than a factor of 2, because in
six dimensions the neighbours of a pericentre state are far away and do not constrain its energy.
What does separate them is how many rows move: so an input must, in addition, move the prediction
of the ``typical_quantile`` (90 %) row by more than ``error_factor`` times the model's squared error
at the same quantile of its held-out rows (``evidence["typical_change"]``, ``["typical_threshold"]``).
An input whose mean effect clears the threshold while the typical row's does not gets no verdict
(one ``uncertainty`` finding per target lists them): a change carried by a few rows may be the
network extrapolating or a rare true dependence (a close encounter of two charges), and the model
alone cannot tell which.
For independent errors both quantiles differ by a factor 2 (the change is the difference of two
errors), as the means do, so the same factor serves both tests. Measured ratios of the two
quantiles: true relevances 2700-33000 (3-D Kepler) and 14500-58000 (2-D Kepler); the 3-D
emulator's spurious velocity dependences 1.0-1.4. The price: an input that changes the target on
fewer than 10 % of the rows only is left undetermined.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import torch

from physlens.data.dataset import Dataset
from physlens.data.support import DataSupport
from physlens.findings import Finding
from physlens.models.predict import heldout_error, predict_numpy

#: no fit requirement: an input is judged against the model's own error, so a coarse model (or noisy
#: data) only costs power, never a false claim
REQUIRES: dict = {}
COST = 1.0
#: the typical row's change is this quantile of the per-row squared change (module docstring): an input must
#: move the prediction by more than the model's error on at least this share's complement of the rows (10 %)
TYPICAL_QUANTILE = 0.9


def applies(dataset: Dataset) -> str | None:
    """None: every dataset with inputs and a numeric target can be attributed.

    Example:
        >>> from physlens.systems import get_system
        >>> applies(get_system("toy_distractor").sample(20)) is None
        True
    """
    if dataset.d_in < 1:
        return "no input columns"
    return None


def integrated_gradients(model: torch.nn.Module, X: np.ndarray, target: int = 0, n_steps: int = 32) -> np.ndarray:
    """Mean |Integrated Gradients| per input over the rows of ``X`` (Captum), baseline = data mean.

    Example:
        >>> lin = torch.nn.Linear(2, 1)
        >>> integrated_gradients(lin, np.random.rand(20, 2)).shape
        (2,)
    """
    from captum.attr import IntegratedGradients

    p = next(model.parameters())
    x = torch.as_tensor(X, dtype=p.dtype, device=p.device)
    baseline = x.mean(dim=0, keepdim=True).expand_as(x)
    ig = IntegratedGradients(model)
    attr = ig.attribute(x, baselines=baseline, target=target, n_steps=n_steps, internal_batch_size=4096)
    return attr.abs().mean(dim=0).detach().cpu().numpy().astype(np.float64)


def permutation_importance(
    model: torch.nn.Module, X: np.ndarray, repeats: int = 5, seed: int = 0, support: bool = False,
    min_inside: float = 0.2, quantile: float = TYPICAL_QUANTILE,
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std over ``repeats`` of E[(f(x) - f(x_perm_j))^2] per input j and output: arrays (d_in, d_out).

    With ``support`` the mean runs over the shuffled rows that stay inside the data (see the
    module docstring) when at least ``min_inside`` of them do. The fraction used per input is
    left in ``permutation_importance.inside`` (an array (d_in,)), and the ``quantile`` of the
    per-row squared change over the same rows (the typical row's change, averaged over the
    repeats) in ``permutation_importance.typical`` (an array (d_in, d_out)).

    Example:
        >>> lin = torch.nn.Linear(2, 1)
        >>> mean, std = permutation_importance(lin, np.random.rand(50, 2), support=True)
        >>> mean.shape, permutation_importance.inside.shape, permutation_importance.typical.shape
        ((2, 1), (2,), (2, 1))
    """
    rng = np.random.default_rng(seed)
    base = predict_numpy(model, X)
    d = X.shape[1]
    out = np.zeros((repeats, d, base.shape[1]))
    typical = np.zeros((repeats, d, base.shape[1]))
    inside = np.ones((repeats, d))
    where = DataSupport(X) if support and len(X) >= 10 else None
    for r in range(repeats):
        for j in range(d):
            Xp = X.copy()
            Xp[:, j] = X[rng.permutation(len(X)), j]
            pred = predict_numpy(model, Xp)
            sq = (pred - base) ** 2
            if where is not None:
                ok = where.inside(Xp)
                if ok.mean() >= min_inside:
                    sq, inside[r, j] = sq[ok], ok.mean()
            out[r, j] = np.mean(sq, axis=0)
            typical[r, j] = np.quantile(sq, quantile, axis=0)
    permutation_importance.inside = inside.mean(axis=0)
    permutation_importance.typical = typical.mean(axis=0)
    return out.mean(axis=0), out.std(axis=0, ddof=1) if repeats > 1 else np.zeros_like(out[0])


def loss_ratio(model: torch.nn.Module, X: np.ndarray, Y: np.ndarray, repeats: int = 5, seed: int = 0,
               support: bool = True, min_inside: float = 0.2) -> np.ndarray:
    """Per input and target: the held-out loss increase a shuffle causes over the prediction change it causes.

    ``(E[(f(x_perm) - y)^2] - E[(f(x) - y)^2]) / E[(f(x_perm) - f(x))^2]`` over rows ``X, Y`` the
    model was not trained on (shuffles restricted to the data's support as in
    :func:`permutation_importance`): about 1 when the target depends on the input as the network
    does, about 0 when the network's dependence is its own error. Shape (d_in, d_out).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> X = rng.normal(size=(400, 2)); Y = X[:, :1].copy()
        >>> lin = torch.nn.Linear(2, 1)
        >>> with torch.no_grad():
        ...     _ = lin.weight.copy_(torch.tensor([[1.0, 0.1]])); _ = lin.bias.zero_()
        >>> r = loss_ratio(lin, X, Y)[:, 0]  # x1 is needed; x2's use is the model's own error
        >>> bool(abs(r[0] - 1) < 0.2), bool(abs(r[1]) < 0.2)
        (True, True)
    """
    rng = np.random.default_rng(seed + 7919)
    base = predict_numpy(model, X)
    d = X.shape[1]
    where = DataSupport(X) if support and len(X) >= 10 else None
    gain = np.zeros((d, base.shape[1]))
    moved = np.zeros((d, base.shape[1]))
    for _ in range(repeats):
        for j in range(d):
            Xp = X.copy()
            Xp[:, j] = X[rng.permutation(len(X)), j]
            pred = predict_numpy(model, Xp)
            rows = np.ones(len(X), dtype=bool)
            if where is not None:
                ok = where.inside(Xp)
                if ok.mean() >= min_inside:
                    rows = ok
            gain[j] += np.mean((pred[rows] - Y[rows]) ** 2 - (base[rows] - Y[rows]) ** 2, axis=0)
            moved[j] += np.mean((pred[rows] - base[rows]) ** 2, axis=0)
    return gain / np.maximum(moved, 1e-300)


def run(
    model: torch.nn.Module,
    dataset: Dataset,
    max_samples: int = 2000,
    repeats: int = 5,
    error_factor: float = 4.0,
    variance_floor: float = 1e-3,
    seed: int = 0,
    support: bool = True,
    heldout: np.ndarray | None = None,
    max_unexplained: float = 0.05,
    min_loss_ratio: float = 0.5,
    typical_quantile: float = TYPICAL_QUANTILE,
) -> list[Finding]:
    """One ``relevant-variable`` finding per input and target.

    Args:
        model: a trained emulator.
        dataset: data to evaluate on (at most ``max_samples`` rows are used).
        repeats: permutations per input, for the error bar.
        error_factor: an input is relevant when its permutation effect exceeds this many times the model's MSE...
        variance_floor: ...and this fraction of the target variance.
        seed: for the subsample and the permutations.
        support: average the shuffles over rows that stay inside the data (module docstring).
        heldout: indices of rows the model was not trained on: the model's error is measured there.
        min_loss_ratio: an input the network uses is relevant only when shuffling it raises the held-out
            loss by at least this fraction of the prediction change (module docstring).
        typical_quantile: an input is relevant only when, at this quantile of the rows, the shuffle moves the
            prediction by more than ``error_factor`` times the model's squared error at the same quantile of its
            rows (module docstring: a change carried by a few rows off the data's manifold is not a dependence).
        max_unexplained: when the model misses more than this fraction of a target's variance, an input
            whose shuffle stays within its error is not declared irrelevant: one ``uncertainty`` finding
            per target lists those inputs instead (a coarse model cannot vouch for a zero).

    Example:
        >>> from physlens.systems import get_system
        >>> from physlens.models import build_model
        >>> from physlens.train import fit, TrainConfig
        >>> ds = get_system("toy_distractor").sample(1000)
        >>> model = fit(build_model("mlp", ds), ds, TrainConfig(epochs=60, progress=False)).model
        >>> {f.subject: f.value["relevant"] for f in run(model, ds)}
        {'x1': True, 'x2': True, 'x3': False}
    """
    rng = np.random.default_rng(seed)
    idx = rng.choice(dataset.n, size=min(max_samples, dataset.n), replace=False)
    X, Y = dataset.X[idx], dataset.y[idx]
    model.eval()
    # the model's error, and the typical row's (module docstring): the yardsticks, on held-out rows when known
    mse, typical_error, error_rows = heldout_error(partial(predict_numpy, model), dataset, idx, heldout,
                                                   typical_quantile, max_heldout=max_samples)
    var = np.var(Y, axis=0)
    var = np.where(var > 0, var, 1.0)
    perm_mean, perm_std = permutation_importance(model, X, repeats=repeats, seed=seed, support=support,
                                                 quantile=typical_quantile)
    inside, typical = permutation_importance.inside, permutation_importance.typical
    # does the data need what the network uses? the loss it costs on rows the model did not train on
    if heldout is not None and len(heldout) >= 50:
        lx = np.asarray(heldout, dtype=np.int64)[:max_samples]
        ratio, ratio_rows = loss_ratio(model, dataset.X[lx], dataset.y[lx], repeats, seed, support), "held-out"
    else:
        ratio, ratio_rows = loss_ratio(model, X, Y, repeats, seed, support), "data"

    findings: list[Finding] = []
    unsure: dict[str, list[str]] = {}
    few: dict[str, list[str]] = {}
    for k, tname in enumerate(dataset.target_names):
        ig = integrated_gradients(model, X, target=k)
        ig_share = ig / ig.sum() if ig.sum() > 0 else ig
        threshold = max(error_factor * mse[k], variance_floor * var[k])
        perm_rel = perm_mean[:, k] / var[k]
        perm_share = perm_mean[:, k] / perm_mean[:, k].sum() if perm_mean[:, k].sum() > 0 else perm_mean[:, k]
        for j, name in enumerate(dataset.input_names):
            # significant: the effect's lower 2-sigma bound (standard error over the repeats) clears the threshold
            se = perm_std[j, k] / np.sqrt(max(repeats, 1))
            # ...and the typical row moves by more than the model's typical error (not a few rows off the manifold)
            broad = bool(typical[j, k] > error_factor * typical_error[k])
            used = bool(perm_mean[j, k] - 2.0 * se > threshold) and broad
            # ...and the data need it: the shuffle raises the held-out loss by at least half its prediction change
            relevant = used and bool(ratio[j, k] >= min_loss_ratio)
            if not broad and perm_mean[j, k] - 2.0 * se > threshold:
                # the mean says yes, the typical row says no: off-data rows or a rare true dependence, the
                # model cannot tell which; no verdict (module docstring)
                few.setdefault(tname, []).append(
                    f"{name} ({perm_rel[j]:.2g} of the variance on average, {typical[j, k] / var[k]:.2g} at the "
                    f"{typical_quantile:.0%} quantile row against {error_factor * typical_error[k] / var[k]:.2g})")
                continue
            if not relevant and mse[k] / var[k] > max_unexplained:
                # a model that misses this much of the target cannot vouch that an input does not matter
                unsure.setdefault(tname, []).append(name)
                continue
            # confidence: how far (in log10) the effect sits from the threshold, squashed into [0.5, 1)
            margin = abs(np.log10((perm_mean[j, k] + 1e-300) / threshold))
            confidence = float(1.0 - 0.5 * np.exp(-2.0 * margin))
            verb = "affects" if relevant else "does not affect"
            statement = (
                f"{name} {verb} {tname}: shuffling it changes the prediction by "
                f"{perm_rel[j]:.3g} ± {perm_std[j, k] / var[k]:.2g} of Var({tname}) "
                f"(threshold {threshold / var[k]:.2g}); IG share {ig_share[j]:.1%}"
            )
            if used and not relevant:
                statement += (f"; the network uses it, but the data do not: the shuffle raises the {ratio_rows} "
                              f"loss by only {ratio[j, k]:.2f} of that change")
            findings.append(
                Finding(
                    kind="relevant-variable",
                    statement=statement,
                    value={
                        "variable": name,
                        "relevant": relevant,
                        "importance": float(perm_share[j]),
                        "permutation": float(perm_rel[j]),
                        "permutation_std": float(perm_std[j, k] / var[k]),
                        "integrated_gradients": float(ig_share[j]),
                    },
                    evidence={
                        "threshold": float(threshold / var[k]),
                        "model_mse_over_var": float(mse[k] / var[k]),
                        "model_error_on": error_rows,
                        "in_support": float(inside[j]),
                        "typical_change": float(typical[j, k] / var[k]),
                        "typical_error": float(typical_error[k] / var[k]),
                        "typical_threshold": float(error_factor * typical_error[k] / var[k]),
                        "typical_quantile": float(typical_quantile),
                        "loss_ratio": float(ratio[j, k]),
                        "loss_ratio_on": ratio_rows,
                        "samples": int(len(X)),
                        "repeats": int(repeats),
                    },
                    confidence=confidence,
                    probe="attribution",
                    target=tname,
                    subject=name,
                )
            )
    for tname, names in unsure.items():
        k = dataset.target_names.index(tname)
        findings.append(Finding(
            kind="uncertainty",
            statement=(f"Undetermined for {tname}: the model misses {mse[k] / var[k]:.0%} of its variance, too much to "
                       f"tell whether {', '.join(names)} matter (their shuffles stay within the model's error); "
                       "train longer (--budget thorough) or give more data"),
            value={"name": "relevance undetermined", "target": tname, "variables": names,
                   "model_mse_over_var": float(mse[k] / var[k]), "max_unexplained": max_unexplained},
            confidence=float(min(1.0, mse[k] / var[k])),
            probe="attribution", target=tname, subject=tname))
    for tname, names in few.items():
        findings.append(Finding(
            kind="uncertainty",
            statement=(f"Undetermined for {tname}: shuffling {'; '.join(names)} changes the prediction through a few "
                       "rows only; they may lie where no data are (the network extrapolates) or hold a rare true "
                       "dependence, and the model cannot tell which"),
            value={"name": "relevance undetermined", "target": tname,
                   "variables": [n.split(" (")[0] for n in names], "reason": "carried by a few rows",
                   "typical_quantile": float(typical_quantile)},
            confidence=0.5, probe="attribution", target=tname, subject=tname))
    return findings
