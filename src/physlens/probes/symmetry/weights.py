"""Symmetry written into the learned weights: does the first layer commute with an input transform?

A network whose first layer satisfies ``W T = Pi W`` (and ``b' = Pi b``) for a
permutation ``Pi`` of its hidden units computes exactly the same hidden
representation up to relabelling after ``x -> T x``; the rest of the network
then only has to be invariant to ``Pi``. This is the weight-space signature of
a symmetry (permutation-equivariant layers, Zaheer et al. 2017 "Deep Sets";
circulant weights from lattice translations, Cohen & Welling 2016 "Group
equivariant CNNs"). We measure how far trained weights are from it: the
Hungarian assignment (``scipy.optimize.linear_sum_assignment``) pairs the rows
of ``[W T | W c + b]`` with those of ``[W | b]`` (``c`` the shift that the
standardisation introduces) and the relative mismatch is compared with the same
number for random permutations/sign flips of the inputs (the null level a
network without that structure shows).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment


def first_layer(model: torch.nn.Module, d_in: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Weights and bias of the first ``nn.Linear`` that reads the ``d_in`` inputs, or None.

    Example:
        >>> W, b = first_layer(torch.nn.Sequential(torch.nn.Linear(3, 4)), 3)
        >>> W.shape, b.shape
        ((4, 3), (4,))
    """
    for mod in model.modules():
        if isinstance(mod, torch.nn.Linear) and mod.in_features == d_in:
            W = mod.weight.detach().cpu().numpy().astype(np.float64)
            b = mod.bias.detach().cpu().numpy().astype(np.float64) if mod.bias is not None else np.zeros(len(W))
            white = getattr(model, "x_white", None)  # whitened inputs: the layer's weights on the standardised ones
            if white is not None and white.numel():
                W = W @ white.detach().cpu().numpy().astype(np.float64)
            return W, b
    return None


def _model_standardisation(model: torch.nn.Module, d_in: int) -> tuple[np.ndarray, np.ndarray]:
    mean = getattr(model, "x_mean", None)
    std = getattr(model, "x_std", None)
    if mean is None or std is None:
        return np.zeros(d_in), np.ones(d_in)
    return mean.detach().cpu().numpy().astype(np.float64), std.detach().cpu().numpy().astype(np.float64)


def commutation_error(model: torch.nn.Module, T: np.ndarray, centre: np.ndarray | None = None) -> float | None:
    """Relative mismatch ``min_Pi |[W T' | W c + b] - Pi [W | b]| / |[W | b]|`` of the first layer.

    ``T`` acts on original inputs (about the point ``centre``, default the origin); ``T'`` and
    ``c`` are its form in the model's standardised inputs.

    Example:
        >>> lin = torch.nn.Linear(2, 2)
        >>> with torch.no_grad():
        ...     _ = lin.weight.copy_(torch.tensor([[1.0, 2.0], [2.0, 1.0]])); _ = lin.bias.zero_()
        >>> commutation_error(torch.nn.Sequential(lin), np.array([[0.0, 1.0], [1.0, 0.0]]))
        0.0
    """
    n = T.shape[0]
    layer = first_layer(model, n)
    if layer is None:
        return None
    W, b = layer
    m, s = _model_standardisation(model, n)
    Tz = (T * s[None, :]) / s[:, None]
    x0 = np.zeros(n) if centre is None else centre
    c = (T @ (m - x0) + x0 - m) / s
    A = np.hstack([W @ Tz, (W @ c + b)[:, None]])
    B = np.hstack([W, b[:, None]])
    cost = ((A[:, None, :] - B[None, :, :]) ** 2).sum(-1)
    r, cidx = linear_sum_assignment(cost)
    return float(np.sqrt(cost[r, cidx].sum() / max((B**2).sum(), 1e-300)))


def null_commutation_error(model: torch.nn.Module, n: int, repeats: int = 20, seed: int = 0) -> np.ndarray | None:
    """:func:`commutation_error` for ``repeats`` random orthogonal maps of the (model-standardised) inputs.

    Random rotations (Haar measure, ``scipy.stats.ortho_group``) are almost surely not
    symmetries, so they give the level a first layer without that structure shows.

    A transform whose error is below all of them is encoded in the weights at rank
    significance ``1 / (repeats + 1)``.

    Example:
        >>> bool(np.all(null_commutation_error(torch.nn.Sequential(torch.nn.Linear(3, 8)), 3) > 0))
        True
    """
    if first_layer(model, n) is None or n < 2:
        return None
    from scipy.stats import ortho_group

    m, s = _model_standardisation(model, n)
    vals = []
    for Q in ortho_group.rvs(n, size=repeats, random_state=seed).reshape(repeats, n, n):
        vals.append(commutation_error(model, (s[:, None] * Q) / s[None, :], centre=m))
    return np.asarray(vals, dtype=float)


def _first_linear(model: torch.nn.Module, d_in: int) -> torch.nn.Linear | None:
    for mod in model.modules():
        if isinstance(mod, torch.nn.Linear) and mod.in_features == d_in:
            return mod
    return None


def hidden_gradients(model: torch.nn.Module, X: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """``dF/dh`` (rows, outputs, hidden) at the first layer's pre-activations ``h = W z + b``, and ``z``; or None.

    ``z`` are the inputs as the first layer reads them (after the model's own standardisation).

    Example:
        >>> net = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Tanh(), torch.nn.Linear(3, 1))
        >>> G, Z = hidden_gradients(net, np.zeros((4, 2)))
        >>> G.shape, Z.shape
        ((4, 1, 3), (4, 2))
    """
    lin = _first_linear(model, X.shape[1])
    if lin is None:
        return None
    store: dict = {}

    def hook(mod, inp, out):
        out.retain_grad()
        store["h"], store["z"] = out, inp[0]

    handle = lin.register_forward_hook(hook)
    p = next(model.parameters())
    try:
        x = torch.as_tensor(X, dtype=p.dtype, device=p.device)
        F = model(x)
        F = F if F.ndim == 2 else F[:, None]
        if "h" not in store or store["h"].shape[:1] != (len(X),):
            return None
        grads = []
        for j in range(F.shape[1]):
            store["h"].grad = None
            F[:, j].sum().backward(retain_graph=j < F.shape[1] - 1)
            grads.append(store["h"].grad.detach().cpu().numpy().astype(np.float64))
        Z = store["z"].detach().cpu().numpy().astype(np.float64)
    finally:
        handle.remove()
        model.zero_grad(set_to_none=True)
    return np.stack(grads, axis=1), Z


def weight_space_generators(model: torch.nn.Module, X: np.ndarray, dimension: int,
                            equivariant: bool = False, tolerance: float | None = None) -> dict | None:
    """Generators read from the first layer: ``L`` such that ``W (L z + b)`` lies where the later layers look away.

    A move ``z -> z + eps (L z + b)`` of the first layer's input moves its pre-activations by
    ``eps W (L z + b)``; it is a symmetry when that displacement lies, at every row, in the span
    that the later layers ignore (the kernel of ``dF/dh``). Writing ``u = W^T dF/dh`` (the rows of
    ``W`` weighted by what the rest of the network reads from each unit), the generators are the
    null space of the stacked rows ``u (x) [z, 1]`` (for equivariance the output regressors
    ``[F, 1]`` are projected out, as in the function-space constraint). The ``dimension`` smallest
    right singular vectors are returned in original coordinates, with the effective rank of the
    hidden directions the later layers read (``hidden_rank``: singular values of ``dF/dh`` above
    1e-3 of the largest).

    To first order this is the function-space constraint factorised through the weights: agreement
    with :func:`physlens.probes.symmetry.continuous.lie_generators` checks that the algebra is carried
    by the first layer and the later layers' kernel, on rows drawn independently.

    The rows are whitened as in the function-space scan (the second moment of ``[z, 1]``, each output
    divided by its spread), so ``rates`` (singular values over the square root of the rows) are the RMS
    rate of change of the standardised output per standard deviation moved. ``dimension`` in the
    result is the weights' own count: the largest relative gap among the first ``dimension + 1`` rates;
    ``within_tolerance`` counts the rates within ``tolerance`` (a rate: the change a move of one
    standard deviation may cause within the model's own error, e.g. twice its relative error - the
    error at the point and at its image). ``rate_of(G)`` gives the weights' rate
    of any generator ``G`` (original coordinates): a generator found in function space is carried by
    the weights when its rate is within the tolerance, which stays meaningful where the spectrum is a
    continuum with no gap (a large algebra known roughly, e.g. 33 dims on a Lorentz-invariant emulator).

    Returns ``{"generators", "singular_values", "rates", "dimension", "tolerance", "within_tolerance",
    "rate_of", "hidden_rank", "hidden_units"}`` or None (no first layer reading the inputs, e.g. a graph network whose edge
    model reads particle pairs).

    Example:
        >>> net = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
        >>> with torch.no_grad():
        ...     _ = net[0].weight.copy_(torch.randn(16, 1) * torch.tensor([[1.0, 0.0]]))
        >>> out = weight_space_generators(net, np.random.default_rng(0).normal(size=(300, 2)), 3)
        >>> bool(max(np.abs(g[0]).max() for g in out["generators"]) < 1e-6)  # every generator moves y only
        True
    """
    got = hidden_gradients(model, X)
    if got is None:
        return None
    Gh, Z = got  # (m, k, H), (m, n)
    lin = _first_linear(model, X.shape[1])
    W = lin.weight.detach().cpu().numpy().astype(np.float64)
    m, k, _ = Gh.shape
    n = Z.shape[1]
    U = Gh @ W  # (m, k, n): W^T dF/dh, the rate of each output per unit of the first layer's input
    with torch.no_grad():
        p = next(model.parameters())
        F = model(torch.as_tensor(X, dtype=p.dtype, device=p.device)).detach().cpu().numpy().astype(np.float64)
    F = F if F.ndim == 2 else F[:, None]
    fsd = F.std(0)
    fsd = np.where(fsd > 0, fsd, np.sqrt(np.mean(U**2, axis=(0, 2))))
    U = U / np.maximum(fsd, 1e-300)[None, :, None]  # rates of the standardised outputs
    Zt = np.hstack([Z, np.ones((m, 1))])
    S = Zt.T @ Zt / m
    Lc = np.linalg.cholesky(S + 1e-12 * np.trace(S) * np.eye(n + 1))
    Wh = np.linalg.solve(Lc, Zt.T).T  # whitened [z, 1]: a unit vector of unknowns moves the data by 1 RMS
    rows = (U[:, :, :, None] * Wh[:, None, None, :]).reshape(m, k, n * (n + 1))
    blocks = []
    if equivariant:
        Q, _ = np.linalg.qr(np.hstack([(F - F.mean(0)) / np.maximum(F.std(0), 1e-300), np.ones((m, 1))]))
        for j in range(k):
            blocks.append(rows[:, j] - Q @ (Q.T @ rows[:, j]))
    else:
        blocks = [rows[:, j] for j in range(k)]
    C = np.vstack(blocks)
    _, s, Vt = np.linalg.svd(C, full_matrices=False)
    asc = s[::-1]
    rates = asc / np.sqrt(m)
    d = int(min(max(dimension, 0), len(s)))
    within = int(np.sum(rates <= tolerance)) if tolerance is not None else None
    # the largest relative gap among the first d + 1 rates (bounding them by the tolerance instead cut a
    # true generator whose rate, 0.1265, sat just above twice the error, 0.125, on a Kepler emulator)
    logs = np.log(np.maximum(asc[: d + 1], 1e-12 * max(asc.max(), 1e-300)))
    own = int(np.argmax(np.diff(logs)) + 1) if len(logs) > 1 and d > 0 else d
    Lc_inv = np.linalg.inv(Lc)
    mean, std = _model_standardisation(model, n)
    gens = []
    for v in Vt[::-1][: max(d, own)]:
        A_z = v.reshape(n, n + 1) @ Lc_inv
        L = A_z[:, :n] * (std[:, None] / std[None, :])
        b = std * A_z[:, n] - L @ mean
        G = np.hstack([L, b[:, None]])
        gens.append(G / max(np.abs(G).max(), 1e-300))
    sh = np.linalg.svd(Gh.reshape(m * k, -1), compute_uv=False)
    def rate_of(G: np.ndarray) -> float:
        # the weights' rate of one generator (original coordinates), per RMS displacement of the data
        G = np.asarray(G, dtype=float)
        Lz = G[:, :n] * std[None, :] / std[:, None]
        Az = np.hstack([Lz, ((G[:, n] + G[:, :n] @ mean) / std)[:, None]])
        w = (Az @ Lc).ravel()
        return float(np.linalg.norm(C @ w) / max(np.linalg.norm(w), 1e-300) / np.sqrt(m))

    def whitened(G: np.ndarray) -> np.ndarray:
        # a generator (original coordinates) as a vector of the whitened unknowns: its norm is the RMS
        # displacement it causes on the rows, the metric in which the rates (and the angles below) are taken
        G = np.asarray(G, dtype=float)
        Lz = G[:, :n] * std[None, :] / std[:, None]
        Az = np.hstack([Lz, ((G[:, n] + G[:, :n] @ mean) / std)[:, None]])
        return (Az @ Lc).ravel()

    return {"generators": gens, "singular_values": asc[: max(d, own) + 3], "rates": rates[: max(d, own) + 3],
            "all_rates": rates, "basis": Vt[::-1], "whitened": whitened,
            "dimension": own, "tolerance": tolerance, "within_tolerance": within, "rate_of": rate_of,
            "hidden_rank": int(np.sum(sh > 1e-3 * max(sh.max(), 1e-300))), "hidden_units": int(W.shape[0])}


def span_angle_deg(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    """Largest principal angle (degrees) between the spans of two lists of matrices.

    Example:
        >>> J = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0]])
        >>> round(span_angle_deg([J], [-2 * J]), 6)
        0.0
    """
    import scipy.linalg as sla

    A = np.stack([np.ravel(g) for g in a], axis=1)
    B = np.stack([np.ravel(g) for g in b], axis=1)
    return float(np.degrees(np.max(sla.subspace_angles(A, B))))


def architectural_symmetries(model: torch.nn.Module, X: np.ndarray, generators: list[np.ndarray],
                             repeats: int = 2, seed: int = 0, t: float = 0.05) -> list[dict] | None:
    """Which found generators does the architecture guarantee? Test them on re-initialised copies of the model.

    Every ``nn.Linear`` of a copy is re-drawn (``reset_parameters``, the standardisation kept); a
    generator that is still a symmetry of ``repeats`` such untrained networks (relative change of the
    prediction under a flow of ``t`` below 1e-3 of that under a random move of the same size) is
    built in; one that holds for the trained network only was added by training.

    Example:
        >>> net = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
        >>> rot = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0]])
        >>> architectural_symmetries(net, np.random.default_rng(0).normal(size=(200, 2)), [rot])[0]["architectural"]
        False
    """
    import copy

    import scipy.linalg as sla

    if not generators:
        return []
    rng = np.random.default_rng(seed)
    torch_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    copies = []
    for _ in range(repeats):
        c = copy.deepcopy(model)
        for mod in c.modules():
            if isinstance(mod, torch.nn.Linear):
                mod.reset_parameters()
        c.eval()
        copies.append(c)
    torch.random.set_rng_state(torch_state)
    p = next(model.parameters())

    def pred(net, A):
        with torch.no_grad():
            out = net(torch.as_tensor(A, dtype=p.dtype, device=p.device)).detach().cpu().numpy().astype(np.float64)
        return out.reshape(len(A), -1)

    out = []
    for G in generators:
        G = np.asarray(G, dtype=float)
        n = G.shape[0]
        aug = np.zeros((n + 1, n + 1))
        aug[:n] = G
        rms = np.sqrt(np.mean((np.hstack([X, np.ones((len(X), 1))]) @ G.T) ** 2))
        tt = t * float(np.mean(X.std(0))) / max(rms, 1e-300)
        E = sla.expm(tt * aug)
        Ximg = X @ E[:n, :n].T + E[:n, n]
        step = Ximg - X
        Xctl = X + rng.permutation(step.ravel()).reshape(step.shape)
        ratios = []
        for c in copies:
            f0 = pred(c, X)
            ratios.append(float(np.linalg.norm(pred(c, Ximg) - f0) / max(np.linalg.norm(pred(c, Xctl) - f0), 1e-300)))
        out.append({"violation_ratio_untrained": ratios, "architectural": bool(max(ratios) < 1e-3)})
    return out


#: the weights' near-null subspace is bounded by a gap whose lower side lies within this many times the noise
#: tolerance: a direction whose rate is 4 x the tolerance moves the prediction by 8 x the model's error, a
#: breaking the weights see beyond doubt, so a gap above it separates the near-null directions from the broken ones
GAP_SEARCH_FACTOR = 4.0


def gap_subspace_agreement(ws: dict, gens: list[np.ndarray], tolerance: float,
                           factor: float = GAP_SEARCH_FACTOR) -> dict | None:
    """Angle of the function-space algebra to the weights' near-null subspace bounded by a gap in their spectrum.

    Why this comparison: the weights' rates (:func:`weight_space_generators`) may form a continuum
    (a large algebra known roughly: on a Lorentz-invariant emulator 43 rates from 0.005 to 0.09 with no
    gap inside), and there the ``d`` weakest directions, for any fixed ``d`` inside the continuum, are
    ill-determined (eigenvectors of nearly equal eigenvalues mix freely: 16-44 degrees between two
    estimates of the same span). A subspace is well-determined only where it is separated from the rest
    of the spectrum by a gap (Davis-Kahan: its tilt is bounded by the perturbation over the gap). So the
    weights' subspace ``U`` is the one below the largest relative gap of their rates, among sizes
    ``D >= len(gens)`` whose lower side is within ``factor`` x ``tolerance`` (the breakings the weights
    cannot resolve from their noise), and the angle reported is the largest principal angle of the
    function-space span inside ``U`` (in the whitened metric: a unit of generator moves the data by one
    RMS standard deviation). The comparison can fail: a generator that the weights see as breaking has
    a component beyond the gap and comes out far (a random generator comes out near
    ``null_angle_deg = arccos(sqrt(D / N))``); ``gap_ratio`` says how well-posed it is (near 1: no
    gap, the weights do not determine a subspace).

    Returns ``{"dimension", "gap_ratio", "rate_below", "rate_above", "angle_deg", "per_generator_deg",
    "null_angle_deg", "unknowns"}`` or None (no generators, or no admissible size).

    Example:
        >>> net = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
        >>> with torch.no_grad():
        ...     _ = net[0].weight.copy_(torch.randn(16, 1) * torch.tensor([[1.0, 0.0]]))
        >>> ws = weight_space_generators(net, np.random.default_rng(0).normal(size=(300, 2)), 3)
        >>> shift_y = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
        >>> shift_x = np.array([[0.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
        >>> gap_subspace_agreement(ws, [shift_y], 0.01)["angle_deg"] < 1e-3
        True
        >>> gap_subspace_agreement(ws, [shift_x], 0.01)["angle_deg"] > 60  # a wrong generator comes out far
        True
    """
    import scipy.linalg as sla

    if not gens or "basis" not in ws:
        return None
    r = np.asarray(ws["all_rates"], dtype=float)
    N = len(r)
    d = len(gens)
    logs = np.log(np.maximum(r, 1e-12 * max(float(r.max()), 1e-300)))
    admissible = [D for D in range(d, N) if r[D - 1] <= factor * tolerance]
    if not admissible:
        return None
    D = max(admissible, key=lambda D: logs[D] - logs[D - 1])
    U = np.asarray(ws["basis"])[:D]
    W = np.stack([ws["whitened"](g) for g in gens])
    Q, R = np.linalg.qr(W.T)
    Q = Q[:, np.abs(np.diag(R)) > 1e-10 * max(np.abs(np.diag(R)).max(), 1e-300)]
    angle = float(np.degrees(np.max(sla.subspace_angles(Q, U.T))))
    per = [float(np.degrees(np.arccos(min(1.0, np.linalg.norm(U @ w) / max(np.linalg.norm(w), 1e-300))))) for w in W]
    return {"dimension": int(D), "gap_ratio": float(r[D] / max(r[D - 1], 1e-300)), "rate_below": float(r[D - 1]),
            "rate_above": float(r[D]), "angle_deg": angle, "per_generator_deg": per,
            "null_angle_deg": float(np.degrees(np.arccos(np.sqrt(D / N)))), "unknowns": int(N),
            "span": U}
