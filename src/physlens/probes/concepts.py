"""Concepts: the fewest latent variables the answer needs, what each one means, and what an emulator's layers encode.

Follows SciNet (Iten, Metger, Wilming, del Rio & Renner, "Discovering physical
concepts with neural networks", Phys. Rev. Lett. 124, 010508, 2020): an
*observation* is squeezed through K noisy latent neurons (a beta-VAE bottleneck,
:class:`physlens.models.bottleneck.Bottleneck`) and a decoder answers a
*question* from the latents. Three ways to build the task from a dataset
(:func:`concept_task`):

* ``question``: the data declare question columns (``meta["question_columns"]``
  or the ``question_columns`` option): observation = the other inputs
  (qubit tomography: measurement outcomes; question: another measurement);
* ``context``: the data are trajectories whose rows share hidden parameters
  (an auxiliary array constant along every trajectory, e.g. a pendulum's k and
  b): observation = ``context_rows`` other rows (inputs and targets) of the
  same trajectory, taken from the other half of the trajectory than the
  question row (``context="far"``: questions from the same stretch as the
  context let the encoder code the neighbourhood, not the parameters; on the
  damped pendulum, 8 points 0.4 apart, the set R² of k and b rose from
  0.65 / 0.76 to 0.94 / 0.94 with the same 2-latent fit), read as an unordered set (the bottleneck's permutation-
  invariant ``set_size`` encoder with the ``set_encoder`` option; measured on
  the damped pendulum it did not beat the plain encoder of the concatenated
  rows, so it is off by default), question = a row's inputs, answer = its
  targets (the neural-process form of SciNet's pendulum);
* ``direct``: no question: observation = all inputs, answer = the targets
  (SciNet's Copernicus: two angles seen from Earth -> the next two).

**How many latents** (:func:`latent_count`). SciNet reads the count where the
validation error stops falling as latents are added (their Fig. 3). One fit per
K swept from 0 is slow and not robust: a K-latent fit that stalls in a poor code
makes K + 1 look necessary (seen on two-qubit tomography). So the search runs
top-down. One *over-complete* stage (``max_latents`` latents, fresh; in the
question mode with both decoders of the bottleneck, the better one kept) shows
how many parameters its code holds: the latents carrying information (KL above
0.1 nat and 2 % of the total) and the dimension of the manifold their means lie
on (TwoNN, :meth:`Bottleneck.intrinsic_dimension`: the 3 Bloch coordinates of a
qubit code 2 parameters); the guess g is the smaller. Then K = g - 1, g, g + 1
are fitted fresh, and the neighbours of the decided count are always tried.
In a task with questions (question and context modes) every stage after the
over-complete one is trained by *distillation* as well
(:class:`physlens.train.bottleneck.Distillation`): besides its own rows, it
learns the over-complete stage's answers to questions resampled from other rows
for each training observation, fresh at every step. Any question can be asked of
any observation, so this multiplies the data without a new observation; without
it the 6-latent fits of two-qubit tomography overfit (training error 0.10 of
the variance, validation 0.36, set R² of the Pauli expectations 0.64-0.71), and
a 2-latent pendulum fit that stalled at 0.029 made a 3-latent one (0.014) look
necessary. A
step from one K tried to the next counts when it lowers the (monotone: a
K-latent network can ignore a latent, so a stage is never kept when a smaller
one is as good) standardised validation error of some target by at least
``max(min_gain, rel_gain * E0)`` (E0: the largest error with no latent; per
target, because a latent one target needs is diluted in the mean over targets
that need none) and by twice the standard error of the paired per-row error
differences (the noise of the validation error itself), *and* when the larger
code's intrinsic dimension (at most its number of latents: TwoNN overestimates
a noisy 1-D code) exceeds the counted code's by at least 1/2: more latents
that re-code the same parameters fit better (a flat code is easier to learn
than a curved one), they are no new parameter. A *decisive* step, one that
removes at least ``DECISIVE`` (60 %) of a target's remaining error, counts
without the dimension check (Copernicus' second angle: 0.23 -> 0.04 of the
variance, while a re-coding of two-qubit states gains 0.48 -> 0.39). A decisive step under the threshold
still counts when it clears ``SMALL_STEP`` (a quarter) of it and the noise, and passes the dimension check:
a parameter that moves the answer little (SciNet's pendulum: damping after stiffness, about 1 % of the
variance) is a parameter when the network removes most of the error left with it. Only an ambiguous step
(its gain within a factor 3 of its threshold) gets fresh restarts, of the stage
whose stall would explain it. Before the step into the count is believed, its
lower stage is rebuilt once from the best larger stage (its least-used latents
closed, trained warm): a stalled lower stage then catches up, while a stage that
lacks a parameter cannot (two qubits, seed 4: 6 latents at 0.27 of the variance,
7 at 0.11, counted 7). A step from the count that clears its threshold but
fails the dimension check (the larger code re-codes the same parameters, yet
fits much better) shows the counted stage short of its code, and it is rebuilt
the same way (seed 2: 6 latents at 0.23, 7 latents of dimension 5.95 at 0.10). A step up from the count
that falls short of its threshold by less than a factor 3, into a stage that a larger stage beats by a
quarter, has that upper stage rebuilt the same way: it may be short only because it stalled (SciNet's
pendulum, seed 9: 1 latent at 0.0135, 2 at 0.0068, 3 at 0.0033; rebuilt, 2 latents reach 0.0011 and
count). The confidence is the margin by which the last
counted step clears its threshold and the next one misses it.

Why the rule is not stricter about noise: the superfluous steps seen (pendulum
2 -> 3 on 2 of 4 seeds, two qubits 6 -> 7 -> 8) were not validation noise but a
lower stage trained short of its code (the pendulum's 2-latent error 0.029 on
those seeds against 0.012-0.015 on the others, the same as the 3-latent one).
A bootstrap or paired standard error measures the rows' noise, not such a
stall, and a multiple of it large enough to stop a 0.015 gain would also
stop small real steps (the pendulum's damping: 0.06 of its target's
variance, against a need of 0.015 set by that noise). So the remedy is
where the stall is: distillation gives every smaller stage the same answer
function to learn, and then the 2 -> 3 step gains 0.000-0.003 (need 0.011)
and the two-qubit 6 -> 7 step falls below the dimension check.

**What they mean** (:func:`explain_latents`). Candidate quantities (hidden
parameters a built-in system records in ``aux``, or columns of the user's file
that are not inputs) are compared with each latent's mean: R² on held-out rows
of the best monotone fit (isotonic regression, scikit-learn) and of a smooth
1-D fit (k-nearest-neighbour average), whichever is higher; and with the
latent set (the best of k-nearest neighbours, linear and kernel ridge regression
for all candidates, :func:`kernel_r2`, cross-validated, its kernel width and ridge
chosen inside each fold; a small network, :func:`network_r2`, on request: on
6000 rows of a two-qubit code it overfits and reads 0.93 where kernel ridge
reads 0.95). In the context mode the
held-out rows are whole trajectories: the rows of one trajectory share its
parameters and often its very observation, and a split by rows lets a fit look
a trajectory's value up from its copies (pendulum: the k-NN R² of k was 0.97
by rows and 0.75 by trajectories, from the same latents). Disentanglement
is the largest |Spearman rho| between two latents and, per candidate, the share
of its set R² carried by its best single latent. A latent no candidate
explains (R² < 0.5) is reported as an unexplained concept with a sample of its
values for plots.

**Inside an emulator** (:func:`layer_probes`). Linear probes (Alain & Bengio,
"Understanding intermediate layers using linear classifier probes", 2016):
ridge regression of each candidate on the activations of every hidden layer
(forward hooks), fitted on training rows, R² on held-out rows; the raw inputs
are probed too, as the baseline a layer has to beat.

Written here rather than taken from a library: no maintained package does the
count search with restarts and warm shrinking, nor the candidate matching.
"""

from __future__ import annotations

import copy
import inspect
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from physlens.data.dataset import Dataset
from physlens.errors import ConfigError, DataError
from physlens.findings import Finding

REQUIRES: dict = {}
COST = 2.0  # a dozen bottleneck networks trained from scratch: a search, like the symmetry probe
#: auxiliary arrays that are bookkeeping, not physical quantities
BOOKKEEPING = {"trajectory", "t", "time", "family", "file_row"}
MIN_ROWS_PER_LATENT = 40
#: a step that removes this share of the remaining error of a target counts without the dimension check
DECISIVE = 0.6
#: a decisive step (:data:`DECISIVE`) into a code of a new dimension counts from this share of the threshold
SMALL_STEP = 0.25
#: a candidate whose best single latent explains under this share of what the whole code explains is spread
#: over several latents (the statement says so; each latent then reads as a mix)
MIXED_SHARE = 0.8
#: a latent whose best candidate explains it with R² under this, while another explains 0.3 or more, reads as a mix
MIX_BELOW = 0.9
#: a doubled width is kept when it cuts the over-complete stage's validation error by this share
WIDEN_GAIN = 0.25


def NEEDS_MODEL(options: dict) -> bool:  # noqa: N802  (the probe protocol's name)
    """The emulator is read only by the layer probes (``layer_probes=False`` trains none).

    Example:
        >>> NEEDS_MODEL({}), NEEDS_MODEL({"layer_probes": False})
        (True, False)
    """
    return bool(options.get("layer_probes", True))


# --------------------------------------------------------------------------- the task
@dataclass
class ConceptTask:
    """The bottleneck's task built from a dataset: inputs = observation columns then question columns.

    Attributes:
        data: a :class:`Dataset` whose ``meta["question_columns"]`` names the question columns.
        candidates: name -> array (one value per row of ``data``).
        mode: ``"question"``, ``"context"`` or ``"direct"``.
        note: one line saying how the task was built.
    """

    data: Dataset
    candidates: dict = field(default_factory=dict)
    mode: str = "direct"
    note: str = ""


def _aux_columns(dataset: Dataset) -> dict[str, np.ndarray]:
    """Numeric per-row auxiliary arrays as 1-D columns (a 2-D array gives ``name_0``, ``name_1``...)."""
    out = {}
    for k, v in dataset.aux.items():
        if k in BOOKKEEPING:
            continue
        v = np.asarray(v)
        if not np.issubdtype(v.dtype, np.number) or np.iscomplexobj(v) or v.ndim > 2:
            continue
        cols = [v] if v.ndim == 1 else [v[:, j] for j in range(v.shape[1])]
        for j, c in enumerate(cols):
            c = c.astype(np.float64)
            if np.all(np.isfinite(c)) and np.std(c) > 1e-12 * (1 + np.abs(c).max()):
                out[k if v.ndim == 1 else f"{k}_{j}"] = c
    return out


def _per_trajectory(dataset: Dataset, columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The columns that are constant along every trajectory but differ between them (hidden parameters)."""
    g = dataset.groups()
    if g is None or len(np.unique(g)) < 5:
        return {}
    out = {}
    order = np.argsort(g, kind="stable")
    gs = g[order]
    starts = np.r_[0, np.flatnonzero(gs[1:] != gs[:-1]) + 1]
    for k, c in columns.items():
        cs = c[order]
        spread = np.maximum.reduceat(cs, starts) - np.minimum.reduceat(cs, starts)
        first = cs[starts]
        if np.all(spread <= 1e-9 * (1 + np.abs(cs).max())) and np.std(first) > 0:
            # a hidden parameter is not an input column
            if not any(np.allclose(c, dataset.X[:, j]) for j in range(dataset.d_in)):
                out[k] = c
    return out


def applies(dataset: Dataset, options: dict | None = None) -> str | None:
    """None when the data have latent structure: question columns, per-trajectory hidden parameters, or candidates.

    Question columns may be declared by the data (``meta["question_columns"]``) or named in the
    probe's options (``physlens concepts FILE --question COLS``); a plain user file with neither
    is not a concept task, so ``discover`` leaves the probe out there.

    Example:
        >>> from physlens.systems import get_system
        >>> applies(get_system("damped_pendulum").sample(200)) is None
        True
        >>> applies(get_system("toy_distractor").sample(50))
        'no question columns, no hidden parameters and no candidate quantities recorded in the data'
    """
    if dataset.meta.get("question_columns") or (options or {}).get("question_columns"):
        return None
    if _aux_columns(dataset):
        return None
    return "no question columns, no hidden parameters and no candidate quantities recorded in the data"


def concept_task(
    dataset: Dataset,
    question_columns: list[str] | None = None,
    candidates: dict | None = None,
    mode: str = "auto",
    context_rows: int = 4,
    max_rows: int = 6000,
    seed: int = 0,
    context: str = "far",
) -> ConceptTask:
    """Build the observation / question / answer task of the bottleneck from ``dataset`` (module docstring).

    ``candidates`` maps names to arrays (one value per row of ``dataset``); by default the
    dataset's auxiliary arrays (per-trajectory ones in the context mode). ``context="far"`` (context
    mode) draws a row's context rows from the half of its trajectory (by ``aux["t"]``, else row order)
    that does not hold the row, when that half has enough rows; ``"any"`` from the whole trajectory.

    Example:
        >>> from physlens.systems import get_system
        >>> t = concept_task(get_system("damped_pendulum", points_per_trajectory=20).sample(400, seed=0))
        >>> t.mode, sorted(t.candidates), t.data.meta["question_columns"]
        ('context', ['b', 'k'], ['theta', 'omega'])
    """
    rng = np.random.default_rng(seed)
    given = None
    if candidates is not None:
        given = {}
        for k, v in candidates.items():
            v = np.asarray(v, dtype=np.float64)
            if v.shape != (dataset.n,):
                raise DataError(f"candidate {k!r} has shape {v.shape}, expected ({dataset.n},)")
            if not np.all(np.isfinite(v)):
                raise DataError(f"candidate {k!r} has NaN or infinite values")
            given[str(k)] = v
    aux = _aux_columns(dataset)
    q = list(question_columns) if question_columns is not None else list(dataset.meta.get("question_columns") or [])
    for c in q:
        if c not in dataset.input_names:
            raise ConfigError(f"question column {c!r} is not an input; inputs are: {', '.join(dataset.input_names)}")
    hidden = _per_trajectory(dataset, aux) if not q else {}
    if mode == "auto":
        mode = "question" if q else ("context" if hidden else "direct")
    if mode not in ("question", "context", "direct"):
        raise ConfigError(f"mode must be 'auto', 'question', 'context' or 'direct', got {mode!r}")
    rows = np.arange(dataset.n)
    if mode != "context" and dataset.n > max_rows:
        rows = np.sort(rng.choice(dataset.n, max_rows, replace=False))
    if mode in ("question", "direct"):
        if mode == "question" and not q:
            raise ConfigError("the question mode needs question columns")
        if mode == "direct":
            q = []
        obs = [c for c in dataset.input_names if c not in q]
        if not obs:
            raise ConfigError("every input is a question column: the bottleneck needs at least one observation column")
        order = [dataset.input_names.index(c) for c in obs + q]
        data = Dataset(dataset.X[rows][:, order], dataset.y[rows], obs + q, dataset.target_names,
                       aux={k: v[rows] for k, v in dataset.aux.items() if k == "trajectory"},
                       meta={"question_columns": q}, name=dataset.name)
        cands = {k: v[rows] for k, v in (given if given is not None else aux).items()}
        note = (f"observation: {len(obs)} input column(s); question: {', '.join(q)}" if q
                else f"observation: all {len(obs)} inputs; answer: {', '.join(dataset.target_names)}")
        return ConceptTask(data, cands, mode, note)
    # context: other rows of the same trajectory are the observation, a row's inputs the question
    g = dataset.groups()
    if g is None:
        raise ConfigError("the context mode needs trajectories (aux['trajectory'])")
    if context_rows < 1:
        raise ConfigError(f"context_rows must be at least 1, got {context_rows}")
    if context not in ("far", "any"):
        raise ConfigError(f"context must be 'far' or 'any', got {context!r}")
    members = {}
    for lab in np.unique(g):
        idx = np.flatnonzero(g == lab)
        if len(idx) > context_rows:
            members[lab] = idx
    if not members:
        raise DataError(f"no trajectory has more than {context_rows} rows: too short for the context mode")
    rows = np.concatenate(list(members.values()))
    if len(rows) > max_rows:
        rows = np.sort(rng.choice(rows, max_rows, replace=False))
    full = np.hstack([dataset.X, dataset.y])
    t = np.asarray(dataset.aux["t"], dtype=np.float64) if "t" in dataset.aux else np.arange(dataset.n, dtype=np.float64)
    # position of each row along its trajectory (0 = first, 1 = last): with context="far" the context rows come
    # from the other half of the trajectory than the question, so the questions lie elsewhere in state space and
    # a local two-number model of the context's neighbourhood does not answer them (the hidden parameters must)
    position = np.zeros(dataset.n)
    for idx in members.values():
        order = idx[np.argsort(t[idx], kind="stable")]
        position[order] = np.arange(len(order)) / max(len(order) - 1, 1)
    obs_blocks = []
    for i in rows:
        pool = members[g[i]]
        pool = pool[pool != i]
        if context == "far":
            far = pool[(position[pool] >= 0.5) != (position[i] >= 0.5)]
            if len(far) >= context_rows:
                pool = far
        pick = np.sort(rng.choice(pool, context_rows, replace=False))
        obs_blocks.append(full[pick].reshape(-1))
    names_row = dataset.input_names + dataset.target_names
    obs_names = [f"ctx{c}_{nm}" for c in range(context_rows) for nm in names_row]
    X = np.hstack([np.asarray(obs_blocks), dataset.X[rows]])
    data = Dataset(X, dataset.y[rows], obs_names + list(dataset.input_names), dataset.target_names,
                   aux={"trajectory": g[rows]},
                   meta={"question_columns": list(dataset.input_names), "context_rows": int(context_rows)},
                   name=dataset.name)
    cands = {k: v[rows] for k, v in (given if given is not None else hidden).items()}
    note = (f"observation: {context_rows} other rows of the same trajectory; question: a row's inputs; "
            f"answer: its targets")
    return ConceptTask(data, cands, "context", note)


# --------------------------------------------------------------------------- the count
def _val_mse(model, data: Dataset, index: np.ndarray, per_target: bool = False):
    pred = model.predict(data.X[index])
    var = data.y.var(axis=0)
    var = np.where(var > 0, var, 1.0)
    each = np.mean((pred - data.y[index]) ** 2, axis=0) / var
    return each if per_target else float(each.mean())


def count_steps(env: dict[int, dict], min_gain: float = 0.01, rel_gain: float = 0.05) -> tuple[int, float, list]:
    """The count from the stages tried: the last K whose step from the previous K tried clears the threshold
    and the noise of the paired validation errors, and whose code holds more parameters than the count so far
    (the rule of the module docstring).

    ``env`` maps each K tried to its best stage with at most K latents: ``sq`` (validation rows x targets,
    squared standardised errors), ``each`` (their mean per target) and ``intrinsic_dimension`` (of its code).
    Returns ``(count, threshold, steps)``, one dict per step (``from``, ``to``, ``gain``, ``need``,
    ``counts``, ``short``, ``intrinsic_dimension``).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> def stage(err, dim):  # per-row squared errors of mean ``err``
        ...     sq = err * rng.exponential(size=(2000, 1)); return {"sq": sq, "each": sq.mean(0), "intrinsic_dimension": dim}
        >>> count_steps({0: stage(0.15, 0), 1: stage(0.014, 1.0), 2: stage(0.004, 2.0), 3: stage(0.003, 2.1)})[0]
        2
    """
    thr = max(min_gain, rel_gain * float(np.max(env[0]["each"])))
    count, count_dim, steps, keys = 0, 0.0, [], sorted(env)
    for a, b in zip(keys, keys[1:]):
        diff = env[a]["sq"] - env[b]["sq"]  # paired over the same validation rows
        gain = diff.mean(axis=0)
        j = int(np.argmax(gain))
        noise = 2.0 * float(diff[:, j].std()) / np.sqrt(len(diff))
        need = max(thr, noise)
        # more latents that re-code the parameters the counted code holds are a better fit, not a parameter;
        # a code of K latents spans at most K dimensions (TwoNN overestimates a noisy 1-D code), and a step
        # that removes most of the remaining error is a new parameter whatever the estimate says
        dim_b = min(env[b]["intrinsic_dimension"], float(b))
        decisive = gain[j] >= DECISIVE * float(env[a]["each"][j])
        holds_more = decisive or dim_b >= count_dim + 0.5
        counts = bool(gain[j] >= need and holds_more)
        # a parameter that moves the answer little is still one when its step removes most of the error
        # left, clears the noise and a quarter of the threshold, and the code gains a dimension (SciNet's
        # pendulum, seed 2: k, b from 1 to 2 latents 0.0139 -> 0.0040 of the variance, a gain of 0.0099
        # under the 0.01 threshold; one qubit's 2 -> 3 steps remove 99 % of a smaller error but re-code
        # the same 2-D state, and stay out)
        counts = counts or bool(decisive and dim_b >= count_dim + 0.5 and gain[j] >= max(noise, SMALL_STEP * thr))
        steps.append({"from": a, "to": b, "gain": float(gain[j]), "need": need, "counts": counts,
                      "short": bool(gain[j] >= need and not holds_more),
                      "intrinsic_dimension": env[b]["intrinsic_dimension"]})
        if counts:
            count, count_dim = b, max(dim_b, count_dim)
    return count, thr, steps


def unfinished_count(env: dict[int, dict], count: int, thr: float, steps: list, max_latents: int,
                     min_gain: float = 0.01, rel_gain: float = 0.05) -> tuple[int, float, list, int | None]:
    """The count of a search the budget stopped: the over-complete stage's lead alone does not set it.

    The over-complete stage is trained first, with the largest share of the budget; when the later stages are cut
    to a few epochs it fits better for that reason alone (the demo's Kepler concepts, 18 of 150 epochs: stages
    3 to 7 at 0.084 of the variance, 8 latents at 0.053, counted 8). When :func:`count_steps` counts
    ``max_latents`` and a smaller stage was tried, the count is read from the other stages. Returns
    ``(count, threshold, steps, ceiling)``, ``ceiling`` the count set aside (None when it stands).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> def stage(err, dim):
        ...     sq = err * rng.exponential(size=(2000, 1)); return {"sq": sq, "each": sq.mean(0), "intrinsic_dimension": dim}
        >>> env = {0: stage(0.34, 0), 3: stage(0.084, 2.0), 4: stage(0.084, 2.0), 8: stage(0.053, 3.0)}
        >>> count, thr, steps = count_steps(env)
        >>> count, unfinished_count(env, count, thr, steps, max_latents=8)[::3]
        (8, (3, 8))
    """
    if count != max_latents or not any(0 < K < max_latents for K in env):
        return count, thr, steps, None
    count2, thr2, steps2 = count_steps({K: e for K, e in env.items() if K != max_latents}, min_gain, rel_gain)
    return count2, thr2, steps2, count


def latent_count(
    data: Dataset,
    max_latents: int = 6,
    epochs: int = 150,
    restarts: int = 2,
    min_gain: float = 0.01,
    rel_gain: float = 0.05,
    width: int = 64,
    beta: float = 1e-3,
    decoder: str = "auto",
    seed: int = 0,
    budget_seconds: float | None = None,
    batch_size: int = 256,
    polish: bool = True,
    set_encoder: bool = False,
    steps_per_epoch: int = 20,
    distill: int = 3,
    widen: int = 1,
) -> dict:
    """Find the number of latents the answer needs, top-down: the count, the error curve and the chosen model.

    See the module docstring for the rule. ``decoder="auto"`` (question mode) fits the over-complete
    stage with both decoders of :class:`~physlens.models.bottleneck.Bottleneck` and keeps the one that
    validates better for every stage. Returns a dict with ``count``, ``confidence``, ``curve`` (one
    dict per K tried: ``latents``, ``val_mse`` (best fit), ``envelope`` (monotone), ``tries``,
    ``active`` (latents carrying > 0.1 nat), ``intrinsic_dimension``, ``best_from``), ``threshold``,
    ``guess`` (the over-complete code's estimate), ``decoder``, ``model`` (the chosen
    :class:`Bottleneck`, None for 0 latents), ``val_index``, ``complete`` (False when the budget
    ended the search early or held a fit under half its epochs; ``cut_fits`` lists those fits'
    (epochs run, epochs asked); in such a search the over-complete stage's lead alone sets no count,
    :func:`unfinished_count`, and ``over_complete_not_counted`` holds the count set aside) and ``seconds``.
    Under a budget each fit gets its share of the time left,
    turned into epochs at the speed measured on the fits before (throw-away fits of 1 and 3 epochs the first
    time). With ``polish`` the chosen model is trained once more,
    warm, with the KL weight divided by 100 (a sharper code for :func:`explain_latents`; kept only
    if it validates better). ``set_encoder`` reads a context-mode observation (``meta["context_rows"]``)
    as an unordered set of rows (the bottleneck's ``set_size``). ``steps`` lists each step between
    consecutive K tried with its ``gain``, the ``need`` it had to clear and whether it ``counts``.
    ``steps_per_epoch``: the batch is at most a 1/``steps_per_epoch`` share of the training rows.
    ``distill`` (question and context tasks): every stage after the over-complete one also learns that
    stage's answers to ``distill`` batches of resampled questions per step
    (:class:`~physlens.train.bottleneck.Distillation`; 0: off), and the polish learns from the
    best-validating stage. ``widen``: up to this many doublings of ``width`` are tried on the
    over-complete stage (with the chosen decoder); a doubling is kept, for every stage after it, when it
    cuts that stage's validation error by :data:`WIDEN_GAIN` (the network's capacity chosen on validation,
    as the decoder is: two-qubit tomography, seed 0, over-complete 8 latents 0.158 of the variance at width
    64 and 0.052 at 128, and the worst Pauli set R² 0.86 -> 0.95; the pendulum and one qubit keep 64).
    On two-qubit tomography (6000 rows, seed 1) the 6-latent validation error
    went from 0.33 (none; that seed then counted 8) to 0.20 (1 batch) and 0.11 (3 batches), and the
    worst set R² of the 15 Pauli expectations was 0.87 and 0.93 (0.64-0.71 without, seeds 0 and 2).

    Example:
        >>> rng = np.random.default_rng(0); o = rng.normal(size=(300, 3)); q = rng.normal(size=(300, 1))
        >>> ds = Dataset(np.c_[o, q], o[:, :1] * q, ["o0", "o1", "o2", "q"], ["a"], meta={"question_columns": ["q"]})
        >>> r = latent_count(ds, max_latents=2, epochs=3, restarts=1, width=8, decoder="mlp")
        >>> [c["latents"] for c in r["curve"]][0], r["count"] in (0, 1, 2)
        (0, True)
    """
    from physlens.models.bottleneck import Bottleneck
    from physlens.train.bottleneck import Distillation
    from physlens.train.fit import TrainConfig, fit

    if max_latents < 1:
        raise ConfigError(f"max_latents must be at least 1, got {max_latents}")
    if data.n < MIN_ROWS_PER_LATENT * (max_latents + 1):
        raise DataError(f"{data.n} rows are too few to test up to {max_latents} latents "
                        f"(need at least {MIN_ROWS_PER_LATENT * (max_latents + 1)})")
    if widen < 0:
        raise ConfigError(f"widen must be 0 or more, got {widen}")
    if decoder not in ("auto", "mlp", "linear_in_question"):
        raise ConfigError(f"decoder must be 'auto', 'mlp' or 'linear_in_question', got {decoder!r}")
    t0 = time.perf_counter()
    qcols = list(data.meta.get("question_columns") or [])
    decoders = ["mlp"] if not qcols else (["mlp", "linear_in_question"] if decoder == "auto" else [decoder])
    # expected fits: K = 0, the over-complete stage (per decoder), g - 1, g, g + 1, one restart, the polish
    planned = 6 + len(decoders) + widen
    # at least ``steps_per_epoch`` steps an epoch: on a few hundred rows a 256-row batch leaves the fits
    # undertrained and their error differences noise; each step costs mostly fixed overhead on a CPU, so
    # fewer, larger batches are cheaper (10 rather than 20 cut a pendulum search by about a third but lowered
    # the set R² of k from 0.95 to 0.93)
    n_train = int(round(data.n * 0.8))
    batch_size = int(min(batch_size, max(16, n_train // steps_per_epoch)))
    cfg = TrainConfig(epochs=epochs, batch_size=batch_size, lr=3e-3, patience=max(20, epochs // 4), seed=seed,
                      progress=False, snapshots="none",
                      max_seconds=None if budget_seconds is None else max(0.5, budget_seconds / planned))
    train_index, val_index = data.split_index(cfg.val_fraction, cfg.seed, cfg.split)
    Xv, yv = data.X[val_index], data.y[val_index]
    var = data.y.var(axis=0)
    var = np.where(var > 0, var, 1.0)
    id_rows = data.X[: min(data.n, 4000)]  # TwoNN is biased low on few points: all rows (up to 4000)

    def build(K: int, init_seed: int, dec: str) -> Bottleneck:
        torch.manual_seed(init_seed)
        m = Bottleneck.from_dataset(data, latent_dim=max(K, 1), width=capacity[0], beta=beta, decoder=dec,
                                    set_size=int(data.meta.get("context_rows") or 0) if set_encoder else 0)
        if K == 0:
            with torch.no_grad():
                m.gate.zero_()
        return m

    best: dict[int, dict] = {}
    tries: dict[int, int] = {}
    capacity = [int(width)]  # the width every stage is built with (doubled below when validation says so)

    def consider(K: int, m, how: str) -> dict:
        sq = (m.predict(Xv) - yv) ** 2 / var  # per validation row and target, standardised
        each = sq.mean(axis=0)
        tries[K] = tries.get(K, 0) + 1
        rec = {"val_mse": float(each.mean()), "each": each, "sq": sq, "how": how,
               "active": int(m.active_latents(Xv)) if K else 0,
               "intrinsic_dimension": float(m.intrinsic_dimension(id_rows)) if K else 0.0}
        if K not in best or rec["val_mse"] < best[K]["val_mse"]:
            best[K] = {**rec, "state": copy.deepcopy(m.state_dict()), "model": m}
        return rec

    teacher: list = []  # the over-complete stage, once trained (question tasks with ``distill``)
    cut: list[tuple[int, int]] = []  # (epochs run, epochs asked) of every fit the budget held under half its epochs
    speed: dict[str, float] = {}  # seconds an epoch, per kind of fit (a distilled fit costs more)
    fits_left = [planned]

    def timed_fit(model) -> None:
        """Fit with the epochs the budget allows: a fit's share of the time left, turned into epochs at the
        measured speed, so that a fit under a tight budget runs its whole (shorter) learning-rate schedule
        rather than being stopped by the clock mid-schedule at a high rate."""
        c = cfg
        if budget_seconds is not None:
            kind = type(model).__name__
            left = budget_seconds - (time.perf_counter() - t0)
            per_fit = max(0.5, left / max(fits_left[0], 1))
            if kind not in speed:  # throw-away copies measure this kind of fit's speed: 3 epochs less 1 epoch
                lap = []  # (a fit's first epoch carries its set-up: 30 s of budget planned 4 epochs from 2)
                for e in (1, 3):
                    t1 = time.perf_counter()
                    fit(copy.deepcopy(model), data, cfg.model_copy(update={"epochs": e, "max_seconds": None}))
                    lap.append(time.perf_counter() - t1)
                speed[kind] = max(lap[1] - lap[0], 1e-3) / 2
                per_fit = max(0.5, per_fit - sum(lap))
            e = int(min(epochs, max(2, per_fit / max(speed[kind], 1e-9))))
            c = cfg.model_copy(update={"epochs": e, "patience": max(20, e // 4), "max_seconds": 1.5 * per_fit})
        t1 = time.perf_counter()
        r = fit(model, data, c)
        fits_left[0] = max(fits_left[0] - 1, 1)
        if budget_seconds is not None and r.epochs_run:
            speed[type(model).__name__] = (time.perf_counter() - t1) / r.epochs_run
        if r.stopped_by == "time" or c.epochs < epochs / 2:  # the clock stopped it, or the plan halved it
            cut.append((int(r.epochs_run), int(epochs)))

    def train(K: int, how: str, dec: str, init: int = 0):
        m = build(K, seed * 7919 + 101 * K + 13 * init, dec)
        timed_fit(Distillation(m, teacher[0], copies=distill) if teacher else m)
        return consider(K, m, how), m

    shrunk: set = set()

    def shrink(K: int) -> dict:
        """Stage K rebuilt from the best-validating larger stage: its least-used latents closed (by KL on the
        training rows) until K stay open, then trained warm (distilled from the best stage in a question task)."""
        L = min((k for k in best if k > K), key=lambda k: best[k]["val_mse"])
        m = copy.deepcopy(best[L]["model"])
        m.load_state_dict(best[L]["state"])
        usage = m.latent_usage(data.X[train_index])
        open_ = sorted((j for j in range(m.latent_dim) if float(m.gate[j]) > 0), key=lambda j: usage[j])
        with torch.no_grad():
            for j in open_[: max(len(open_) - K, 0)]:
                m.gate[j] = 0.0
        tutor = None
        if teacher:
            k_best = min(best, key=lambda k: best[k]["val_mse"])
            tutor = best[k_best]["model"]
            tutor.load_state_dict(best[k_best]["state"])
        timed_fit(Distillation(m, tutor, copies=distill) if tutor is not None else m)
        return consider(K, m, f"shrunk from {L}")

    def out_of_time() -> bool:
        return budget_seconds is not None and time.perf_counter() - t0 > budget_seconds

    def envelope() -> dict[int, dict]:
        """Per K tried, the best stage with at most K latents (a K-latent network can ignore latents)."""
        env, holder = {}, None
        for K in sorted(best):
            if holder is None or best[K]["val_mse"] < holder["val_mse"]:
                holder = best[K]
            env[K] = holder
        return env

    def decide() -> tuple[int, float, list]:
        return count_steps(envelope(), min_gain, rel_gain)

    complete = True
    top = {}
    for d in decoders:  # the over-complete stage: its code tells how many parameters it holds
        rec, m = train(max_latents, "over-complete", d)
        top[d] = rec
    dec = min(top, key=lambda d: top[d]["val_mse"])
    t = top[dec]
    for _ in range(widen):  # the capacity, on validation: a wider over-complete stage that fits clearly better
        narrow = capacity[0]
        capacity[0] = 2 * narrow
        rec, m = train(max_latents, f"over-complete, width {capacity[0]}", dec)
        wider = rec["val_mse"] <= (1.0 - WIDEN_GAIN) * t["val_mse"]
        if wider:
            t = rec
        else:
            capacity[0] = narrow
        if not wider or out_of_time():
            break
    if distill and qcols:  # every smaller stage learns the over-complete stage's answers to resampled questions
        teacher.append(best[max_latents]["model"])
    train(0, "fresh", dec)
    guess = int(min(t["active"], max(round(t["intrinsic_dimension"]), 1))) if t["active"] else 0
    todo = [K for K in (guess, guess - 1, guess + 1) if 1 <= K < max_latents]
    while True:
        count, thr, steps = decide()
        if not todo:
            # the neighbours of the count must be tried; an ambiguous step gets a fresh restart of its lower
            # stage (a stalled fit there is the usual reason a superfluous latent seems needed)
            todo = [K for K in (count - 1, count + 1) if 1 <= K <= max_latents and K not in best]
            if not todo:
                for s in steps:
                    amb = s["need"] <= s["gain"] < 3 * s["need"] if s["counts"] else s["need"] / 3 <= s["gain"] < s["need"]
                    K = s["from"] if s["counts"] else s["to"]
                    if amb and K >= 1 and tries.get(K, 0) < restarts and s["to"] in (count, count + 1):
                        todo = [K]
                        break
            if not todo and not out_of_time():
                # before a step into the count is believed, its lower stage is rebuilt once from the best larger
                # stage (a stalled fit there makes a superfluous latent look needed: two qubits seed 4, 6 latents
                # at 0.27 of the variance, 7 at 0.11); and a step from the count that clears its need with no new
                # parameter (the larger code re-codes the same ones) shows the counted stage short of its code
                # (seed 2: 6 latents 0.23, 7 latents of dimension 5.95 at 0.10): that stage is rebuilt too, and so
                # it is when that step falls short of its need by less than a factor 3 (seed 2 again, a later run:
                # 6 latents 0.081, 7 latents 0.036, a gain of 0.045 against a need of 0.049; the kept 6-latent code
                # then gave the worst Pauli expectation an R² of only 0.94)
                suspects = [s["from"] for s in steps if s["from"] >= 1 and (
                    (s["counts"] and s["to"] == count) or (s["from"] == count and s["gain"] >= s["need"] / 3))]
                # a step up from the count that falls short of its need by less than a factor 3, into a stage that
                # a larger one beats by a quarter, may be short because that stage stalled: it is rebuilt too
                # (SciNet's pendulum, seed 9: 1 latent 0.0135, 2 latents 0.0068, 3 latents 0.0033 of the variance)
                suspects += [s["to"] for s in steps if s["from"] == count and not s["counts"]
                             and s["need"] / 3 <= s["gain"] < s["need"]
                             and any(k > s["to"] and best[k]["val_mse"] <= 0.75 * best[s["to"]]["val_mse"] for k in best)]
                suspects = [K for K in suspects if K not in shrunk]
                if suspects:
                    shrunk.add(suspects[0])
                    shrink(suspects[0])
                    continue
            if not todo:
                break
        if out_of_time():
            complete = False
            break
        K = todo.pop(0)
        if K in best:
            train(K, "restart", dec, init=tries[K])
        else:
            train(K, "fresh", dec)
    count, thr, steps = decide()
    env = envelope()
    complete = complete and not cut
    ceiling = None
    if not complete:
        count, thr, steps, ceiling = unfinished_count(env, count, thr, steps, max_latents, min_gain, rel_gain)
    curve = []
    for K in sorted(best):
        b = best[K]
        curve.append({"latents": K, "val_mse": b["val_mse"], "envelope": env[K]["val_mse"], "tries": tries[K],
                      "active": b["active"], "intrinsic_dimension": b["intrinsic_dimension"], "best_from": b["how"]})
    # confidence: how clearly the last counted step clears its threshold and the next one misses it
    ratios = []
    for s in steps:
        if s["counts"] and s["to"] == count:
            ratios.append(s["gain"] / s["need"])
        elif s["from"] == count:
            ratios.append(s["need"] / max(s["gain"], 1e-12))
    margin = min(ratios) if ratios else 1.0
    confidence = float(np.clip(1.0 - 0.5 / max(margin, 1e-9), 0.0, 0.99))
    # a search whose fits the time budget stopped short is incomplete too (above): a stage that trained one epoch
    # cannot show what a parameter is worth (every K then validates alike and the count reads 0)
    if not complete:
        confidence *= 0.7
    model = None
    polished = None
    if count > 0:
        model = best[count]["model"]
        model.load_state_dict(best[count]["state"])
        if polish and not out_of_time():
            # the count settled, a weaker KL penalty lets the kept latents carry more nats: a sharper code
            # for reading what they mean (the polish never changes the count)
            # in a question task the best-validating other stage teaches it: often a larger one, since a
            # distilled stage can beat its teacher (two qubits: 7 latents 0.058 of the variance, the 8-latent
            # teacher 0.098); without a teacher the polish would only refit the rows the stage overfits
            tutor = None
            others = [K for K in best if K not in (0, count)]
            if teacher and others:
                k_best = min(others, key=lambda K: best[K]["val_mse"])
                tutor = best[k_best]["model"]
                tutor.load_state_dict(best[k_best]["state"])
            beta0 = model.beta
            model.beta = beta0 / 100
            try:
                fit(Distillation(model, tutor, copies=distill) if tutor is not None else model, data,
                    cfg.model_copy(update={"lr": cfg.lr / 3}))
            finally:
                model.beta = beta0
            polished = _val_mse(model, data, val_index)
            if polished > best[count]["val_mse"]:
                model.load_state_dict(best[count]["state"])
        model.eval()
    return {"count": count, "confidence": confidence, "curve": curve, "threshold": thr, "steps": steps,
            "guess": guess, "decoder": dec, "width": capacity[0], "model": model, "val_index": val_index,
            "train_index": train_index,
            "complete": complete, "cut_fits": cut, "over_complete_not_counted": ceiling, "polished_mse": polished,
            "seconds": time.perf_counter() - t0}


#: the count search's defaults, read from :func:`latent_count`'s signature (``run`` offers the same options)
COUNT_DEFAULTS = {n: p.default for n, p in inspect.signature(latent_count).parameters.items()
                  if p.default is not inspect.Parameter.empty}


# --------------------------------------------------------------------------- the meaning
def _r2(y: np.ndarray, pred: np.ndarray) -> float:
    var = np.var(y)
    return float(1.0 - np.mean((y - pred) ** 2) / var) if var > 0 else 0.0


def _folds(n: int, k: int, seed: int, groups: np.ndarray | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """``k`` (train, test) index pairs covering every row once as a test row; with ``groups`` (e.g. trajectory
    ids) a group's rows are never split between train and test.

    Rows of one trajectory share its hidden parameters and, in the context mode, often the very same
    observation: split by row, a fit learns each trajectory's value from its copies in the training rows
    and its held-out R² says nothing about the latent (pendulum, 8 rows a trajectory: k-NN R² of k 0.97 by
    rows, 0.75 by trajectories, from the same latents).
    """
    unit = np.arange(n) if groups is None else np.unique(np.asarray(groups), return_inverse=True)[1]
    order = np.random.default_rng(seed).permutation(int(unit.max()) + 1 if n else 0)
    fold_of_unit = np.empty_like(order)
    fold_of_unit[order] = np.arange(len(order)) % k
    fold = fold_of_unit[unit]
    return [(np.flatnonzero(fold != f), np.flatnonzero(fold == f)) for f in range(k)]


def _halves(n: int, seed: int, groups: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    return _folds(n, 2, seed, groups)[0]


def monotone_r2(z: np.ndarray, c: np.ndarray, seed: int = 0, groups: np.ndarray | None = None) -> float:
    """Held-out R² of the best monotone (isotonic, increasing or decreasing) fit of ``c`` from ``z``
    (held out: half the rows, or half the ``groups``).

    Example:
        >>> z = np.linspace(-2, 2, 400); round(monotone_r2(z, np.exp(-z)), 3)
        1.0
    """
    from sklearn.isotonic import IsotonicRegression

    a, b = _halves(len(z), seed, groups)
    out = -np.inf
    for inc in (True, False):
        iso = IsotonicRegression(increasing=inc, out_of_bounds="clip").fit(z[a], c[a])
        out = max(out, _r2(c[b], iso.predict(z[b])))
    return float(out)


def smooth_r2(Z: np.ndarray, c: np.ndarray, seed: int = 0, neighbours: int = 10,
              groups: np.ndarray | None = None) -> float:
    """Held-out R² of a k-nearest-neighbour fit of ``c`` from the columns of ``Z`` (standardised), or linear if better
    (held out: half the rows, or half the ``groups``).

    Example:
        >>> Z = np.random.default_rng(0).uniform(-1, 1, (600, 2))
        >>> smooth_r2(Z, np.cos(3 * Z[:, 0]) + Z[:, 1] ** 2) > 0.95
        True
    """
    from sklearn.linear_model import LinearRegression
    from sklearn.neighbors import KNeighborsRegressor

    Z = np.asarray(Z, dtype=np.float64).reshape(len(c), -1)
    Z = (Z - Z.mean(0)) / np.where(Z.std(0) > 0, Z.std(0), 1.0)
    a, b = _halves(len(c), seed, groups)
    knn = KNeighborsRegressor(n_neighbors=min(neighbours, max(1, len(a) - 1)), weights="distance").fit(Z[a], c[a])
    lin = LinearRegression().fit(Z[a], c[a])
    return float(max(_r2(c[b], knn.predict(Z[b])), _r2(c[b], lin.predict(Z[b]))))


def _cross_fitted_r2(Z: np.ndarray, c: np.ndarray, fit_predict, seed: int, groups: np.ndarray | None,
                     folds: int) -> float | np.ndarray:
    """R² of ``c`` (one column or (n, m)) from ``Z``, every row predicted by ``fit_predict(Z, Y, train, test,
    groups)`` trained without it: both standardised, ``folds`` folds (whole ``groups`` held out together), the
    training rows of a fold in random order (a cap then takes a random subset, not the first rows of ordered data).
    """
    C = np.asarray(c, dtype=np.float64)
    one = C.ndim == 1
    C = C.reshape(len(C), -1)
    Z = np.asarray(Z, dtype=np.float64).reshape(len(C), -1)
    Z = (Z - Z.mean(0)) / np.where(Z.std(0) > 0, Z.std(0), 1.0)
    Y = (C - C.mean(0)) / np.where(C.std(0) > 0, C.std(0), 1.0)
    P = np.empty_like(Y)
    rng = np.random.default_rng(seed)
    for a, b in _folds(len(Y), folds, seed, groups):
        P[b] = np.asarray(fit_predict(Z, Y, rng.permutation(a), b, groups)).reshape(len(b), -1)
    r2 = np.array([_r2(Y[:, i], P[:, i]) for i in range(Y.shape[1])])
    return float(r2[0]) if one else r2


def network_r2(Z: np.ndarray, c: np.ndarray, seed: int = 0, hidden: int = 128, max_rows: int = 6000,
               groups: np.ndarray | None = None, folds: int = 5) -> float | np.ndarray:
    """Cross-validated R² of a small neural network (two hidden layers of ``hidden`` units) fitting ``c`` from ``Z``.

    ``c`` is one column (returns a float) or several (n, m) fitted jointly by one network (returns m R²).
    Every row is predicted once by the network of the ``folds`` fits that did not train on it (whole
    ``groups`` held out together), and R² is computed over all rows: each fit trains on (folds - 1)/folds
    of the rows (at most ``max_rows``), so a smooth code of several parameters is not judged by an
    under-trained fit (two-qubit tomography, the 15 Pauli expectations from the state's 6 real chart
    coordinates: 0.976-0.984 by one fit on half the rows). One network for all candidates costs ``folds``
    fits however many candidates there are. The network must be wide enough for the map it measures, or its
    own error is read as the latents' (the same two-qubit latents, 15 Pauli expectations, worst R² 0.959 with
    64 units a layer, 0.975 with 128, 0.980 with 256 at three times the cost of 128).

    Example:
        >>> Z = np.random.default_rng(0).uniform(-1, 1, (800, 3))
        >>> network_r2(Z, Z[:, 0] * Z[:, 1] + np.sin(2 * Z[:, 2])) > 0.9
        True
    """
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPRegressor

    def fit_predict(Z, Y, a, b, _groups):
        a = a[:max_rows]
        net = MLPRegressor(hidden_layer_sizes=(hidden, hidden), activation="tanh", learning_rate_init=3e-3,
                           max_iter=400, tol=1e-6, n_iter_no_change=20, early_stopping=True, validation_fraction=0.15,
                           random_state=seed)
        with warnings.catch_warnings():  # the iteration cap is the budget; its R² is measured on held-out rows
            warnings.simplefilter("ignore", ConvergenceWarning)
            net.fit(Z[a], Y[a, 0] if Y.shape[1] == 1 else Y[a])
        return net.predict(Z[b])

    return _cross_fitted_r2(Z, c, fit_predict, seed, groups, folds)


def kernel_r2(Z: np.ndarray, c: np.ndarray, seed: int = 0, max_rows: int = 6000, groups: np.ndarray | None = None,
              folds: int = 5, select_rows: int = 2000) -> float | np.ndarray:
    """Cross-validated R² of kernel ridge regression (Gaussian kernel) fitting ``c`` from ``Z``.

    ``c`` is one column (returns a float) or several (n, m) (returns m R²). Every row is predicted once by
    the fit of the ``folds`` that did not see it (whole ``groups`` held out together), on at most
    ``max_rows`` training rows. The kernel width and the ridge are chosen inside each fold's training rows
    (at most ``select_rows`` of them, a quarter held out, by whole groups) from 4 widths scaled to the
    number of columns of ``Z`` times 3 ridges, once for all columns of ``c``: the held-out rows of the
    fold never choose.

    Why kernel ridge and not a network: reading 15 Pauli expectations from a two-qubit code of 6 latents
    (6000 rows) is a smooth map learned from few rows. A network of 256 units fits the training rows to
    R² 0.992 and the held-out ones to 0.930 (seed 8); this fit reaches 0.952 there, 0.955 on seed 7
    (network 0.946), and matches or beats the network on one qubit, Copernicus and three hidden parameters,
    in about a quarter of its time (12 s against 30-80 s of one core at 3000-6000 rows).

    Example:
        >>> Z = np.random.default_rng(0).uniform(-1, 1, (800, 3))
        >>> kernel_r2(Z, Z[:, 0] * Z[:, 1] + np.sin(2 * Z[:, 2])) > 0.99
        True
    """
    from sklearn.kernel_ridge import KernelRidge

    def fit_predict(Z, Y, a, b, groups):
        grid = [(g / Z.shape[1], r) for g in (0.5, 1.0, 2.0, 4.0) for r in (1e-3, 1e-2, 1e-1)]
        s = a[:select_rows]
        fit, check = _folds(len(s), 4, seed, None if groups is None else np.asarray(groups)[s])[0]
        fit, check = s[fit], s[check]
        if len(fit) < 2 or len(check) < 1:  # too few rows or groups to choose on: the grid's middle
            g, r = grid[len(grid) // 2]
        else:
            errors = [np.mean((KernelRidge(alpha=r, kernel="rbf", gamma=g).fit(Z[fit], Y[fit]).predict(Z[check])
                               - Y[check]) ** 2) for g, r in grid]
            g, r = grid[int(np.argmin(errors))]
        a = a[:max_rows]
        return KernelRidge(alpha=r, kernel="rbf", gamma=g).fit(Z[a], Y[a]).predict(Z[b])

    return _cross_fitted_r2(Z, c, fit_predict, seed, groups, folds)


def is_angle(c: np.ndarray) -> bool:
    """Whether values look like an angle in radians covering a whole turn ([0, 2 pi) or [-pi, pi]).

    Example:
        >>> is_angle(np.linspace(0, 6.28, 50)), is_angle(np.linspace(0, 1, 50))
        (True, False)
    """
    c = np.asarray(c, dtype=np.float64)
    lo, hi = float(c.min()), float(c.max())
    return lo >= -np.pi - 1e-6 and hi <= 2 * np.pi + 1e-6 and hi - lo > 0.9 * 2 * np.pi


def explain_latents(mu: np.ndarray, candidates: dict, seed: int = 0, unexplained_below: float = 0.5,
                    sample: int = 300, groups: np.ndarray | None = None, set_fit: str = "kernel",
                    hidden: int = 128, max_rows: int = 6000) -> dict:
    """Match latent means (n, k) with candidate quantities: R² per latent and candidate, per candidate from the set.

    An angle candidate (:func:`is_angle`) is compared through its cosine and sine (mean of the two R²).
    Every R² is measured on rows the fit did not see; with ``groups`` (the trajectory of each row) whole
    groups are held out, so that copies of one trajectory's observation cannot carry its value across.
    The set R² is the better of a k-nearest-neighbour fit and one cross-validated smooth fit for all
    candidates: ``set_fit="kernel"`` (default), kernel ridge regression (:func:`kernel_r2`), or
    ``"network"``, a network of ``hidden`` units a layer (:func:`network_r2`); at most ``max_rows``
    training rows a fold.
    Returns ``{"per_latent": [{candidate: R²}], "set_r2": {candidate: R²}, "max_abs_spearman": float,
    "modularity": {candidate: share}, "unexplained": [latent indices], "sample": {...}}``.

    Example:
        >>> rng = np.random.default_rng(0); a, b = rng.uniform(0, 1, (2, 800))
        >>> r = explain_latents(np.c_[np.log(a), -b ** 3], {"a": a, "b": b})
        >>> [max(d, key=d.get) for d in r["per_latent"]], r["unexplained"]
        (['a', 'b'], [])
    """
    from scipy.stats import spearmanr

    if set_fit not in ("kernel", "network"):
        raise ConfigError(f"set_fit must be 'kernel' or 'network', not {set_fit!r}")
    mu = np.asarray(mu, dtype=np.float64)
    n, k = mu.shape
    # an angle (values spanning one turn) is compared through its cosine and sine: its wrap is no concept
    forms = {name: ([np.cos(c), np.sin(c)] if is_angle(c) else [c]) for name, c in candidates.items()}
    per_latent = []
    for j in range(k):
        d = {}
        for name, parts in forms.items():
            d[name] = float(np.mean([max(monotone_r2(mu[:, j], c, seed, groups),
                                         smooth_r2(mu[:, j], c, seed, groups=groups)) for c in parts]))
        per_latent.append(d)
    set_r2 = {}
    columns = [c for parts in forms.values() for c in parts]
    if k and columns:
        target = np.c_[tuple(columns)]
        net = (np.full(len(columns), -np.inf) if k < 2
               else kernel_r2(mu, target, seed, max_rows=max_rows, groups=groups) if set_fit == "kernel"
               else network_r2(mu, target, seed, hidden=hidden, max_rows=max_rows, groups=groups))
        i = 0
        for name, parts in forms.items():
            set_r2[name] = float(np.mean([max(smooth_r2(mu, c, seed, groups=groups), net[i + p])
                                          for p, c in enumerate(parts)]))
            i += len(parts)
    for name in set_r2:  # the set explains at least what its best latent does (k-NN suffers from idle latents)
        set_r2[name] = max(set_r2[name], max(d[name] for d in per_latent))
    modularity = {}
    for name in candidates:
        if k and set_r2[name] > 0:
            modularity[name] = float(np.clip(max(d[name] for d in per_latent) / set_r2[name], 0, 1))
    rho = 0.0
    if k >= 2:
        stat = spearmanr(mu).statistic
        R = np.abs(stat) if k > 2 else np.abs(np.array([[1.0, stat], [stat, 1.0]]))
        rho = float(np.max(np.asarray(R)[~np.eye(k, dtype=bool)]))
    unexplained = [j for j, d in enumerate(per_latent) if not d or max(d.values()) < unexplained_below]
    pick = np.random.default_rng(seed).choice(n, min(sample, n), replace=False)
    return {"per_latent": per_latent, "set_r2": set_r2, "max_abs_spearman": rho, "modularity": modularity,
            "unexplained": unexplained,
            "sample": {"latents": mu[pick], "candidates": {nm: c[pick] for nm, c in candidates.items()}}}


def describe_code(meaning: dict, count: int) -> tuple[str, list[str]]:
    """Words for what a code of ``count`` latents holds: a clause for the count finding, and one per latent.

    ``meaning`` is :func:`explain_latents`'s result. A valid code may mix the parameters (any invertible
    map of them answers as well), so the clause says what the latents hold *together* (the set R²) and
    names a candidate spread over several latents (its best single latent under ``MIXED_SHARE`` of the
    set's R²); a latent whose best candidate explains it under ``MIX_BELOW`` while another explains 0.3 or
    more reads as a mix of them.

    Example:
        >>> m = {"per_latent": [{"A": 0.45, "w": 0.57}, {"A": 0.09, "w": 0.97}], "unexplained": [],
        ...      "set_r2": {"A": 1.0, "w": 1.0}, "modularity": {"A": 0.45, "w": 0.97}}
        >>> whole, each = describe_code(m, 2)
        >>> whole
        '; together the latents hold A (R² 1.000), w (R² 1.000); A is spread over several latents (mixed with the others, held by no one latent alone)'
        >>> each
        ['a mix of w (R² 0.570), A (R² 0.450)', 'it encodes w (R² 0.970)']
    """
    whole = ""
    if meaning["set_r2"]:
        held = ", ".join(f"{c} (R² {r:.3f})" for c, r in meaning["set_r2"].items())
        spread = [c for c, share in meaning["modularity"].items()
                  if share < MIXED_SHARE and meaning["set_r2"][c] >= 0.9]
        whole = (f"; together the latent{'s' if count != 1 else ''} hold {held}"
                 + (f"; {', '.join(spread)} {'is' if len(spread) == 1 else 'are'} spread over several latents "
                    f"(mixed with the others, held by no one latent alone)" if spread else ""))
    each = []
    for i, expl in enumerate(meaning["per_latent"]):
        top = max(expl, key=expl.get) if expl else None
        if top is None:
            says = "no candidate quantity to compare it with"
        elif i in meaning["unexplained"]:
            says = f"no candidate explains it (best: {top}, R² {expl[top]:.2f}): an unexplained concept"
        else:
            says = f"it encodes {top} (R² {expl[top]:.3f})"
            others = sorted((c for c in expl if c != top and expl[c] >= 0.3), key=expl.get, reverse=True)
            if expl[top] < MIX_BELOW and others:
                says = "a mix of " + ", ".join(f"{c} (R² {expl[c]:.3f})" for c in [top] + others)
        each.append(says)
    return whole, each


# --------------------------------------------------------------------------- inside an emulator
def hidden_activations(model: torch.nn.Module, X: np.ndarray, max_width: int = 1024) -> dict[str, np.ndarray]:
    """Outputs of every leaf module of ``model`` that keeps one row per sample: name -> (n, width).

    Example:
        >>> net = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
        >>> {k: v.shape for k, v in hidden_activations(net, np.zeros((5, 2))).items()}
        {'0': (5, 8), '1': (5, 8), '2': (5, 1)}
    """
    p = next(model.parameters())
    x = torch.as_tensor(np.asarray(X), dtype=p.dtype, device=p.device)
    got: dict[str, list] = {}
    hooks = []
    for name, mod in model.named_modules():
        if name and not list(mod.children()):
            def hook(_m, _inp, out, name=name):
                if isinstance(out, torch.Tensor) and out.ndim == 2 and out.shape[0] == len(x) and out.shape[1] <= max_width:
                    got[name] = out.detach().cpu().numpy().astype(np.float64)
            hooks.append(mod.register_forward_hook(hook))
    try:
        model.eval()
        with torch.no_grad():
            model(x)
    finally:
        for h in hooks:
            h.remove()
    return got


def layer_probes(model: torch.nn.Module, X: np.ndarray, candidates: dict, heldout: np.ndarray | None = None,
                 seed: int = 0, max_rows: int = 4000) -> dict:
    """Held-out R² of a ridge regression of each candidate on each layer's activations (and on the inputs).

    Returns ``{candidate: {"inputs": R², layer_name: R², ...}}``; the model is fitted on the rows not in
    ``heldout`` (half the rows at random when None) and scored on ``heldout``.

    Example:
        >>> net = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
        >>> X = np.random.default_rng(0).normal(size=(400, 2))
        >>> r = layer_probes(net, X, {"s": X[:, 0] + X[:, 1]})
        >>> round(r["s"]["inputs"], 3), round(r["s"]["0"], 3)
        (1.0, 1.0)
    """
    from sklearn.linear_model import RidgeCV

    X = np.asarray(X, dtype=np.float64)
    n = len(X)
    rng = np.random.default_rng(seed)
    if heldout is not None and 10 <= len(heldout) < n:
        test = np.asarray(heldout, dtype=np.int64)
        train = np.setdiff1d(np.arange(n), test)
    else:
        train, test = _halves(n, seed)
    train = train if len(train) <= max_rows else rng.choice(train, max_rows, replace=False)
    test = test if len(test) <= max_rows else rng.choice(test, max_rows, replace=False)
    rows = np.r_[train, test]
    acts = {"inputs": X[rows], **hidden_activations(model, X[rows])}
    ntr = len(train)
    out = {}
    for name, c in candidates.items():
        c = np.asarray(c, dtype=np.float64)[rows]
        res = {}
        for layer, A in acts.items():
            mu, sd = A[:ntr].mean(0), A[:ntr].std(0)
            A = (A - mu) / np.where(sd > 0, sd, 1.0)
            reg = RidgeCV(alphas=np.logspace(-6, 3, 10)).fit(A[:ntr], c[:ntr])
            res[layer] = _r2(c[ntr:], reg.predict(A[ntr:]))
        out[name] = res
    return out


# --------------------------------------------------------------------------- the probe
def _candidate_columns(source: str, names: list[str], dataset: Dataset) -> dict[str, np.ndarray]:
    """Candidate columns read from the data file itself, checked to be the same rows as ``dataset``."""
    from physlens.data.loaders import load

    side = load(source, target=names, inputs=list(dataset.input_names), allow_constant=True)
    if side.n != dataset.n or not np.allclose(side.X, dataset.X):
        raise DataError(f"the candidate columns of {source} do not line up with the loaded rows")
    out = {}
    for j, nm in enumerate(names):
        c = side.y[:, j]
        if np.std(c) <= 1e-12 * (1 + np.abs(c).max()):
            raise DataError(f"candidate column {nm!r} is constant: it cannot explain a latent")
        out[nm] = c
    return out


def run(
    model: torch.nn.Module | None,
    dataset: Dataset,
    question_columns: list[str] | None = None,
    candidates: list[str] | dict | None = None,
    candidate_source: str | None = None,
    mode: str = "auto",
    max_latents: int | None = None,
    epochs: int = COUNT_DEFAULTS["epochs"],
    restarts: int = COUNT_DEFAULTS["restarts"],
    min_gain: float = COUNT_DEFAULTS["min_gain"],
    rel_gain: float = COUNT_DEFAULTS["rel_gain"],
    width: int = COUNT_DEFAULTS["width"],
    beta: float = COUNT_DEFAULTS["beta"],
    decoder: str = COUNT_DEFAULTS["decoder"],
    distill: int = COUNT_DEFAULTS["distill"],
    widen: int = COUNT_DEFAULTS["widen"],
    context_rows: int = 4,
    max_rows: int = 6000,
    context: str = "far",
    layer_probes: bool = True,
    budget_seconds: float | None = None,
    seed: int = 0,
    heldout: np.ndarray | None = None,
) -> list[Finding]:
    """One ``concept`` finding per latent the answer needs, one ``quality`` finding with the count and the
    error curve, and one ``concept`` finding per candidate read linearly from the emulator's layers.

    Args:
        model: the trained emulator (read by the layer probes only; may be None with ``layer_probes=False``).
        dataset: the data.
        question_columns: input columns given to the decoder (default: ``meta["question_columns"]``).
        candidates: candidate quantities: names of auxiliary arrays or of file columns (with
            ``candidate_source``), or a dict name -> array (one value per row); default: the data's
            recorded hidden quantities.
        candidate_source: the data file the named candidate columns are read from.
        mode: ``"auto"``, ``"question"``, ``"context"`` or ``"direct"`` (:func:`concept_task`).
        max_latents: the largest K tried (default: min(8, observation columns)).
        epochs, restarts, min_gain, rel_gain, width, beta, decoder, distill, widen: the count search
            (:func:`latent_count`; the defaults are its own, :data:`COUNT_DEFAULTS`).
        context_rows: rows of the same trajectory in one observation (context mode).
        context: ``"far"`` (context rows from the other half of the trajectory than the question row) or
            ``"any"`` (context mode, :func:`concept_task`).
        max_rows: rows of the bottleneck task at most.
        layer_probes: also probe the emulator's hidden layers.
        budget_seconds: time for the whole probe (the count search takes 85 % of it).
        seed: seed of the task, the fits and the held-out halves.
        heldout: the emulator's validation rows (the layer probes score there).

    Example:
        >>> from physlens.systems import get_system
        >>> ds = get_system("damped_pendulum", points_per_trajectory=20).sample(400, seed=0)
        >>> fs = run(None, ds, layer_probes=False, epochs=2, restarts=1, max_latents=2)
        >>> fs[0].kind, fs[0].subject
        ('quality', 'latent count')
    """
    t0 = time.perf_counter()
    named: dict | None = None
    if isinstance(candidates, dict):
        named = candidates
    elif candidates:
        names = [str(c) for c in candidates]
        if candidate_source is not None:
            named = _candidate_columns(candidate_source, names, dataset)
        else:
            aux = _aux_columns(dataset)
            missing = [c for c in names if c not in aux]
            if missing:
                raise ConfigError(f"candidate {missing[0]!r} is not recorded in the data; recorded: {', '.join(aux) or 'none'}")
            named = {c: aux[c] for c in names}
    task = concept_task(dataset, question_columns, named, mode, context_rows, max_rows, seed, context=context)
    n_obs = task.data.d_in - len(task.data.meta["question_columns"])
    K = int(max_latents) if max_latents is not None else int(min(8, n_obs))
    search_budget = None if budget_seconds is None else 0.85 * budget_seconds
    res = latent_count(task.data, max_latents=K, epochs=epochs, restarts=restarts, min_gain=min_gain,
                       rel_gain=rel_gain, width=width, beta=beta, decoder=decoder, distill=distill, widen=widen,
                       seed=seed,
                       budget_seconds=search_budget)
    count = res["count"]
    curve_txt = ", ".join(f"{c['latents']}: {c['envelope']:.3g}" for c in res["curve"])
    cut = res["cut_fits"]
    short = (f"; the time budget stopped {len(cut)} fit{'s' if len(cut) != 1 else ''} short (as few as "
             f"{min(r for r, _ in cut)} of {cut[0][1]} epochs): the count is unreliable, give the probe more time"
             if cut else "")
    if res["over_complete_not_counted"] is not None:
        short += (f" (the {res['over_complete_not_counted']}-latent stage, trained first and longest, fits better; "
                  f"in an unfinished search that lead is not counted)")
    findings = [Finding(
        kind="quality",
        statement=(f"The answer needs {count} latent variable{'s' if count != 1 else ''} "
                   f"(validation error vs number of latents: {curve_txt}; a latent counts when it lowers the "
                   f"error by {res['threshold']:.3g} of the variance){short}"),
        value={"name": "latent count", "count": count, "curve": res["curve"]},
        evidence={"threshold": res["threshold"], "mode": task.mode, "task": task.note, "complete": res["complete"],
                  "cut_fits": cut, "steps": res["steps"], "guess": res["guess"], "decoder": res["decoder"], "width": res["width"],
                  "rows": task.data.n, "max_latents": K, "restarts": restarts, "seconds": res["seconds"]},
        confidence=res["confidence"], probe="concepts", target=", ".join(dataset.target_names),
        subject="latent count")]
    if count > 0:
        m = res["model"]
        mu, _ = m.encode(task.data.X)
        usage = m.latent_usage(task.data.X[res["val_index"]])
        open_ = [j for j in range(m.latent_dim) if float(m.gate[j]) > 0]
        mu = mu[:, open_]
        cands = task.candidates
        # with under a minute of the budget left the set R² fit trains on at most 3000 rows a fold (a quarter
        # of the cost at 6000)
        roomy = budget_seconds is None or budget_seconds - (time.perf_counter() - t0) > 60.0
        meter = {"set_fit": "kernel", "max_rows": 6000 if roomy else 3000}
        meaning = explain_latents(mu, cands, seed=seed, groups=task.data.aux.get("trajectory"), **meter)
        whole, says_each = describe_code(meaning, count)
        findings[0].statement += whole
        if meaning["set_r2"]:
            findings[0].value["set_r2"] = meaning["set_r2"]
        for i, j in enumerate(open_):
            expl = meaning["per_latent"][i]
            top = max(expl, key=expl.get) if expl else None
            unexplained = i in meaning["unexplained"]
            says = says_each[i]
            evidence = {"kl_nats": float(usage[j]), "set_r2": meaning["set_r2"],
                        "max_abs_spearman": meaning["max_abs_spearman"], "modularity": meaning["modularity"],
                        "curve": res["curve"], "mode": task.mode,
                        "set_r2_fit": meter}
            if unexplained or top is None:
                evidence["sample"] = {"latent": meaning["sample"]["latents"][:, i],
                                      "candidates": meaning["sample"]["candidates"]}
            findings.append(Finding(
                kind="concept",
                statement=f"Latent {i + 1} of {count}: {says}",
                value={"latent": i, "explained_by": expl, "unexplained": bool(unexplained or top is None)},
                evidence=evidence, confidence=res["confidence"], probe="concepts",
                target=", ".join(dataset.target_names), subject=f"latent {i + 1}"))
    if layer_probes and model is not None:
        rowc = _aux_columns(dataset) if named is None else named
        rowc = {k: v for k, v in rowc.items() if np.shape(v) == (dataset.n,)}
        if rowc:
            table = layer_probes_fn(model, dataset.X, rowc, heldout=heldout, seed=seed)
            for name, layers in table.items():
                hidden = {k: v for k, v in layers.items() if k != "inputs"}
                if not hidden:
                    continue
                best = max(hidden, key=hidden.get)
                findings.append(Finding(
                    kind="concept",
                    statement=(f"{name} is read linearly from layer {best} of the emulator with R² {hidden[best]:.3f} "
                               f"on held-out rows (from the inputs alone: {layers['inputs']:.3f})"),
                    value={"candidate": name, "layers": layers, "best_layer": best, "best_r2": hidden[best]},
                    evidence={"method": "ridge regression on activations, fitted on training rows",
                              "heldout": heldout is not None},
                    confidence=float(np.clip(hidden[best], 0, 1)), probe="concepts", subject=name))
    findings[0].evidence["probe_seconds"] = time.perf_counter() - t0
    return findings


layer_probes_fn = layer_probes  # ``run`` has an option of the same name

__all__ = ["ConceptTask", "applies", "concept_task", "count_steps", "describe_code", "explain_latents", "unfinished_count", "hidden_activations", "is_angle", "latent_count",
           "kernel_r2", "layer_probes", "monotone_r2", "network_r2", "run", "smooth_r2"]
