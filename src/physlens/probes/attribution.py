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
the model's own error could explain: ``D_j > max(k * MSE_model, floor * Var(y))``
where ``MSE_model`` is the model's mean squared error on the data. The probe
returns one ``relevant-variable`` finding per input and target.
"""

from __future__ import annotations

import numpy as np
import torch

from physlens.data.dataset import Dataset
from physlens.findings import Finding

#: no fit requirement: an input is judged against the model's own error, so a coarse model (or noisy
#: data) only costs power, never a false claim
REQUIRES: dict = {}
COST = 1.0


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
    model: torch.nn.Module, X: np.ndarray, repeats: int = 5, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std over ``repeats`` of E[(f(x) - f(x_perm_j))^2] per input j and output: arrays (d_in, d_out).

    Example:
        >>> lin = torch.nn.Linear(2, 1)
        >>> mean, std = permutation_importance(lin, np.random.rand(50, 2))
        >>> mean.shape
        (2, 1)
    """
    rng = np.random.default_rng(seed)
    base = model.predict(X) if hasattr(model, "predict") else _predict(model, X)
    d = X.shape[1]
    out = np.zeros((repeats, d, base.shape[1]))
    for r in range(repeats):
        for j in range(d):
            Xp = X.copy()
            Xp[:, j] = X[rng.permutation(len(X)), j]
            pred = model.predict(Xp) if hasattr(model, "predict") else _predict(model, Xp)
            out[r, j] = np.mean((pred - base) ** 2, axis=0)
    return out.mean(axis=0), out.std(axis=0, ddof=1) if repeats > 1 else np.zeros_like(out[0])


def _predict(model: torch.nn.Module, X: np.ndarray) -> np.ndarray:
    p = next(model.parameters())
    with torch.no_grad():
        return model(torch.as_tensor(X, dtype=p.dtype, device=p.device)).cpu().numpy().astype(np.float64)


def run(
    model: torch.nn.Module,
    dataset: Dataset,
    max_samples: int = 2000,
    repeats: int = 5,
    error_factor: float = 4.0,
    variance_floor: float = 1e-3,
    seed: int = 0,
) -> list[Finding]:
    """One ``relevant-variable`` finding per input and target.

    Args:
        model: a trained emulator.
        dataset: data to evaluate on (at most ``max_samples`` rows are used).
        repeats: permutations per input, for the error bar.
        error_factor: an input is relevant when its permutation effect exceeds this many times the model's MSE...
        variance_floor: ...and this fraction of the target variance.
        seed: for the subsample and the permutations.

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
    pred = model.predict(X) if hasattr(model, "predict") else _predict(model, X)
    mse = np.mean((pred - Y) ** 2, axis=0)
    var = np.var(Y, axis=0)
    var = np.where(var > 0, var, 1.0)
    perm_mean, perm_std = permutation_importance(model, X, repeats=repeats, seed=seed)

    findings: list[Finding] = []
    for k, tname in enumerate(dataset.target_names):
        ig = integrated_gradients(model, X, target=k)
        ig_share = ig / ig.sum() if ig.sum() > 0 else ig
        threshold = max(error_factor * mse[k], variance_floor * var[k])
        perm_rel = perm_mean[:, k] / var[k]
        perm_share = perm_mean[:, k] / perm_mean[:, k].sum() if perm_mean[:, k].sum() > 0 else perm_mean[:, k]
        for j, name in enumerate(dataset.input_names):
            relevant = bool(perm_mean[j, k] > threshold)
            # confidence: how far (in log10) the effect sits from the threshold, squashed into [0.5, 1)
            margin = abs(np.log10((perm_mean[j, k] + 1e-300) / threshold))
            confidence = float(1.0 - 0.5 * np.exp(-2.0 * margin))
            verb = "affects" if relevant else "does not affect"
            statement = (
                f"{name} {verb} {tname}: shuffling it changes the prediction by "
                f"{perm_rel[j]:.3g} ± {perm_std[j, k] / var[k]:.2g} of Var({tname}) "
                f"(threshold {threshold / var[k]:.2g}); IG share {ig_share[j]:.1%}"
            )
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
                        "samples": int(len(X)),
                        "repeats": int(repeats),
                    },
                    confidence=confidence,
                    probe="attribution",
                    target=tname,
                    subject=name,
                )
            )
    return findings
