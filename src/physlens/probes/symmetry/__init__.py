"""Symmetry discovery: the continuous (Lie) and discrete symmetries a trained network respects.

The probe reads the trained network only (never the ground truth):

1. **Lie generators** (:mod:`.continuous`, after LieGG, Moskalev et al. 2022):
   the algebra of affine infinitesimal symmetries ``x -> x + eps (L x + b)`` —
   invariance, or equivariance ``f(g x) = rho(g) f(x)`` for vector outputs —
   from the null space of the linear constraint ``J(x)(L x + b) = M f(x)``
   over the data, accepted candidate by candidate by an error-calibrated test;
   named (so(2), so(3), so(1,3), translations, scaling...) with structure
   constants by :mod:`.algebra`.
2. **Discrete symmetries** (:mod:`.discrete`): sign flips (Z2), reflections,
   column and particle permutations, reversal (parity) and lattice shifts,
   with the output action found by assignment, each with a significance test
   against the model's residuals (:mod:`.transform_test`).
3. **Weights** (:mod:`.weights`): whether the first layer commutes with a found
   discrete transform up to a permutation of hidden units (circulant /
   permutation structure), compared with random transforms.
4. **Latent equivariance** (:mod:`.latent`): whether a found symmetry acts as a
   linear map ``rho`` on ``model.embed(x)``, with its equivariance error.

Power: passing the error test is not enough. An output that barely depends on
the moved inputs (or a model too coarse to see them) passes it for *any* move.
So every candidate is also compared with a control move of the same inputs by
comparable random amounts (:func:`.transform_test.contrast_test`): the control
must change the prediction by more than the candidate does plus the error
budget. Candidates that pass the error test without that contrast are reported
as *undetermined* (one ``uncertainty`` finding), never as symmetries. A
model-quality gate (explained variance, with the target's noise removed where
inputs repeat) scales every confidence and refuses models below
``min_explained``. A common shift of every input is also tested by name
(shift-equivariance, e.g. ``V -> V + c`` moving every energy level by ``c``),
because in many dimensions the null-space spectrum cannot single it out.

Findings: one ``symmetry`` finding for the whole continuous algebra (value:
``generators`` as n x (n+1) ``[L | b]`` in the original input coordinates and
column order, ``group``, ``residual``, ``structure_constants``...), one per
discrete symmetry (value: ``transform``, optional ``output_transform``), and at
most one ``uncertainty`` finding listing the undetermined candidates (or, for a
model below the quality gate, a single ``quality`` finding).
"""

from __future__ import annotations


import numpy as np
import scipy.linalg as sla
import torch

from physlens.clock import past, work_seconds
from physlens.data.dataset import Dataset
from physlens.errors import ConfigError
from physlens.findings import Finding
from physlens.probes.symmetry.algebra import (
    identify_algebra, ignored_directions, ignored_inputs, readable_combinations, readable_directions,
)
from physlens.probes.symmetry.continuous import (
    affine_flow,
    lie_generators,
    named_generators,
    particle_structured_basis,
    check_generator,
    ignored_vector_kinds,
    merge_generators,
    vector_shift_generators,
)
from physlens.probes.symmetry.discrete import candidate_transforms, discrete_symmetries, particle_columns
from physlens.probes.symmetry.group import Element, IdentityComponent, component_group, group_statement
from physlens.probes.symmetry.latent import latent_equivariance, latent_representation
from physlens.probes.symmetry.resolution import expected_resolution, sample_plan, sampled_resolution
from physlens.probes.symmetry.transform_test import SymmetryContext
from physlens.probes.symmetry.weights import (
    architectural_symmetries,
    commutation_error,
    gap_subspace_agreement,
    null_commutation_error,
    span_angle_deg,
    weight_space_generators,
)

#: the symmetry probe resolves a generator only down to the emulator's error (measured on 2-D Kepler
#: derivatives: 18 % relative error gave a mixed 2-dimensional algebra, 2.4 % the rotations within 2.6 degrees)
REQUIRES = {"relative_error": 0.05}
MAX_STORED_DIM = 24  # algebras up to this dimension get structure constants and a name
COST = 2.0


def applies(dataset: Dataset) -> str | None:
    """None when the probe can read ``dataset``: at least two inputs (a symmetry moves inputs against each other).

    Example:
        >>> one_input = Dataset(np.zeros((8, 1)), np.zeros(8), ["x"], ["y"])
        >>> applies(one_input)
        'one input only: there is no transformation of the inputs to test'
    """
    if dataset.d_in < 2:
        return "one input only: there is no transformation of the inputs to test"
    return None


__all__ = ["run", "applies", "lie_generators", "identify_algebra", "candidate_transforms", "discrete_symmetries"]


def _format_generator(A: np.ndarray, names: list[str]) -> str:
    n = A.shape[0]
    terms = []
    for i in range(n):
        parts = []
        for j in range(n + 1):
            v = A[i, j]
            if abs(v) < 1e-3 * max(np.abs(A).max(), 1e-300):
                continue
            parts.append(f"{v:+.3g}{'*' + names[j] if j < n else ''}")
        if parts:
            terms.append(f"d{names[i]} = {' '.join(parts)}")
    return "; ".join(terms) if terms else "0"


def _discrete_kind(name: str, P: np.ndarray, k: int) -> str:
    if name.startswith("time reversal"):
        return "time reversal"
    if name.startswith("cyclic"):
        return "shift-equivariance" if k > 1 and not np.allclose(P, np.eye(k)) else "translation"
    if name.startswith("reverse") or name.startswith("reflect"):
        return "parity"
    if name.startswith("swap"):
        return "permutation"
    return "Z2"


def _confidence(p_values: list[float], alpha: float, contrast: bool = False) -> float:
    # distance (in decades) of the weakest p-value above the significance level, squashed into [0.5, 1);
    # with ``contrast`` the last p-value is the power contrast, which must be *below* alpha
    if not p_values:
        return 0.5
    tests = list(p_values[:-1]) if contrast else list(p_values)
    margins = [np.log10(max(p, 1e-300) / alpha) for p in tests]
    if contrast:
        margins.append(np.log10(alpha / max(p_values[-1], 1e-300)))
    margin = max(min(margins), 0.0) if margins else 0.0
    return float(1.0 - 0.5 * np.exp(-2.0 * margin))


def model_quality(ctx: SymmetryContext) -> dict:
    """How well the network fits: relative RMS error and the fraction of variance it explains.

    ``relative_error`` is the RMS residual over the target's std (all outputs pooled). Where inputs
    repeat, the noise of ``y`` is estimated from the replicates and removed (``noise_corrected_error``);
    ``explained = 1 - noise_corrected_error^2`` is what the quality gate reads.

    Example:
        >>> X = np.random.default_rng(0).normal(size=(200, 2))
        >>> ctx = SymmetryContext.build(torch.nn.Linear(2, 1), X, X[:, :1])
        >>> 0.0 <= model_quality(ctx)["explained"] <= 1.0
        True
    """
    rel = ctx.model_error
    e2 = ctx.error2(np.arange(len(ctx.X))) / ctx.F.shape[1]
    corrected = float(np.sqrt(max(float(e2.mean()), 0.0)))
    return {"relative_error": rel, "noise_corrected_error": corrected,
            "noise_sd": float(np.sqrt(max(rel**2 - corrected**2, 0.0))),
            "explained": float(np.clip(1.0 - corrected**2, 0.0, 1.0))}


def _resolution_txt(res: dict, needs: dict | None = None) -> str:
    if res.get("max_expected_deg") is None:
        return ""
    txt = (f" Expected angular resolution from the network's error: {res['max_expected_deg']:.2g} degrees "
           + (f"(towards clearly broken directions {res['max_error_limited_deg']:.2g}; "
              if res.get("max_error_limited_deg") is not None else "(")
           + f"worst case {res['max_worst_deg']:.2g}).")
    if (res.get("sample_plan") or {}).get("budget_limited"):
        txt += (f" The time budget allowed {res['sample_plan']['fit_rows']} of the "
                f"{res['sample_plan']['needed_rows']} rows this resolution needs.")
    if needs:
        txt += (f" To resolve it within {needs['target_deg']:.2g} degrees the emulator needs a relative error of "
                f"{needs['relative_error']:.2g}" + (f" or a structured model ({needs['model']})" if needs.get("model")
                                                      else "") + ".")
    return txt


def _resolution(lie, plan: dict | None, target_deg: float) -> dict:
    """Expected angle of each found generator from the scan's spectrum (accepted candidates first)."""
    acc = list(lie.accepted) or list(range(len(lie.flows)))
    order = acc + [c for c in range(len(lie.rates)) if c not in acc]
    res = expected_resolution(np.asarray(lie.rates)[order], len(acc), sort=False)
    sys_ = getattr(lie, "system", None)
    calibrated = (sampled_resolution(sys_.G, sys_.G_blocks, acc, sys_.block_weights) if sys_ is not None and lie.accepted
                  and len(sys_.G) == len(lie.rates) else None)
    if calibrated is not None:
        # the first-order guess (random orientation of the error in the unknowns) stays as the bound;
        # the expected angle is the one measured from the couplings' spread over regions of the inputs
        res = {**res, "first_order_expected_deg": res["expected_deg"],
               "first_order_max_expected_deg": res["max_expected_deg"], "expected_deg": calibrated["expected_deg"],
               "max_expected_deg": calibrated["max_expected_deg"], "blocks": calibrated["blocks"],
               "error_limited_deg": calibrated["error_limited_deg"],
               "max_error_limited_deg": calibrated["max_error_limited_deg"],
               "method": calibrated["method"] + "; worst: " + res["method"].split("worst: ")[-1]}
    res["target_deg"] = float(target_deg)
    if plan is not None:
        res["sample_plan"] = plan
    return res


def resolution_needs(resolution: dict, model_error: float, target_deg: float, meta: dict | None = None,
                     model_name: str = "") -> dict | None:
    """What the emulator would need for the algebra to be resolved within ``target_deg``; None when it is.

    The tilt towards clearly broken directions grows linearly with the network's error (the rates of the
    found generators are the error along them), so the error needed is ``model_error * tan(target) /
    tan(expected)``, read from ``max_error_limited_deg`` where the resolution has it (the tilt towards
    near-symmetries that the test rejected narrowly does not shrink with the error: a better emulator
    would not help, see :func:`.resolution.sampled_resolution`). For particle data read by an
    unstructured network, a structured model (``scalars`` or ``graph``, symmetric by construction) is
    asked for as well.

    Example:
        >>> resolution_needs({"max_expected_deg": 20.0}, 0.04, 5.0)["relative_error"] < 0.01
        True
        >>> resolution_needs({"max_expected_deg": 2.0}, 0.04, 5.0) is None
        True
        >>> resolution_needs({"max_expected_deg": 20.0, "max_error_limited_deg": 2.0}, 0.04, 5.0) is None
        True
    """
    exp = resolution.get("max_error_limited_deg", resolution.get("max_expected_deg"))
    if exp is None or exp <= target_deg:
        return None
    ratio = np.tan(np.radians(target_deg)) / np.tan(np.radians(min(exp, 89.0)))
    out = {"relative_error": float(model_error * ratio), "expected_deg": float(exp), "target_deg": float(target_deg),
           "reason": f"expected angular resolution {exp:.2g} degrees > {target_deg:.2g}"}
    parts = (meta or {}).get("particles") or {}
    if int(parts.get("n", 1)) > 1 and model_name.lower() not in ("scalarsmodel", "graphnetwork", "scalars", "graph"):
        out["model"] = "graph" if parts.get("metric", "euclidean") == "euclidean" else "scalars"
    return out


def _is_rotation(A: np.ndarray) -> bool:
    """Whether the linear part turns (imaginary rates, not small beside its norm) rather than stretches or shears.

    The rates are compared with the matrix norm, not only with each other: a shear (dx = z, dy = z) has
    rates that are all noise, and among noise an imaginary one is as likely as a real one.

    Example:
        >>> shear = np.array([[0.0, 0.003, 1, 0], [-0.003, 0, 1, 0], [0, -0.001, 0, 0]])  # rates 0.003, 0.0015 +- 0.032i
        >>> _is_rotation(np.array([[0.0, -1, 0], [1, 0, 0]])), _is_rotation(shear)
        (True, False)
    """
    L = np.asarray(A, dtype=float)[:, : A.shape[0]]
    ev = np.linalg.eigvals(L)
    norm = max(float(np.linalg.norm(L, 2)), 1e-300)
    top = max(np.abs(ev).max(), 1e-300)
    return bool(np.abs(ev.imag).max() > 0.2 * norm and np.abs(ev.imag).max() > 0.5 * top
                and np.abs(ev.real).max() < 0.2 * top)


def _short(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _latent_finding(lat: dict, gens: list[np.ndarray], names: list[str], target, quality, scale_conf) -> Finding:
    b = lat["blocks"]
    parts = [f"{b[k]} {k}" for k in ("invariant", "vector", "spin-2", "other") if b[k]]
    statement = (f"Latent representation: on the network's embedding ({lat['source']}, {lat['latent_dim']} units, "
                 f"{lat['components']} principal components) the rotation [{_short(_format_generator(gens[0], names))}] acts "
                 f"linearly as rho = {' + '.join(parts) or 'nothing'} block(s); unexplained fraction of the "
                 f"embedding's motion (relative to a random move) {lat['per_generator'][0]['error']:.2g}"
                 + (f" ({len(lat['per_generator'])} rotations fitted, largest error {lat['error']:.2g})."
                    if len(lat["per_generator"]) > 1 else "."))
    value = {"name": "latent representation", "representation": {
        "source": lat["source"], "latent_dim": lat["latent_dim"], "components": lat["components"],
        "blocks": b, "error": lat["error"], "input_generators": [np.asarray(g, dtype=float) for g in gens],
        "rho": [p["rho"] for p in lat["per_generator"]],
        "per_generator": [{k: v for k, v in p.items() if k != "rho"} for p in lat["per_generator"]]},
        "input_names": names}
    return Finding(kind="symmetry", statement=statement, value=value,
                   evidence={"model_quality": quality, "method": "central differences along the flow, least "
                             "squares in whitened principal components (physlens.probes.symmetry.latent)"},
                   confidence=float(scale_conf * max(0.0, 1.0 - lat["error"])), probe="symmetry", target=target,
                   subject="latent representation")


def _weight_space(model, X, gens, equivariant, seed, phys_gens=None, tolerance=None, fs_rate_of=None) -> tuple[dict, str]:
    """Generators read from the first layer's weights, compared with the function-space ones; what the architecture guarantees.

    ``tolerance`` is the rate (standardised output per standard deviation moved) within the model's own
    error: the weights' own dimension counts the directions below it.
    """
    out: dict = {}
    txt = ""
    ws = weight_space_generators(model, X, len(gens), equivariant=equivariant, tolerance=tolerance)
    if ws is not None and ws["generators"]:
        own = ws["dimension"]  # directions within the model's error (or the largest gap of their spectrum)
        mine = ws["generators"][:own]
        # the smaller of the two spans inside the larger one
        if not own:
            angle = 90.0
        elif own <= len(gens):
            angle = span_angle_deg(mine, gens)
        else:
            angle = span_angle_deg(gens, mine)
        full = span_angle_deg(ws["generators"][:len(gens)], gens)
        # each function-space generator's rate in the weights: carried by them when within the tolerance
        g_rates = [ws["rate_of"](g) for g in gens]
        out.update(generators=ws["generators"][:max(own, len(gens))], angle_deg=angle, full_span_angle_deg=full,
                   singular_values=ws["singular_values"], rates=ws["rates"], tolerance=ws["tolerance"],
                   within_tolerance=ws["within_tolerance"], generator_rates=g_rates,
                   dimension=own, hidden_rank=ws["hidden_rank"],
                   hidden_units=ws["hidden_units"], agrees=bool(angle < 5.0 and own == len(gens)))
        if tolerance is not None:
            out["carried"] = int(sum(r <= tolerance for r in g_rates))
        if fs_rate_of is not None:
            # the same generators' rates in the function-space constraint: where both exceed the tolerance
            # alike (an equivariant emulator whose accepted flows break by more than twice its error), the
            # weights agree with the function and the tolerance, not the weights, is what is off
            out["function_rates"] = [fs_rate_of(g) for g in gens]
        how = "largest gap of their spectrum" + (
            f"; {ws['within_tolerance']} within the model's error, rate {tolerance:.2g}" if tolerance is not None else "")
        txt = (f" Read from the first layer's weights (W (L z + b) in the kernel of the later layers): "
               f"{own} direction(s) ({how}), within {angle:.2g} degrees of the "
               f"function-space algebra" + ("" if angle < 5.0 else " (disagreement)")
               + (f"; its {len(gens)} weakest directions within {full:.2g} degrees" if own != len(gens) else ""))
        if tolerance is not None:
            txt += (f"; {out['carried']} of the {len(gens)} function-space generators have a rate within it in the "
                    "weights")
        txt += f"; the later layers read {ws['hidden_rank']} of {ws['hidden_units']} hidden directions."
        span = mine if own >= len(phys_gens or []) else ws["generators"][:len(gens)]
        if tolerance is not None:
            # the well-posed comparison where the weights' spectrum is a continuum (see gap_subspace_agreement)
            gap = gap_subspace_agreement(ws, gens, tolerance)
            if gap is not None:
                U = gap.pop("span")
                if phys_gens:
                    P = np.linalg.qr(np.stack([ws["whitened"](g) for g in phys_gens]).T)[0]
                    gap["physical_angle_deg"] = float(np.degrees(np.max(sla.subspace_angles(P, U.T))))
                gap["agrees"] = bool(gap["angle_deg"] < 5.0)
                out["gap_subspace"] = gap
                txt = txt[:-1] + (
                    f"; inside the weights' {gap['dimension']} directions below the gap of their spectrum (rates "
                    f"{gap['rate_below']:.2g} -> {gap['rate_above']:.2g}, ratio {gap['gap_ratio']:.2g}) the function-space "
                    f"algebra lies within {gap['angle_deg']:.2g} degrees (a random generator: "
                    f"{gap['null_angle_deg']:.2g})" + (f", the physical part within {gap['physical_angle_deg']:.2g}"
                                                      if "physical_angle_deg" in gap else "") + ".")
        if phys_gens and len(span) >= len(phys_gens):
            # the physical part (one matrix on every particle's vectors) inside the weights' span
            out["physical_angle_deg"] = span_angle_deg(phys_gens, span)
            out["physical_rates"] = [ws["rate_of"](g) for g in phys_gens]
            txt = txt[:-1] + f" (the physical part lies within {out['physical_angle_deg']:.2g} degrees of it)."
    arch = architectural_symmetries(model, X[:500], gens[:MAX_STORED_DIM], seed=seed)
    if arch:
        out["architectural"] = [a["architectural"] for a in arch]
        out["untrained_violation"] = [a["violation_ratio_untrained"] for a in arch]
        k = sum(out["architectural"])
        txt += (f" {k} of {len(gens)} generator(s) hold for re-initialised copies of the network (built into the "
                f"architecture); {len(gens) - k} were added by training.")
    return out, txt


def _function_rate(system, ctx):
    """The rate of a generator (original coordinates) in the function-space constraint ``system``; or None."""
    if system is None:
        return None
    from physlens.probes.symmetry.continuous import original_to_standardised

    def rate(G):
        w = (original_to_standardised(np.asarray(G, dtype=float), ctx.mu, ctx.sd) @ system.Lc).ravel()
        return float(np.sqrt(max(float(w @ system.G @ w), 0.0) / max(float(w @ w), 1e-300)))

    return rate


def _spent(deadline: float | None) -> bool:
    return past(deadline)


_PRIORITY = ("swap particles", "reflect axis", "time reversal", "flip sign of every", "flip", "swap", "cyclic")


def _priority(name: str) -> int:
    # the elements a physicist names a group by come first: particle swaps (S_n), reflections (O(d)),
    # time reversal; composite moves (reversal of the whole input vector) last
    return next((i for i, p in enumerate(_PRIORITY) if name.startswith(p)), len(_PRIORITY))


def _state_group(gens, outs, algebra, elements, seed):
    G0 = IdentityComponent(gens or [], outs if gens else None, seed=seed)
    cg = component_group(elements, G0)
    return G0, cg, group_statement(algebra, G0, elements, cg)


def derivative_outputs(input_names: list[str], target_names: list[str]) -> list[int] | None:
    """For each output, the input it is the time derivative of (names ``d<input>_dt`` or ``<input>_dot``); else None.

    Example:
        >>> derivative_outputs(["x", "vx"], ["dx_dt", "dvx_dt"])
        [0, 1]
        >>> derivative_outputs(["x", "vx"], ["E"]) is None
        True
    """
    out = []
    for t in target_names:
        base = t[1:-3] if t.startswith("d") and t.endswith("_dt") else (t[:-4] if t.endswith("_dot") else None)
        if base not in input_names:
            return None
        out.append(input_names.index(base))
    return out if sorted(out) == list(range(len(input_names))) else None


def _flow_statement(gens, outs, elements, names, target_names, seed, in_sd=None, out_sd=None,
                    model_error=0.0) -> dict | None:
    """The group of a flow dx/dt = f(x): the elements that move the outputs as the inputs (T f), or reverse them.

    Generators count when their output action is their own linear part (``M = L``) and, for a move
    dominated by its shift, with no constant on the derivatives beyond the emulator's error (``in_sd``/
    ``out_sd`` the input and output spreads, ``model_error`` its relative error; without the spreads the
    constant is not checked).
    """
    order = derivative_outputs(names, target_names or [])
    if order is None or not gens or outs is None:
        return None
    kept = []
    reversal = False
    for e in elements:
        if e.P is None:
            continue
        T = np.asarray(e.T, dtype=float)
        P = np.asarray(e.P, dtype=float)
        T_out = T[np.ix_(order, order)]  # the input transform seen in the output order
        if np.allclose(P, T_out, atol=1e-6):
            kept.append(e)
        elif np.allclose(P, -T_out, atol=1e-6):
            kept.append(Element(e.name, e.T, e.P, "time reversal", e.extra))
            reversal = True
    # only generators whose output action is the input's own (L on the derivatives, no constant: the
    # derivative of x + eps (L x + b) is f + eps L f) move the flow along; a shift of the velocities that
    # shifts dx/dt by the same constant is a symmetry of the map, not of the dynamics
    flow_gens, flow_outs = [], []
    for g, m in zip(gens, outs):
        L = np.asarray(g, dtype=float)[:, :-1][np.ix_(order, order)]
        M = np.asarray(m, dtype=float)
        G = np.asarray(g, dtype=float)
        const_ok = True
        if in_sd is not None and out_sd is not None:
            # a move dominated by its shift (in standard deviations) must leave the derivatives unchanged: a
            # velocity shift that shifts dx/dt alike is a symmetry of the map, not of the flow. A rotation is
            # not held to it: its small estimated centre offset (0.06 sd on the flagship emulator) moves
            # dx/dt = v by the same constant, an imprecision of the generator, not a different symmetry
            size_L = np.abs(G[:, :-1] * in_sd[None, :] / in_sd[:, None]).max()
            size_b = np.abs(G[:, -1] / in_sd).max()
            if size_L < size_b:
                const_ok = bool(np.abs(M[:, -1] / out_sd).max() <= max(0.05, 2.0 * model_error) * size_b)
        if np.allclose(M[:, :-1], L, atol=0.05 * max(np.abs(L).max(), 1e-12)) and const_ok:
            flow_gens.append(g)
            flow_outs.append(m)
    alg = identify_algebra(flow_gens, max_dimension=MAX_STORED_DIM)["name"] if flow_gens else None
    G0, cg, info = _state_group(flow_gens, flow_outs, alg, kept, seed)
    parts: list[str] = []
    for i, nm in enumerate(names):
        block = [j for j in range(len(names)) if any(abs(np.asarray(g)[i, j]) > 1e-3 * np.abs(np.asarray(g)).max()
                                                     for g in flow_gens)]
        txt = "(" + ", ".join(names[j] for j in sorted(set(block) | {i})) + ")"
        if block and txt not in parts:
            parts.append(txt)
    return {"group_name": info["name"], "identity_component": info["identity_component"], "algebra": alg,
            "components": info["components"], "representatives": [e.name for e in (kept[i] for i in cg["kept"])],
            "time_reversal": bool(reversal), "acts_on": " and ".join(parts) or "no input",
            "identity_generators": [np.asarray(g, dtype=float) for g in flow_gens],
            "identity_output_generators": [np.asarray(m, dtype=float)[:, :-1] for m in flow_outs],
            "naming": info["naming"], "elements": [kept[i] for i in cg["kept"]],
            "implied": [kept[i].name for i in cg["implied"]]}


def without_columns(gens, outs, elements, drop: list[int]):
    """The generators and elements restricted to the inputs not in ``drop`` (inputs the network ignores).

    A network that ignores some inputs altogether (e.g. the velocities, for forces that depend on
    positions only) is symmetric under any move of them; its group is stated on the inputs it reads,
    where shifts of the ignored ones vanish and an element differing from another only on them is
    the same element. Returns ``(gens, outs, elements)`` or None when an element mixes dropped and
    kept inputs (then there is no restriction).

    Example:
        >>> from physlens.probes.symmetry.group import Element
        >>> shift_v = np.zeros((2, 3)); shift_v[1, 2] = 1.0
        >>> g, o, els = without_columns([shift_v], None, [Element("flip x", np.diag([-1.0, 1.0]))], [1])
        >>> len(g), els[0].T.tolist()
        (0, [[-1.0]])
    """
    n = np.asarray(gens[0] if gens else elements[0].T).shape[0]
    keep = [c for c in range(n) if c not in set(drop)]
    if not keep or len(keep) == n:
        return None
    els = []
    for e in elements:
        T = np.asarray(e.T, dtype=float)
        if np.abs(T[np.ix_(keep, drop)]).max(initial=0.0) > 1e-9 or np.abs(T[np.ix_(drop, keep)]).max(initial=0.0) > 1e-9:
            return None
        Tk = T[np.ix_(keep, keep + list(range(n, T.shape[1])))]
        els.append(Element(e.name, Tk, e.P, e.kind, dict(e.extra)))
    cut = [np.asarray(g, dtype=float)[np.ix_(keep, keep + [n])] for g in gens]
    live = [i for i, g in enumerate(cut) if np.abs(g).max(initial=0.0) > 1e-8 * max(np.abs(np.asarray(gens[i])).max(), 1e-300)]
    if not live:
        return [], ([] if outs is not None else None), els
    g2, o2 = merge_generators([cut[i] for i in live], None if outs is None else [outs[i] for i in live], [],
                              None if outs is None else [])
    return g2, o2, els


def _group_finding(lie, phys_gens, phys_outs, discrete_found, findings, names, target, quality, seed,
                   target_names=None, ignored_cols=None, scales=None):
    """The one ``symmetry`` finding stating the whole group; also the indices of implied discrete findings."""
    gens, outs = lie.generators, lie.output_generators
    first = findings[0].value if findings and "generators" in findings[0].value else {}
    algebra = first.get("group")
    rel = first.get("relevant") or {}
    if algebra is None and rel:
        beside = (f"every move of {', '.join(rel['ignored_inputs'])}" if rel.get("ignored_inputs")
                  else f"every move along {' and '.join(rel['ignored_directions'])}")
        if rel.get("group"):
            algebra = f"{rel['group']} (beside {beside})"
        elif not rel.get("dimension"):  # nothing beside those moves: they are the whole group
            algebra = beside
    order = sorted(range(len(discrete_found)), key=lambda i: (_priority(discrete_found[i][0].name), i))
    discrete_found = [discrete_found[i] for i in order]
    elements = [e for e, _ in discrete_found]
    physical = None
    reads = None
    n_in = len(names)

    def full(gs):
        # a group stated on the inputs read keeps the generators found, in every input's coordinates
        if gs and np.asarray(gs[0]).shape[0] != n_in:
            return [np.asarray(g, dtype=float) for g in phys_gens]
        return [np.asarray(g, dtype=float) for g in gs or []]

    def full_out(G, ms):
        if G.generators and np.asarray(G.generators[0]).shape[0] != n_in and phys_outs is not None:
            return [np.asarray(m, dtype=float) for m in phys_outs]
        return [np.asarray(m[:-1], dtype=float) for m in ms]

    if phys_gens and len(phys_gens) <= MAX_STORED_DIM:
        pg, po, pel = phys_gens, phys_outs, elements
        cut = without_columns(phys_gens, phys_outs, elements, ignored_cols) if ignored_cols else None
        if cut is not None:
            # stated on the inputs the network reads: shifts of the ignored ones are trivial, not translations
            pg, po, pel = cut
            reads = [nm for i, nm in enumerate(names) if i not in set(ignored_cols)]
        palg = identify_algebra(pg, max_dimension=MAX_STORED_DIM)["name"] if pg else None
        physical = _state_group(pg, po, palg, pel, seed)
    if gens and len(gens) > MAX_STORED_DIM:
        # exp-fits in a large algebra are slow and its name unknown: the physical part stands for it
        if physical is None:
            return None, set()
        G0, cg, info = physical
        algebra = info["algebra"]
        physical = None
    else:
        G0, cg, info = _state_group(gens, outs, algebra, elements, seed)
    kept = [elements[i] for i in cg["kept"]]
    implied_idx = {discrete_found[i][1] for i in cg["implied"]}
    implied_txt = {elements[i].name: (" * ".join(f"'{elements[j].name}'" for j in w["as"]) or "the identity component")
                   for i, w in cg["implied"].items()}
    for i, w in cg["implied"].items():
        w["as_names"] = [elements[j].name for j in w["as"]]

    def reps_of(idx):
        out = []
        for i in idx:
            e = elements[i]
            r = {"name": e.name, "transform": np.asarray(e.T, dtype=float), "kind": e.kind,
                 "block_determinants": e.extra.get("block_determinants")}
            if e.P is not None:
                r["output_transform"] = np.asarray(e.P, dtype=float)
            out.append(r)
        return out

    value = {"group_name": info["name"], "name": f"group {info['name']}", "identity_component": info["identity_component"], "algebra": algebra,
             "components": info["components"], "representatives": reps_of(cg["kept"]), "input_names": names,
             "identity_generators": full(G0.generators),
             "implied": implied_txt, "naming": info["naming"], "blocks": info["blocks"]}
    if G0.M is not None:
        value["identity_output_generators"] = full_out(G0, G0.M)
    phys_txt = ""
    if physical is not None:
        pG0, pcg, pinfo = physical
        value["physical"] = {"group_name": pinfo["name"], "identity_component": pinfo["identity_component"],
                             "algebra": pinfo["algebra"], "components": pinfo["components"],
                             "representatives": reps_of(pcg["kept"]), "naming": pinfo["naming"],
                             "identity_generators": full(pG0.generators),
                             "description": "the same construction on the part of the algebra that acts alike on "
                             "every vector of every particle (how a physicist writes the group of a particle system)"
                             + ("; stated on the inputs the network reads (it ignores the others: any move of them is "
                                "a symmetry trivially)" if reads else "")}
        if reads:
            value["physical"]["inputs_read"] = reads
        if pG0.M is not None:
            value["physical"]["identity_output_generators"] = full_out(pG0, pG0.M)
        phys_txt = (f" Acting alike on every particle's vectors{' (on the inputs the network reads)' if reads else ''}: {pinfo['name']} "
                    f"({pinfo['components']} component(s), reached by "
                    f"{', '.join(repr(elements[i].name) for i in pcg['kept']) or 'no discrete element'}).")
    flow = _flow_statement(phys_gens if phys_gens else gens, phys_outs if phys_gens else outs, elements, names,
                           target_names, seed, *(scales or (None, None, 0.0)))
    flow_first = None
    if flow is not None:
        flow_els = flow.pop("elements")
        flow["representatives_detail"] = [
            {"name": e.name, "transform": np.asarray(e.T, dtype=float), "kind": e.kind,
             **({"output_transform": np.asarray(e.P, dtype=float)} if e.P is not None else {})} for e in flow_els]
        value["flow"] = flow
        if flow["identity_component"]:
            # a symmetry of the dynamics dx/dt = f(x) must move the derivatives as it moves the inputs (or
            # reverse them): the flow's group is the group of the system, and the network's group as a
            # function (which also counts maps acting on the derivatives in other ways, and rough directions
            # of the emulator's error) is kept beside it in value["function_group"]
            flow_first = {k: value[k] for k in ("group_name", "identity_component", "algebra", "components",
                                                "representatives", "identity_generators", "naming")}
            if "identity_output_generators" in value:
                flow_first["identity_output_generators"] = value["identity_output_generators"]
            value.update(group_name=flow["group_name"], name=f"group {flow['group_name']}",
                         identity_component=flow["identity_component"], algebra=flow["algebra"],
                         components=flow["components"], representatives=flow["representatives_detail"],
                         identity_generators=flow["identity_generators"],
                         identity_output_generators=flow["identity_output_generators"], naming=flow["naming"],
                         function_group=flow_first)
        phys_txt += (f" As a flow (the outputs are the time derivatives of the inputs, so a symmetry must move "
                     f"them as it moves the inputs): {flow['group_name']}, acting on {flow['acts_on']} together"
                     + (", with time reversal" if flow["time_reversal"] else "") + ".")
    confs = [findings[0].confidence] if "generators" in findings[0].value else []
    confs += [findings[j].confidence for _, j in discrete_found]
    kept_txt = ", ".join(f"'{e.name}'" for e in kept) or "no discrete element"
    g0_txt = (f"identity component {info['identity_component']} (from the algebra {algebra or 'found'})"
              if info["identity_component"] else "no continuous part")
    more = (f"; {len(implied_txt)} other discrete symmetr{'y' if len(implied_txt) == 1 else 'ies'} found "
            f"({', '.join(list(implied_txt)[:4])}{'...' if len(implied_txt) > 4 else ''}) "
            "are products of these with the identity component (in the evidence)") if implied_txt else ""
    statement = (f"Symmetry group of the network: {info['name']}: {g0_txt}; {info['components']} component(s), "
                 f"reached by {kept_txt}{more}.{phys_txt}")
    if flow_first is not None:
        statement = (f"Symmetry group of the dynamics: {flow['group_name']} (identity component "
                     f"{flow['identity_component']}, {flow['components']} component(s), reached by "
                     f"{', '.join(repr(r) for r in flow['representatives']) or 'no discrete element'}), acting on "
                     f"{flow['acts_on']} together" + (", with time reversal" if flow["time_reversal"] else "")
                     + f". As a function the network is symmetric under {info['name']} ({g0_txt}; reached by "
                     f"{kept_txt}){more}.{phys_txt.split(' As a flow')[0]}")
    evidence = {"implied": cg["implied"], "naming": info["naming"], "model_quality": quality,
                "discrete_tests": {e.name: findings[j].evidence for e, j in discrete_found},
                "blocks_acted_on": info["blocks_acted_on"]}
    return Finding(kind="symmetry", statement=statement, value=value, evidence=evidence,
                   confidence=float(min(confs)) if confs else 0.5, probe="symmetry", target=target,
                   subject="group"), implied_idx


def run(
    model: torch.nn.Module,
    dataset: Dataset,
    max_samples: int = 10_000,
    test_samples: int = 2000,
    alpha: float = 0.01,
    equivariant: bool | None = None,
    discrete: bool = True,
    weights: bool = True,
    latent: bool = True,
    max_latent: int = 6,
    min_explained: float = 0.5,
    seed: int = 0,
    whole_group: bool = True,
    implied_discrete: bool = False,
    budget_seconds: float | None = None,
    max_expected_deg: float | None = None,
    target_resolution_deg: float = 5.0,
) -> list[Finding]:
    """Symmetry findings of a trained model on ``dataset``.

    Args:
        model: a trained emulator (inputs and outputs in original units).
        dataset: the data it was trained on (only X, y, names, ``meta["particles"]`` and, where
            present, ``aux["trajectory"]`` - the trajectory of each row, which sets the data's
            support scale between trajectories - are read).
        max_samples: rows used to build the Lie constraint matrix.
        test_samples: rows used by each significance test.
        alpha: significance level of the tests (a candidate is rejected when p < alpha).
        equivariant: let outputs transform linearly (default: when there is more than one output).
        discrete, weights, latent: switch the discrete search, the weight analysis and the latent analysis.
        max_latent: continuous generators whose latent representation is measured (the first ones).
        min_explained: below this fraction of explained target variance (noise removed where the inputs
            repeat) the model is refused: one ``quality`` finding and no symmetry. Above it, confidences
            are scaled by the fraction.
        seed: for the subsamples.
        whole_group: combine the algebra and the discrete symmetries into one statement of the group
            (:mod:`.group`): one ``symmetry`` finding with ``value["group_name"]``.
        implied_discrete: also report, one finding each, the discrete symmetries that the group statement
            shows to be products of the kept ones with the identity component (default: only in its evidence).
        budget_seconds: wall-clock share of a study's budget: the sample sizes shrink to fit it and the
            optional stages (weights, latent space, group) are skipped once it is spent.
        max_expected_deg: a generator whose expected angle (from the network's error, :mod:`.resolution`)
            exceeds this is not claimed: it is listed as unresolved, with the fit quality that would
            resolve it. None (default) claims every generator that passes the test: the expected
            angle is a first-order bound that runs 2-30 times above the measured one.
        target_resolution_deg: the angle the algebra should be resolved to; when the expected one is
            larger, the continuous finding carries ``value["needs"]`` (the relative error, and for
            particle data a structured model, that would reach it) for the study runner to act on.

    Example:
        >>> from physlens.data import Dataset
        >>> from physlens.train import fit, TrainConfig
        >>> from physlens.models import build_model
        >>> X = np.random.default_rng(0).uniform(-1, 1, (2000, 2))
        >>> ds = Dataset(X, (X ** 2).sum(1), ["x", "y"], ["r2"])
        >>> model = fit(build_model("mlp", ds), ds, TrainConfig(epochs=60, progress=False)).model
        >>> [f.value["group"] for f in run(model, ds) if "generators" in f.value]
        ['so(2)']
    """
    if max_samples < 10 or test_samples < 10:
        raise ConfigError("max_samples and test_samples must be at least 10")
    if not 0.0 < alpha < 1.0:
        raise ConfigError(f"alpha must be in (0, 1), got {alpha}")
    if not 0.0 <= min_explained < 1.0:
        raise ConfigError(f"min_explained must be in [0, 1), got {min_explained}")
    if budget_seconds is not None and not budget_seconds > 0:
        raise ConfigError(f"budget_seconds must be positive, got {budget_seconds}")
    t_start = work_seconds()  # budget shares are read on the thread's CPU time (physlens.clock)
    deadline = None if budget_seconds is None else t_start + float(budget_seconds)
    max_flops = 4e9
    plan = None
    if budget_seconds is not None:
        # rows from what the resolution needs (the sampling tilt below a quarter of the error's), capped
        # only where the measured seconds per row say the budget cannot pay for them
        plan = sample_plan(model, dataset.X, dataset.d_out, budget_seconds, max_samples, test_samples, seed=seed)
        max_samples, test_samples = plan["fit_rows"], plan["test_rows"]
        max_flops = max(max_flops, float(max_samples) * dataset.d_out * (dataset.d_in * (dataset.d_in + 1)) ** 2)
    # the stages share the budget: continuous scans 45 %, the structured scan 15 %, discrete 30 %, the rest 10 %
    stage = (lambda share: None if deadline is None else t_start + share * float(budget_seconds))
    model.eval()
    names = list(dataset.input_names)
    n, k = dataset.d_in, dataset.d_out
    rng = np.random.default_rng(seed)
    rows = rng.choice(dataset.n, size=min(dataset.n, max(max_samples, test_samples)), replace=False)
    groups = (dataset.aux or {}).get("trajectory")
    if groups is not None and len(groups) != dataset.n:
        groups = None
    ctx = SymmetryContext.build(model, dataset.X[rows], dataset.y[rows], alpha=alpha,
                                groups=None if groups is None else np.asarray(groups)[rows])
    equivariant = (k > 1) if equivariant is None else bool(equivariant)
    target = dataset.target_names[0] if k == 1 else None
    findings: list[Finding] = []

    # model-quality gate: a network that explains little of the (noise-free part of the) target
    # cannot resolve a symmetry from a breaking; its findings get less confidence, or none
    quality = model_quality(ctx)
    if quality["explained"] < min_explained:
        return [Finding(
            kind="quality",
            statement=(f"No symmetry analysis: the network explains {quality['explained']:.0%} of the target's "
                       f"variance (relative error {quality['relative_error']:.2g}), below the {min_explained:.0%} "
                       "needed to tell a symmetry from a breaking."),
            value={"name": "model too poor for symmetry analysis", **quality},
            evidence=quality,
            confidence=1.0,
            probe="symmetry",
            target=target,
            subject="model quality",
        )]
    scale_conf = quality["explained"]

    latent_idx = rng.choice(len(ctx.X), size=min(2000, len(ctx.X)), replace=False)
    X_lat = ctx.X[latent_idx]
    latent_null = None
    if latent:
        Q, _ = np.linalg.qr(rng.normal(size=(n, n)))
        latent_null = latent_equivariance(model, X_lat, ((ctx.Z[latent_idx] @ Q.T) * ctx.sd + ctx.mu))

    # ---------------------------------------------------------------- continuous
    lie = lie_generators(ctx, equivariant=equivariant, max_samples=max_samples, test_samples=test_samples, seed=seed,
                         max_flops=max_flops, deadline=stage(0.45), max_expected_deg=max_expected_deg)
    undetermined_cont = [f"null-space candidate {t['candidate']}" for t in lie.tests if t.get("undetermined")]
    for gname_, A in named_generators(n):
        if _spent(stage(0.5)):
            break
        if lie.generators:
            B = np.stack([g.ravel() for g in lie.generators])
            resid = A.ravel() - B.T @ np.linalg.lstsq(B.T, A.ravel(), rcond=None)[0]
            if np.linalg.norm(resid) < 0.05 * np.linalg.norm(A):
                continue  # already in the algebra
        res, M_out, t = check_generator(ctx, A, equivariant, test_samples=test_samples, seed=seed)
        entry = {"candidate": gname_, "t": t, **(res.as_dict() if res is not None else {"untestable": True})}
        lie.tests.append(entry)
        if res is not None and res.symmetric:
            lie.generators.append(A)
            if lie.output_generators is not None and M_out is not None:
                lie.output_generators.append(M_out)
        elif res is not None and res.undetermined:
            undetermined_cont.append(gname_)
    # the physical part: one matrix on every vector of every particle, a shift per kind of vector;
    # common shifts of a kind the network ignores altogether are symmetries trivially
    parts = particle_columns(dataset.meta, n)
    phys = phys_gens = phys_outs = None
    ignored: dict = {}
    if parts:
        ignored = ignored_vector_kinds(ctx, parts, test_samples=test_samples, seed=seed)
        trivial = [g for kind in ignored for g in vector_shift_generators(parts, n, kind)]
        S = particle_structured_basis(parts, n)
        if trivial:
            T = np.stack([g.ravel() for g in trivial], axis=1)
            S = S[:, [j for j in range(S.shape[1]) if not np.any(np.all(np.isclose(T, S[:, [j]]), axis=0))]]
        phys = lie_generators(ctx, equivariant=equivariant, max_samples=max_samples, test_samples=test_samples,
                              seed=seed, structure=S, system=lie.system, max_flops=max_flops, deadline=stage(0.6),
                              max_expected_deg=max_expected_deg)
        zeros = [np.zeros((k, k + 1)) for _ in trivial] if phys.output_generators is not None else None
        phys_gens, phys_outs = merge_generators(phys.generators, phys.output_generators, trivial, zeros)
        if phys_gens:
            # the physical part belongs to the whole algebra, whether or not the unstructured scan resolved it
            # a structured generator within the scan's expected resolution of its algebra is one of its
            # generators known more precisely, not a new one (merged exactly it added a spurious dimension)
            tol = (_resolution(lie, None, target_resolution_deg)["max_expected_deg"] or 0.0) if lie.accepted else 0.0
            lie.generators, lie.output_generators = merge_generators(
                lie.generators, lie.output_generators, phys_gens, phys_outs, tol_deg=tol, mu=ctx.mu, sd=ctx.sd)
    if lie.generators:
        alg = identify_algebra(lie.generators, max_dimension=MAX_STORED_DIM)
        accepted = [t for t in lie.tests
                    if (t.get("p_value", 0.0) >= alpha or t.get("accepted_by_later_pass")) and not t.get("cut_by_gap")
                    and not t.get("undetermined")]
        rejected = [t for t in lie.tests if t not in accepted]
        if phys is not None:
            accepted += [{**t, "structured": True} for t in phys.tests
                         if t.get("p_value", 0.0) >= alpha and not t.get("cut_by_gap") and not t.get("undetermined")]
            accepted += [{**t, "ignored_kind": kind} for kind, t in ignored.items()]
        residual = float(max([t.get("violation_over_error", np.inf) for t in accepted] or [np.nan]))
        latent_info = None
        if latent and latent_null is not None:
            errs = []
            for A_z, _M, t in lie.flows[:max_latent]:
                X_img = affine_flow(A_z, ctx.Z[latent_idx], t) * ctx.sd + ctx.mu
                errs.append(latent_equivariance(model, X_lat, X_img)["error"])
            latent_info = {"errors": errs, "null_error": latent_null["error"]}
        value = {
            "input_names": names,
            "generators": lie.generators,
            "group": alg["name"],
            "residual": residual,
            "dimension": alg["dimension"],
            "translations": alg["translations"],
            # c_ijk of a large algebra is dimension**3 numbers (220 generators: 250 MB of JSON): kept up to
            # MAX_STORED_DIM, the closure residual and the name say the rest
            "structure_constants": alg["structure_constants"],
            "closure_residual": alg["closure_residual"],
            # the angle the network's error lets the scan resolve (see .resolution)
            "resolution": _resolution(lie, plan, target_resolution_deg),
            "abelian": alg["abelian"],
            "killing_signature": alg["killing_signature"],
        }
        if lie.output_generators is not None:
            value["output_generators"] = lie.output_generators
        needs = resolution_needs(value["resolution"], ctx.model_error, target_resolution_deg, dataset.meta,
                                 type(model).__name__)
        if needs:
            value["needs"] = needs
        weights_txt = ""
        if weights and not _spent(deadline) and n * (n + 1) <= 600:
            # the weights' noise: a move of one standard deviation may change the prediction by the model's
            # error at the point and at its image (the budget of the finite-flow test)
            value["weight_space"], weights_txt = _weight_space(model, X_lat[:1000], lie.generators, equivariant, seed,
                                                               phys_gens, tolerance=2.0 * ctx.model_error,
                                                               fs_rate_of=_function_rate(lie.system, ctx))
        physical_txt = ""
        if phys is not None:
            palg = identify_algebra(phys_gens, max_dimension=MAX_STORED_DIM)
            value["physical"] = {
                "generators": phys_gens,
                "group": palg["name"] if phys_gens else None,
                "structure_constants": palg["structure_constants"],
                "ignored_vectors": sorted(ignored),
                "description": "the part of the algebra acting alike on every vector of every particle "
                "(one matrix on all vectors, shifts of each kind of vector); shifts of a kind of vector "
                "the network ignores (ignored_vectors) are included: they are symmetries trivially",
            }
            if phys_outs is not None:
                value["physical"]["output_generators"] = phys_outs
            trivial_txt = (f" (shifts of {', '.join(sorted(ignored))} trivially: the network does not depend on "
                           f"{'them' if len(ignored) > 1 else 'it'})") if ignored else ""
            physical_txt = (f" Acting alike on every particle's vectors: {len(phys_gens)} generator(s), "
                            f"{palg['name'] or 'unnamed'}{trivial_txt}.")
        gap = None
        ranked_acc = [t for t in accepted if "rate" in t and not t.get("structured")]
        ranked_rej = [t for t in rejected if "rate" in t and not t.get("undetermined")]
        if ranked_rej and ranked_acc:
            gap = float(ranked_rej[0]["rate"] / max(ranked_acc[-1]["rate"], 1e-300))
        gname = alg["name"] or "an unnamed Lie algebra"
        listed = lie.generators
        ign, rest = ignored_inputs(lie.generators) if phys is None and len(lie.generators) <= MAX_STORED_DIM else ([], [])
        if ign and len(ign) < n:
            # inputs the network ignores move any way at all: the algebra is named by its part on the others
            ralg = identify_algebra(rest) if rest else {"name": None}
            them = ", ".join(names[j] for j in ign)
            value["relevant"] = {"ignored_inputs": [names[j] for j in ign], "generators": rest,
                                 "group": ralg["name"], "dimension": len(rest)}
            dep = f"(the network does not depend on {'it' if len(ign) == 1 else 'them'})"
            gname = (f"{ralg['name'] or 'an unnamed Lie algebra'} on the other inputs beside every affine move of "
                     f"{them} {dep}" if rest else f"only the affine moves of {them} {dep}")
            listed = rest
        elif phys is None and len(lie.generators) <= MAX_STORED_DIM:
            # the same for a direction that is no input axis: the network depends only on combinations across it
            D, rest = ignored_directions(lie.generators)
            if D.shape[1]:
                P = np.eye(n) - D @ D.T
                w, V = np.linalg.eigh(P)
                through = readable_combinations(V[:, w > 0.5], names)
                along = readable_directions(D, names)
                ralg = identify_algebra(rest) if rest else {"name": None}
                value["relevant"] = {"ignored_directions": along, "through": through, "generators": rest,
                                     "group": ralg["name"], "dimension": len(rest)}
                dep = f"(the network depends on the inputs only through {', '.join(through)})"
                moves = f"affine move{'s' if not rest else ''} along {' and '.join(along)}"
                gname = (f"{ralg['name'] or 'an unnamed Lie algebra'} beside every {moves} {dep}" if rest
                         else f"only the {moves} {dep}")
                listed = rest or lie.generators
        shown = "; ".join(f"[{_format_generator(g, names)}]" for g in listed[:6])
        more = f" (+{len(listed) - 6} more)" if len(listed) > 6 else ""
        verb = "equivariant under" if equivariant else "invariant under"
        statement = (
            f"The network is {verb} a {len(lie.generators)}-dimensional algebra of affine transformations, "
            f"{gname}: {shown}{more}; moving the data along it changes the prediction by "
            f"{residual:.2g} x the model's own error.{physical_txt}{_resolution_txt(value['resolution'], value.get('needs'))}{weights_txt}"
        )
        findings.append(
            Finding(
                kind="symmetry",
                statement=statement,
                value=value,
                evidence={
                    "model_error": ctx.model_error,
                    "candidate_rates": lie.rates[: len(lie.tests) + 3],
                    "tests": lie.tests,
                    "rate_gap": gap,
                    "alpha": alpha,
                    "samples": int(min(max_samples, len(ctx.X))),
                    "latent": latent_info,
                    "model_quality": quality,
                },
                confidence=scale_conf * _confidence([t["p_value"] for t in accepted if "p_value" in t], alpha),
                probe="symmetry",
                target=target,
                subject=alg["name"] or "continuous",
            )
        )

    # ---------------------------------------------------------------- latent representation
    if latent and lie.generators and not _spent(deadline):
        rot = [g for g in (phys_gens or lie.generators) if _is_rotation(g)][:max_latent]
        lat = latent_representation(model, X_lat[:1000], rot) if rot else None
        if lat is not None:
            findings.append(_latent_finding(lat, rot, names, target, quality, scale_conf))

    # ---------------------------------------------------------------- discrete
    undetermined: list = []
    discrete_found: list[tuple[Element, int]] = []
    if discrete:
        cands = candidate_transforms(names, dataset.meta)
        if deadline is not None:
            # on a budget the candidates a group is named by go first (particle swaps, reflections, time reversal)
            cands = sorted(cands, key=lambda c: _priority(c.name))
        results = discrete_symmetries(ctx, cands, test_samples, seed, deadline=stage(0.9))
        found = [(c, P, r) for c, P, r in results if r.symmetric]
        undetermined = [(c, r) for c, P, r in results if r.undetermined]
        null_w = null_commutation_error(model, n, seed=seed) if (weights and found) else None
        for cand, P, res in found:
            kind = _discrete_kind(cand.name, P, k)
            value = {"transform": cand.T, "name": cand.name, "input_names": names}
            if not np.allclose(P, np.eye(k)):
                value["output_transform"] = P
            evidence = {"model_error": ctx.model_error, "model_quality": quality, **res.as_dict()}
            extra = ""
            if null_w is not None:
                err = commutation_error(model, cand.T)
                encoded = bool(err < null_w.min())
                evidence["weights"] = {"commutation_error": err, "null_median": float(np.median(null_w)),
                                       "null_min": float(null_w.min()), "encoded": encoded}
                if encoded:
                    extra = f"; the first-layer weights commute with it (error {err:.2g} vs {np.median(null_w):.2g} for random transforms)"
            if latent and latent_null is not None:
                li = latent_equivariance(model, X_lat, X_lat @ cand.T.T)
                evidence["latent"] = {"error": li["error"], "null_error": latent_null["error"]}
            out_txt = ""
            if "output_transform" in value:
                out_txt = " with outputs transformed by " + (
                    "a sign flip" if k == 1 else "a signed permutation of the outputs")
            discrete_found.append((Element(cand.name, cand.T, value.get("output_transform"), kind), len(findings)))
            findings.append(
                Finding(
                    kind="symmetry",
                    statement=(
                        f"{kind}: the network is {'equivariant' if out_txt else 'invariant'} under "
                        f"'{cand.name}'{out_txt}: the prediction changes by {res.ratio:.2g} x the model's "
                        f"own error (p = {res.p_value:.2g}){extra}."
                    ),
                    value=value,
                    evidence=evidence,
                    confidence=scale_conf * _confidence(
                        [res.p_value] + ([res.contrast.p_value] if res.contrast is not None else []), alpha,
                        contrast=res.contrast is not None),
                    probe="symmetry",
                    target=target,
                    subject=kind,
                )
            )
    # ---------------------------------------------------------------- the whole group
    if whole_group and not _spent(deadline) and (discrete_found and (lie.generators or len(discrete_found) > 1)):
        ignored_cols = sorted(c for kind in ignored for p in parts for c in p["vectors"][kind]) if parts else None
        group_finding, implied = _group_finding(lie, phys_gens, phys_outs, discrete_found, findings, names, target,
                                                quality, seed, list(dataset.target_names), ignored_cols,
                                                scales=(np.asarray(ctx.sd, dtype=float), np.asarray(ctx.ysd, dtype=float),
                                                        float(ctx.model_error)))
        if group_finding is not None:
            if not implied_discrete:
                findings = [f for i, f in enumerate(findings) if i not in implied]
            findings.append(group_finding)
    # ---------------------------------------------------------------- no power
    if undetermined or undetermined_cont:
        names_u = [c.name for c, _ in undetermined] + undetermined_cont
        shown = ", ".join(f"'{nm}'" for nm in names_u[:8])
        more = f" (+{len(names_u) - 8} more)" if len(names_u) > 8 else ""
        findings.append(Finding(
            kind="uncertainty",
            statement=(f"Undetermined: {len(names_u)} candidate(s) change the prediction by less "
                       f"than the model's error, but so do comparable random moves of the same inputs, so the "
                       f"network cannot tell whether they are symmetries: {shown}{more}."),
            value={"name": "undetermined symmetries", "candidates": [c.name for c, _ in undetermined],
                   "continuous_candidates": undetermined_cont},
            evidence={"tests": {c.name: r.as_dict() for c, r in undetermined}, "model_quality": quality},
            confidence=0.5,
            probe="symmetry",
            target=target,
            subject="undetermined symmetries",
        ))
    return findings
