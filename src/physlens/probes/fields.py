"""Fields on grids: which grid transformations a trained field emulator respects, and the PDE it learned.

Applies only to :class:`physlens.data.fields.FieldDataset` (samples x channels x H x W with declared
scalar and vector channels); tabular data get a one-line reason, so the probe never runs in their
``discover``.

**Grid symmetries** (the equivariance test of Lenc & Vedaldi 2015, "Understanding image
representations by measuring their equivariance", applied to a physical emulator with the group
action of "geometric images", Gregory et al. 2023). For each candidate transformation g of the
grid — translations by a few offsets, and the 8 elements of the dihedral group D4 acting on
positions *with* the vector components turned (rho(R) = R) and *without* (positions only) — the
probe measures the equivariance error of the model f on held-out fields,

    E_g = mean |f(g X) - g f(X)|^2 / mean |f(X)|^2,

and compares it with what the model's own error allows: if f = truth + e with e the model's error
(relative mean square eps^2 on the same fields), a true symmetry leaves ``E_g = |e(gX) - g e(X)|^2``,
about 2 eps^2, while a broken one leaves the physics' own asymmetry, of order 1. g is declared
respected when ``E_g <= factor * 2 eps^2 + floor`` (factor 3, floor 1e-6). The elements respected
with the vector action are reported as one ``symmetry`` finding naming the group (D4, C4, D2, C2,
a single reflection, or trivial, times translations), with every test in the evidence and the
scalar-action results alongside: a rotation that does not turn the components is not a symmetry of
an isotropic vector law, and the probe says so.

**The PDE** (SINDy, Brunton, Proctor & Kutz 2016, with spatial derivatives in the library as in
PDE-FIND, Rudy et al. 2017). Library: 1, every channel, its first and second spatial derivatives
(spectral, exact on a periodic band-limited grid), and the advective products ``a * b_x``,
``a * b_y`` of channels; targets: the emulator's prediction (``source="emulator"``, the default) or
the data's targets (``source="data"``). Sparse regression with PySINDy's STLSQ on normalised
columns, then an ordinary least-squares refit on the chosen terms (the unbiased coefficients). One
``equation`` finding per target channel, with the coefficients and the relative residual.
"""

from __future__ import annotations


import numpy as np
import sympy as sp

from physlens.clock import work_seconds
from physlens.data.fields import FieldDataset, channel_rep, d4_elements, d4_subgroup_name, transform_fields
from physlens.findings import Finding
from physlens.models.base import predict_in_batches

REQUIRES: dict = {"relative_error": 0.05}
COST = 0.3
#: reads field data (a FieldDataset), which the tabular probes cannot
FIELDS = True
FACTOR = 3.0
FLOOR = 1e-6
#: a model missing more than this share of its outputs' mean square on the tested fields is too coarse
#: for its equivariance errors to mean anything (every error sits under a threshold that large)
MAX_MODEL_ERROR = 0.05


def NEEDS_MODEL(options: dict) -> bool:  # noqa: N802 (the probe contract's name)
    """A model is needed unless only the data's PDE is asked for (``source="data"``, ``symmetries=False``).

    Example:
        >>> NEEDS_MODEL({}), NEEDS_MODEL({"source": "data", "symmetries": False})
        (True, False)
    """
    return not (options.get("source") == "data" and options.get("symmetries") is False)


def applies(dataset) -> str | None:
    """None for field data; else why not.

    Example:
        >>> from physlens.systems import get_system
        >>> applies(get_system("toy_distractor").sample(20))
        'needs fields on a grid (samples x channels x H x W with scalar/vector channels); this data is tabular'
    """
    if not isinstance(dataset, FieldDataset):
        return "needs fields on a grid (samples x channels x H x W with scalar/vector channels); this data is tabular"
    return None


def predict_fields(model, X4: np.ndarray, batch: int = 64) -> np.ndarray:
    """The model's output fields for input fields (n, c, H, W): flattened in, reshaped out.

    Example:
        >>> from physlens.systems.fields import VectorDiffusion
        >>> from physlens.models.grid import PlainCNN
        >>> ds = VectorDiffusion(grid=8).sample(3)
        >>> predict_fields(PlainCNN(ds.layout()), ds.X).shape
        (3, 2, 8, 8)
    """
    y = predict_in_batches(model, X4.reshape(len(X4), -1), batch)
    return y.reshape(len(X4), -1, *X4.shape[2:])


def grid_symmetry_tests(model, dataset: FieldDataset, index: np.ndarray, shifts=((1, 0), (0, 1), (3, 5))) -> dict:
    """Equivariance errors of every candidate grid transformation and the model's own error on ``index``.

    Example:
        >>> from physlens.systems.fields import VectorDiffusion
        >>> from physlens.models.grid import D4CNN
        >>> ds = VectorDiffusion(grid=8).sample(4)
        >>> t = grid_symmetry_tests(D4CNN(ds.layout()).double(), ds, np.arange(4))
        >>> max(r["error"] for r in t["tests"] if r["action"] == "vector") < 1e-12
        True
    """
    X, Y = dataset.X[index], dataset.y[index]
    f = predict_fields(model, X)
    scale = float(np.mean(f**2)) or 1.0
    eps2 = float(np.mean((f - Y) ** 2)) / scale
    tests = []
    H, W = dataset.grid
    for dx, dy in shifts:
        fx = predict_fields(model, transform_fields(X, dataset.kinds, np.eye(2, dtype=int), shift=(dx % W, dy % H)))
        gf = transform_fields(f, dataset.target_kinds, np.eye(2, dtype=int), shift=(dx % W, dy % H))
        tests.append({"transformation": f"shift ({dx}, {dy})", "element": "translation", "action": "translation",
                      "error": float(np.mean((fx - gf) ** 2)) / scale})
    if H == W:
        has_vec = any(k["kind"] == "vector" for k in dataset.kinds + dataset.target_kinds)
        for vector in ((True, False) if has_vec else (True,)):
            for name, R in d4_elements().items():
                if name == "identity":
                    continue
                if not vector and np.allclose(channel_rep(dataset.kinds, X.shape[1], R), np.eye(X.shape[1])):
                    continue
                fx = predict_fields(model, transform_fields(X, dataset.kinds, R, vector))
                gf = transform_fields(f, dataset.target_kinds, R, vector)
                tests.append({"transformation": f"{name} ({'vector' if vector else 'scalar'} action)",
                              "element": name, "action": "vector" if vector else "scalar",
                              "error": float(np.mean((fx - gf) ** 2)) / scale})
    threshold = FACTOR * 2 * eps2 + FLOOR
    for t in tests:
        t["ratio"] = t["error"] / (2 * eps2 + FLOOR)
        t["respected"] = bool(t["error"] <= threshold)
    return {"tests": tests, "model_error": eps2, "threshold": threshold}


def _symmetry_finding(result: dict, dataset: FieldDataset) -> Finding:
    tests = result["tests"]
    trans = all(t["respected"] for t in tests if t["action"] == "translation")
    vec = ["identity"] + [t["element"] for t in tests if t["action"] == "vector" and t["respected"]]
    sca = ["identity"] + [t["element"] for t in tests if t["action"] == "scalar" and t["respected"]]
    name = d4_subgroup_name(vec) + (" x translations" if trans else "")
    if not any(t["action"] == "vector" for t in tests):  # a non-square grid: D4 was not tested
        H, W = dataset.grid
        name = ("translations" if trans else "none") + f" (D4 not tested: the grid is {H} x {W}, not square)"
    broken = [t["element"] for t in tests if t["action"] == "vector" and not t["respected"]]
    scalar_note = "" if not any(t["action"] == "scalar" for t in tests) else (
        f"; turning positions without the vector components respects only {d4_subgroup_name(sca)}")
    statement = (f"the emulator respects {name}" + (f" (breaks {', '.join(broken)})" if broken else "") + scalar_note)
    # confidence: how clearly the closest call sits on its side of the threshold (log distance in ratio)
    ratios = [t["ratio"] for t in tests]
    margin = min(abs(np.log(max(r, 1e-12) / FACTOR)) for r in ratios) if ratios else 0.0
    return Finding("symmetry", statement,
                   {"group": name, "grid_group": {"translations": trans, "vector_action": vec, "scalar_action": sca},
                    "channels": list(dataset.channel_names), "kinds": dataset.kinds},
                   {"tests": tests, "model_error": result["model_error"], "threshold": result["threshold"]},
                   confidence=float(min(1.0, margin / np.log(10.0))), probe="fields", subject="grid symmetry")


# --------------------------------------------------------------------------- PDE by SINDy
def derivative_library(X: np.ndarray, names: list[str], spacing: float) -> tuple[np.ndarray, list[str]]:
    """Candidate terms at every grid point: 1, channels, first and second derivatives, advective products.

    Returns ``(Theta, term_names)`` with Theta of shape (n*H*W, terms).

    Example:
        >>> Th, terms = derivative_library(np.random.default_rng(0).normal(size=(2, 2, 8, 8)), ["u", "v"], 1.0)
        >>> Th.shape, terms[:4]
        ((128, 21), ['1', 'u', 'v', 'u_x'])
    """
    from physlens.data import fields as field_data  # looked up per call, so a caller may swap the derivative

    spectral_derivative = field_data.spectral_derivative
    cols, terms = [np.ones(X[:, 0].size)], ["1"]
    for i, c in enumerate(names):
        cols.append(X[:, i].ravel())
        terms.append(c)
    first = {}
    for i, c in enumerate(names):
        for tag, (nx, ny) in (("x", (1, 0)), ("y", (0, 1))):
            d = spectral_derivative(X[:, i], spacing, nx, ny)
            first[f"{c}_{tag}"] = d
            cols.append(d.ravel())
            terms.append(f"{c}_{tag}")
    for i, c in enumerate(names):
        for tag, (nx, ny) in (("xx", (2, 0)), ("xy", (1, 1)), ("yy", (0, 2))):
            cols.append(spectral_derivative(X[:, i], spacing, nx, ny).ravel())
            terms.append(f"{c}_{tag}")
    for i, a in enumerate(names):
        for b in names:
            for tag in ("x", "y"):
                if len(names) <= 3:
                    cols.append((X[:, i] * first[f"{b}_{tag}"]).ravel())
                    terms.append(f"{a}*{b}_{tag}")
    return np.stack(cols, axis=1), terms


def sindy_pde(X: np.ndarray, T: np.ndarray, names: list[str], spacing: float, threshold: float = 0.05,
              max_points: int = 20000, seed: int = 0) -> list[dict]:
    """Sparse PDE for each target channel of ``T`` (n, c', H, W) in the library of :func:`derivative_library`.

    STLSQ (PySINDy) on columns scaled to unit RMS with ``threshold`` relative to the target's RMS,
    then least squares on the kept terms. Returns per target ``{"coefficients", "residual"}``.

    Example:
        >>> from physlens.systems.fields import VectorDiffusion
        >>> s = VectorDiffusion(grid=16, nu=0.5, lam=0.3); ds = s.sample(4)
        >>> fit = sindy_pde(ds.X, ds.y, ["u", "v"], ds.spacing)
        >>> {k: round(v, 4) for k, v in fit[0]["coefficients"].items()}
        {'u_xx': 0.8, 'u_yy': 0.5, 'v_xy': 0.3}
    """
    import pysindy as ps

    Theta, terms = derivative_library(X, names, spacing)
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(Theta), size=min(max_points, len(Theta)), replace=False)
    Th = Theta[rows]
    scale = np.sqrt(np.mean(Th**2, axis=0))
    scale[scale == 0] = 1.0
    out = []
    for j in range(T.shape[1]):
        t = T[:, j].ravel()[rows]
        trms = float(np.sqrt(np.mean(t**2))) or 1.0
        opt = ps.STLSQ(threshold=threshold, alpha=1e-10, max_iter=50)
        opt.fit(Th / scale, t / trms)
        keep = np.abs(np.asarray(opt.coef_).ravel()) > 0
        coef = np.zeros(len(terms))
        if keep.any():
            coef[keep] = np.linalg.lstsq(Th[:, keep], t, rcond=None)[0]
        resid = float(np.sqrt(np.mean((Th @ coef - t) ** 2)) / trms)
        out.append({"coefficients": {terms[i]: float(coef[i]) for i in np.nonzero(keep)[0]}, "residual": resid})
    return out


def _expression(coefficients: dict) -> sp.Expr:
    expr = sp.Integer(0)
    for term, c in coefficients.items():
        if term == "1":
            expr += sp.Float(c)
        else:
            factors = [sp.Symbol(p, real=True) for p in term.split("*")]
            expr += sp.Float(c) * sp.Mul(*factors)
    return expr


def run(model, dataset: FieldDataset, seed: int = 0, heldout=None, budget_seconds: float | None = None,
        max_samples: int = 32, symmetries: bool = True, equations: bool = True, source: str = "emulator",
        threshold: float = 0.05) -> list[Finding]:
    """Grid symmetries of the trained model and the PDE (see the module docstring).

    Options: ``max_samples`` fields tested (held-out ones first), ``symmetries`` / ``equations`` to
    run either part, ``source`` ("emulator" or "data") for the PDE, ``threshold`` of STLSQ.

    Example:
        >>> from physlens.systems.fields import VectorDiffusion
        >>> ds = VectorDiffusion(grid=8).sample(6)
        >>> [f.target for f in run(None, ds, symmetries=False, source="data")]
        ['du_dt', 'dv_dt']
    """
    w0 = work_seconds()  # budget shares on the thread's CPU time (physlens.clock)
    if source not in ("emulator", "data"):
        from physlens.errors import ConfigError

        raise ConfigError(f"source must be 'emulator' or 'data', got {source!r}")
    rng = np.random.default_rng(seed)
    index = np.asarray(heldout) if heldout is not None and len(heldout) >= 2 else np.arange(dataset.n)
    if len(index) > max_samples:
        index = np.sort(rng.choice(index, size=max_samples, replace=False))
    findings: list[Finding] = []
    if symmetries and model is not None:
        tests = grid_symmetry_tests(model, dataset, index)
        if tests["model_error"] > MAX_MODEL_ERROR:
            findings.append(Finding(
                "uncertainty", f"grid symmetries not judged: the emulator misses {tests['model_error']:.1%} of its "
                f"outputs' mean square (at most {MAX_MODEL_ERROR:.0%} allowed)", {"model_error": tests["model_error"]},
                {"tests": tests["tests"]}, confidence=1.0, probe="fields", subject="grid symmetry"))
        else:
            findings.append(_symmetry_finding(tests, dataset))
    if budget_seconds is not None and work_seconds() - w0 > budget_seconds:
        return findings
    if equations:
        use_model = source == "emulator" and model is not None
        T = predict_fields(model, dataset.X[index]) if use_model else dataset.y[index]
        fits = sindy_pde(dataset.X[index], T, list(dataset.channel_names), dataset.spacing, threshold, seed=seed)
        for name, fit in zip(dataset.target_names, fits):
            expr = _expression(fit["coefficients"])
            shown = ""
            for t, c in fit["coefficients"].items():
                term = f"{abs(c):.4g}" + ("" if t == "1" else f" {t}")
                shown += (" - " if c < 0 else " + ") + term if shown else ("-" if c < 0 else "") + term
            findings.append(Finding(
                "equation", f"{name} = {shown or '0'} (SINDy on the {'emulator' if use_model else 'data'})",
                {"expression": expr, "coefficients": fit["coefficients"], "source": "emulator" if use_model else "data",
                 "state_names": list(dataset.channel_names)},
                {"relative_residual": fit["residual"], "fields": int(len(index)), "threshold": threshold},
                confidence=float(max(0.0, 1.0 - 10 * fit["residual"])), probe="fields", target=name,
                subject=name))
    return findings
