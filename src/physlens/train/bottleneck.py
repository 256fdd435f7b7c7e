"""Searching a bottleneck's size: SciNet's stage-by-stage criterion, with the project's one training loop.

:class:`physlens.models.bottleneck.Bottleneck` is the model (its module docstring gives the
method and why the search opens latents one stage at a time); this module trains it, since
models never train themselves (:mod:`physlens.models` sits below :mod:`physlens.train`).
"""

from __future__ import annotations

import copy

import numpy as np
import torch

from physlens.errors import ConfigError
from physlens.models.bottleneck import Bottleneck
from physlens.train.fit import TrainConfig, fit


def _search_rows(n: int, cfg, rows: int) -> np.ndarray:
    """Rows of a ``rows``-row subset whose own train/validation split (by :func:`physlens.train.fit`)
    takes training rows only from the whole data's training rows and validation rows only from its
    validation rows, so a model searched on the subset and polished on the whole data never trained
    on a row it is validated on."""
    perm = np.random.default_rng(cfg.seed).permutation(n)  # fit()'s split of the whole data
    n_val = max(1, int(round(n * cfg.val_fraction)))
    val, train = perm[:n_val], perm[n_val:]
    m_val = max(1, int(round(rows * cfg.val_fraction)))
    sub = np.random.default_rng(cfg.seed).permutation(rows)  # fit()'s split of the subset
    out = np.empty(rows, dtype=np.int64)
    out[sub[:m_val]] = val[:m_val]
    out[sub[m_val:]] = train[: rows - m_val]
    return out


def fit_bottleneck(
    model: Bottleneck,
    dataset,
    config=None,
    min_gain: float = 0.01,
    polish_epochs: int | None = None,
    callback=None,
    search_rows: int | None = None,
    polish_config=None,
    polish_beta: float | None = None,
    stall_ratio: float = 0.5,
    start: str | int = "auto",
):
    """Find how many latents the answer needs (SciNet's criterion) and return the model trained with them.

    SciNet (Iten et al. 2020, Fig. 3) trains one network per number of latent
    neurons and reads the parameter count where the validation error stops
    falling. Here the K latents of ``model`` have gates: stage k reloads the
    initial weights, opens latents 1..k and trains with
    :func:`physlens.train.fit` and ``config`` (stage 0: the question alone).
    The search stops at the first stage that

    * leaves one of its k latents unused (fewer than k active by KL usage,
      see :meth:`Bottleneck.active_latents`): that stage is kept, with its
      unused latents closed;
    * uses all k latents but their means lie on a manifold of dimension
      below k - 1/2 and less than 1/2 above the previous stage's
      (:meth:`Bottleneck.intrinsic_dimension`, on up to 4000 rows): one latent
      is a function of the others (the 3 Bloch coordinates of a qubit code 2
      parameters), so the previous stage is kept. Unless that stage *stalled*:
      when the redundant k latents' validation MSE is below ``stall_ratio``
      (default 0.5) times the previous stage's, and lower by at least
      ``min_gain``, the k - 1 latents can hold what the k latents hold but
      their training got stuck short of it (a fresh start does not always
      find the code). Then the k-latent model, with its least-used latent
      (smallest KL) closed, is trained once more with ``config``, warm, and
      kept as the (k - 1)-latent result if it validates better than the
      stalled stage (recorded as a stage with ``rescue: True``); or
    * lowers the validation MSE (standardised: the fraction of the target
      variance left unexplained) by less than ``min_gain`` (default 0.01,
      1 % of the variance) against the previous stage: the previous stage
      is kept.

    The kept stage's weights are then *polished*: trained once more, warm,
    on the whole dataset, with its closed latents kept closed, by
    ``polish_config`` (default ``config``) for ``polish_epochs`` (default:
    that config's epochs; 0 skips the polish). During the polish the KL
    weight falls geometrically from ``model.beta`` to ``polish_beta``
    (default ``model.beta / 100``; ``model.beta`` is put back afterwards):
    the search needs the stronger penalty to make a superfluous latent
    collapse, but its latent noise also limits how precise the code is, and
    with the number of latents settled the open latents can carry more nats.

    ``start`` chooses the search. An integer k0 runs the stages above from
    stage k0 (0: from the question alone). ``"probe"`` searches from the top
    instead: one stage with all K latents open (fresh) is trained and the
    intrinsic dimension d of its code read (an over-sized code still lies on
    a d-dimensional manifold: 2.0 for one qubit, 5.7-6.1 for two). Its K - d
    least-used latents are closed and it is trained on, warm (stage d); then
    one more is closed at a time (warm from the previous stage) while that
    costs less than ``min_gain``; the last stage that did not is kept. If
    stage d lost at least half as much against the probe as closing one
    more latent costs, d was too low (the estimate is biased low for large
    d) and stage d + 1 is tried (warm from the probe) as in the stages above.
    This costs 3 fits where the stages from 0 cost d + 2, and warm codes
    shrunk from a converged larger one stall less often than fresh ones.
    ``"auto"`` (default) probes when the model has 6 or more latents.

    ``search_rows`` (default: all rows) trains the stages on that many rows
    only: the search needs each stage's error roughly, the polish needs the
    data. The subset's validation rows are drawn from the whole data's
    validation split and its training rows from the training split, so the
    polished model is never validated on a row it was trained on.

    Closed latents are the prior itself (no decoder input, zero KL), so
    ``model.latent_usage`` shows the needed latents only.
    Retraining from the initial weights (rather than warm-starting) matters:
    a model grown from a 1-latent code gets stuck in codes that a fresh
    2-latent model avoids.

    Returns ``(result, stages)``: the :class:`~physlens.train.TrainResult` of
    the returned model (its ``model`` is ``model``; ``train_index`` and
    ``val_index`` are rows of ``dataset``) and one dict per stage tried with
    ``open`` (latents open), ``val_mse``, ``active``, ``intrinsic_dimension``
    and ``epochs`` (``rescue: True`` for the re-trained stalled stage,
    ``probe: True`` for the all-latents probe, ``warm: True`` for a stage
    shrunk from a larger one).

    Example:
        >>> from physlens.data import Dataset
        >>> from physlens.train import TrainConfig
        >>> rng = np.random.default_rng(0); o = rng.normal(size=(256, 3)); q = rng.normal(size=(256, 1))
        >>> ds = Dataset(np.c_[o, q], o[:, :1] * q, ["o0", "o1", "o2", "q"], ["a"], meta={"question_columns": ["q"]})
        >>> m = Bottleneck.from_dataset(ds, latent_dim=3, width=16)
        >>> res, stages = fit_bottleneck(m, ds, TrainConfig(epochs=2, progress=False), search_rows=128)
        >>> stages[0]["open"], res.model is m, len(res.val_index) + len(res.train_index)
        (0, True, 256)
    """
    from dataclasses import replace


    if not isinstance(model, Bottleneck):
        raise ConfigError(f"fit_bottleneck trains a bottleneck model, got {type(model).__name__}")
    if not 0 <= min_gain < 1:
        raise ConfigError(f"min_gain must be in [0, 1), got {min_gain}")
    if not 0 <= stall_ratio <= 1:
        raise ConfigError(f"stall_ratio must be in [0, 1], got {stall_ratio}")
    if polish_beta is not None and polish_beta < 0:
        raise ConfigError(f"polish_beta must be >= 0, got {polish_beta}")
    if not (start in ("auto", "probe") or (isinstance(start, int) and 0 <= start <= model.latent_dim)):
        raise ConfigError(f"start must be 'auto', 'probe' or a stage in 0..{model.latent_dim}, got {start!r}")
    cfg = config or TrainConfig()
    pcfg = polish_config or cfg
    if search_rows is not None and search_rows < 4:
        raise ConfigError(f"search_rows must be at least 4, got {search_rows}")
    if search_rows is not None and search_rows < dataset.n:
        if (pcfg.seed, pcfg.val_fraction, pcfg.split) != (cfg.seed, cfg.val_fraction, cfg.split):
            raise ConfigError("with search_rows, polish_config needs the seed, val_fraction and split of config (the same split)")
        whole = dataset.split_index(cfg.val_fraction, cfg.seed, cfg.split)[1]
        if not np.array_equal(whole, dataset.split_index(cfg.val_fraction, cfg.seed, "rows")[1]):
            raise ConfigError("search_rows needs a split by rows, and these data are split by trajectories: "
                              "pass a config with split='rows', or leave search_rows out")
        rows = _search_rows(dataset.n, cfg, int(search_rows))
        search = dataset.subset(rows)
    else:
        rows, search = None, dataset
    initial = copy.deepcopy(model.state_dict())
    stages: list[dict] = []
    kept = kept_state = None

    def polish(res, state):
        model.load_state_dict(state)
        with torch.no_grad():  # a latent the kept stage left unused stays closed
            u = model.latent_usage(search.X[res.val_index]) * (model.gate.cpu().numpy() > 0)
            used = (u > 0.1) & (u > 0.02 * u.sum())
            model.gate.copy_(torch.as_tensor(used, dtype=model.gate.dtype))
        model.eval()
        epochs = pcfg.epochs if polish_epochs is None else polish_epochs
        if epochs == 0:
            if rows is None:
                return res
            return replace(res, train_index=np.sort(rows[res.train_index]), val_index=np.sort(rows[res.val_index]))
        beta0 = model.beta
        beta1 = beta0 / 100 if polish_beta is None else float(polish_beta)

        def anneal(epoch, record):
            if beta0 > 0 and beta1 > 0:
                model.beta = beta0 * (beta1 / beta0) ** min(1.0, epoch / max(1, epochs - 1))
            else:
                model.beta = beta1
            if callback is not None:
                callback(epoch, record)

        try:
            return fit(model, dataset, pcfg.model_copy(update={"epochs": epochs}), callback=anneal)
        finally:
            model.beta = beta0

    def measure(res, k, **extra):
        Xv = search.X[res.val_index]
        with torch.no_grad():
            x = torch.as_tensor(Xv, dtype=model.gate.dtype, device=model.gate.device)
            y = torch.as_tensor(search.y[res.val_index], dtype=x.dtype, device=x.device)
            mse = float((((model(x) - y) / model.y_std) ** 2).mean())
        active = model.active_latents(Xv) if k else 0
        idim = model.intrinsic_dimension(search.X) if k else 0.0  # all rows: TwoNN is biased low on few points
        return {"open": k, "val_mse": mse, "active": active, "intrinsic_dimension": idim,
                "epochs": res.epochs_run, **extra}

    def train_stage(k):
        model.load_state_dict(initial)
        with torch.no_grad():
            model.gate.copy_((torch.arange(model.latent_dim) < k).to(model.gate))
        return fit(model, search, cfg, callback=callback)

    def close_to(k, res):
        """Warm: close the least-used open latents (by KL on the validation rows) until k are open."""
        with torch.no_grad():
            u = np.asarray(model.latent_usage(search.X[res.val_index]), dtype=np.float64)
            u[model.gate.cpu().numpy() == 0] = np.inf
            while int((model.gate > 0).sum()) > k:
                j = int(np.argmin(u))
                model.gate[j] = 0.0
                u[j] = np.inf

    if start == "probe" or (start == "auto" and model.latent_dim >= 6):
        res = train_stage(model.latent_dim)
        stages.append(measure(res, model.latent_dim, probe=True))
        probe_res, probe_state, probe_mse = res, copy.deepcopy(model.state_dict()), stages[-1]["val_mse"]
        d = int(min(max(round(stages[-1]["intrinsic_dimension"]), 1), model.latent_dim))
        close_to(d, res)
        res = fit(model, search, cfg, callback=callback)
        stages.append(measure(res, d, warm=True))
        if stages[-1]["active"] < d:  # fewer than d carry information: close the idle ones, go on from there
            d = max(1, stages[-1]["active"])
            close_to(d, res)
        kept, kept_state, k, kept_mse = res, copy.deepcopy(model.state_dict()), d, stages[-1]["val_mse"]
        down_cost = None
        while k > 1:  # close one more latent while that costs less than min_gain
            close_to(k - 1, kept)
            res = fit(model, search, cfg, callback=callback)
            stages.append(measure(res, k - 1, warm=True))
            if stages[-1]["val_mse"] - kept_mse >= min_gain:
                down_cost = stages[-1]["val_mse"] - kept_mse
                break
            kept, kept_state, k, kept_mse = res, copy.deepcopy(model.state_dict()), k - 1, stages[-1]["val_mse"]
        lost = kept_mse - probe_mse
        if k == d and d < model.latent_dim and lost >= min_gain and (down_cost is None or lost >= 0.5 * down_cost):
            model.load_state_dict(probe_state)  # d was too few: the next latent, warm from the probe
            close_to(d + 1, probe_res)
            res = fit(model, search, cfg, callback=callback)
            stages.append(measure(res, d + 1, warm=True))
            st = stages[-1]
            if st["active"] == d + 1 and st["intrinsic_dimension"] >= d + 0.5 and kept_mse - st["val_mse"] >= min_gain:
                kept, kept_state = res, copy.deepcopy(model.state_dict())
        return polish(kept, kept_state), stages

    k0 = start if isinstance(start, int) else 0
    k = k0
    while k <= model.latent_dim:
        res = train_stage(k)
        stages.append(measure(res, k))
        mse, active, idim = stages[-1]["val_mse"], stages[-1]["active"], stages[-1]["intrinsic_dimension"]
        first = k == k0  # (no previous stage to compare with)
        if first and k0 > 1 and active == k and idim < k - 0.5:
            k0 = k = 0  # the first stage is already redundant: start over from the question alone
            continue
        if k and active < k:
            return polish(res, copy.deepcopy(model.state_dict())), stages
        # the k latents code k - 1 parameters, and no more than the k - 1 latents did: one is redundant
        if k > 1 and not first and idim < min(k - 0.5, stages[-2]["intrinsic_dimension"] + 0.5):
            prev = stages[-2]["val_mse"]
            if mse < stall_ratio * prev and prev - mse >= min_gain:
                # k latents holding k - 1 parameters predict far better than the k - 1 latents did: that
                # stage stalled short of its optimum. Re-train it from this stage with its least-used latent
                # closed (warm), and keep whichever (k - 1)-latent model validates better.
                close_to(k - 1, res)
                res = fit(model, search, cfg, callback=callback)
                stages.append(measure(res, k - 1, rescue=True))
                if stages[-1]["val_mse"] < prev:
                    kept, kept_state = res, copy.deepcopy(model.state_dict())
            return polish(kept, kept_state), stages
        if k and not first and stages[-2]["val_mse"] - mse < min_gain:
            return polish(kept, kept_state), stages
        kept, kept_state = res, copy.deepcopy(model.state_dict())
        k += 1
    return polish(kept, kept_state), stages


class Distillation(torch.nn.Module):
    """A student bottleneck trained on its data *and* on a teacher's answers to resampled questions.

    A question-answer task (SciNet) pairs each observation with one question, but any question can
    be asked of any observation: a trained teacher (an over-complete bottleneck that validates well)
    answers the question of another row of the batch for this row's observation, fresh at every
    step. The student (fewer latents) then learns the teacher's whole answer function of each
    training observation instead of one point of it, which multiplies the data without a new
    observation: it curbs the overfitting of a small code on a rich answer (two-qubit tomography's
    6-latent fits: training error 0.10 of the variance, validation 0.36) and the stall of a fit in a
    poor code. The loss is the student's own (answer MSE + beta KL) on the real rows plus ``weight``
    times the same on ``copies`` resampled questions per row of the batch with the teacher's answers
    (questions drawn with replacement from the batch's rows); in eval
    mode (validation by :func:`physlens.train.fit`) it is the student's own loss on the real rows, so
    the validation error stays that of the data. The teacher sees training observations only.

    Example:
        >>> from physlens.data import Dataset
        >>> rng = np.random.default_rng(0); o = rng.normal(size=(200, 2)); q = rng.normal(size=(200, 1))
        >>> ds = Dataset(np.c_[o, q], o[:, :1] * q, ["o0", "o1", "q"], ["a"], meta={"question_columns": ["q"]})
        >>> teacher = Bottleneck.from_dataset(ds, latent_dim=3, width=8); _ = fit(teacher, ds, TrainConfig(epochs=2, progress=False))
        >>> student = Bottleneck.from_dataset(ds, latent_dim=1, width=8)
        >>> res = fit(Distillation(student, teacher), ds, TrainConfig(epochs=2, progress=False))
        >>> res.epochs_run, student(torch.zeros(4, 3)).shape
        (2, torch.Size([4, 1]))
    """

    def __init__(self, student: Bottleneck, teacher: Bottleneck, copies: int = 1, weight: float = 1.0) -> None:
        super().__init__()
        if copies < 1 or weight < 0:
            raise ConfigError(f"distillation needs copies >= 1 and weight >= 0, got {copies}, {weight}")
        if len(student.q_idx) == 0:
            raise ConfigError("distillation resamples questions: the task has no question columns")
        self.student = student
        self._teacher = [teacher.eval()]  # a list: the teacher's weights are no parameters of the student's fit
        self.copies, self.weight = int(copies), float(weight)

    def adapt(self, X: np.ndarray, y: np.ndarray) -> None:
        """Standardise the student on the training rows (:meth:`Emulator.adapt`)."""
        self.student.adapt(X, y)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The student's answer."""
        return self.student(x)

    def training_loss(self, x: torch.Tensor, y: torch.Tensor):
        """The student's loss on the rows, plus (training only) on resampled questions with the teacher's answers."""
        loss, logs = self.student.training_loss(x, y)
        if not self.training or self.weight == 0 or len(x) < 2:
            return loss, logs
        teacher, q = self._teacher[0], self.student.q_idx
        # ``copies`` resampled questions per observation of the batch, in one pass (a larger batch costs
        # little more than a small one on a CPU)
        xs = x.repeat(self.copies, 1)
        xs[:, q] = x[torch.randint(len(x), (len(xs),), device=x.device)][:, q]
        with torch.no_grad():
            ys = teacher(xs)
        extra = self.student.training_loss(xs, ys)[0]
        logs = {**logs, "distill": float(extra.detach())}
        return loss + self.weight * extra, logs
