"""Hamiltonian and Lagrangian neural networks: learn an energy function, predict the flow from its derivatives.

``hamiltonian`` follows Greydanus, Dzamba & Yosinski, "Hamiltonian Neural
Networks" (NeurIPS 2019): an MLP gives a scalar H(q, p) and the model predicts
``dq/dt = dH/dp, dp/dt = -dH/dq`` by automatic differentiation, so the learned
vector field conserves the learned H exactly. Optional extensions:
``separable=True`` (H = T(p) + V(q), two networks) and ``dissipation=True``
(a second scalar D(q, p) with ``dp/dt -= dD/dp``, a Rayleigh-style friction
term as in Sosanya & Greydanus, "Dissipative Hamiltonian Neural Networks",
2022) for damped systems.

Which columns are q and p: ``dataset.meta["canonical"] = {"q": [...], "p": [...]}``
(default: first half q, second half p). Targets are the time derivatives of
the inputs; they are matched to the inputs by the names ``d<name>_dt`` when
present, otherwise taken in input order.

Derivatives (:func:`input_gradient`) use ``torch.func.grad`` inside ``torch.func``
transforms, so probes can take ``physlens.autodiff.batch_jacobian`` of the
predicted flow, and plain autograd with ``create_graph=True`` elsewhere
(training differentiates through the gradient; it is ~4x faster per call).

:meth:`HamiltonianNetwork.rollout` integrates the learned flow with a
symplectic scheme: Stormer-Verlet leapfrog (explicit, symplectic only for a
separable H), or the implicit midpoint rule (symplectic for any H; solved by
fixed-point iteration). :func:`rollout_field` integrates any emulator's
predicted derivatives (for the MLP baseline), with the same schemes plus RK4.

``lagrangian`` follows Cranmer, Greydanus, Hoyer, Battaglia, Spergel & Ho,
"Lagrangian Neural Networks" (2020): an MLP gives L(q, qdot) and the
Euler-Lagrange equations give ``qddot = (d2L/dqdot2)^-1 (dL/dq - d2L/dqdot dq qdot)``.
It fits data whose state is (q, qdot) with targets (qdot, qddot), described by
``meta["lagrangian"] = {"q": [...], "qdot": [...]}`` (default halves). It does
NOT fit canonical (q, p) data unless p = qdot: there the first half of the
targets, dq/dt, is not an input column, and the Euler-Lagrange form assumes
it is. Use ``hamiltonian`` for (q, p) data.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch.func import grad, jacrev, vmap

from physlens.errors import ConfigError, DataError
from physlens.models.base import Emulator, register_model
from physlens.models.scalars import mlp_block


def _inside_functorch() -> bool:
    try:
        return torch._C._functorch.peek_interpreter_stack() is not None
    except AttributeError:  # pragma: no cover - older torch: always take the composable path
        return True


def input_gradient(fn, x: torch.Tensor) -> torch.Tensor:
    """Gradient of the per-sample scalar ``fn(x)`` (shape (B,)) with respect to ``x``, shape (B, d).

    Inside ``torch.func`` transforms (vmap/jacrev of probes) it uses
    ``torch.func.grad`` so it composes; otherwise plain autograd, which is about
    4x faster per call, with ``create_graph`` whenever gradients are being
    recorded (training differentiates through this gradient). Under
    ``torch.no_grad`` the result is computed all the same and returned detached.

    Example:
        >>> input_gradient(lambda x: (x**2).sum(-1), torch.ones(2, 3)).tolist()
        [[2.0, 2.0, 2.0], [2.0, 2.0, 2.0]]
    """
    if _inside_functorch():
        return grad(lambda xx: fn(xx).sum())(x)
    need_graph = torch.is_grad_enabled()
    with torch.enable_grad():
        xx = x if (need_graph and x.requires_grad) else x.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(fn(xx).sum(), xx, create_graph=need_graph)
    return g


def canonical_columns(dataset, key: str = "canonical", names: tuple[str, str] = ("q", "p")) -> tuple[list[int], list[int]]:
    """(q columns, p columns) from ``meta[key]``, else the first and second half of the inputs.

    Example:
        >>> from physlens.data import Dataset
        >>> ds = Dataset(np.zeros((4, 2)), np.zeros((4, 2)), ["q", "p"], ["dq_dt", "dp_dt"])
        >>> canonical_columns(ds)
        ([0], [1])
    """
    info = dataset.meta.get(key) if isinstance(dataset.meta, dict) else None
    a, b = names
    if isinstance(info, dict) and a in info and b in info:
        q, p = [int(i) for i in info[a]], [int(i) for i in info[b]]
    else:
        if dataset.d_in % 2:
            raise ConfigError(
                f"cannot split {dataset.d_in} inputs into ({a}, {b}) halves; give meta[{key!r}] = {{{a!r}: [...], {b!r}: [...]}}"
            )
        h = dataset.d_in // 2
        q, p = list(range(h)), list(range(h, dataset.d_in))
    if len(q) != len(p) or not q or len(set(q + p)) != len(q + p) or max(q + p) >= dataset.d_in:
        raise ConfigError(f"meta[{key!r}] must list as many {a} as {b} columns, distinct and within the inputs")
    return q, p


def _target_order(dataset, cols: list[int]) -> list[int]:
    """Target column holding d(input col)/dt for each input column."""
    if dataset.d_out != dataset.d_in:
        raise ConfigError(
            f"an energy-based model predicts the time derivative of every input: need {dataset.d_in} targets, "
            f"got {dataset.d_out}"
        )
    order = []
    for c in cols:
        want = f"d{dataset.input_names[c]}_dt"
        order.append(dataset.target_names.index(want) if want in dataset.target_names else c)
    if sorted(order) != list(range(dataset.d_out)):
        order = list(cols)
    return order


class StateFlowNetwork(Emulator):
    """Base of the energy-based models: a scalar network of the state (q and a partner coordinate) whose
    derivatives give the state's time derivative, predicted for every input column.

    Subclasses set ``coordinates`` (the attribute prefixes of q and its partner: ``("q", "p")`` stores
    ``q_idx``, ``p_idx`` and the index buffers ``q_t``, ``p_t``), ``columns`` (the ``meta`` key and column
    names :func:`canonical_columns` reads), ``smooth_because`` (why a ReLU is refused) and implement
    ``state_derivative(x)`` in input column order; ``forward`` puts it in target order.

    Example:
        >>> LagrangianNetwork(2, [0], [1], width=8).v_idx, HamiltonianNetwork(2, [0], [1], width=8).p_t.tolist()
        ([1], [1])
    """

    coordinates: tuple[str, str] = ("q", "p")
    columns: tuple[str, tuple[str, str]] = ("canonical", ("q", "p"))
    smooth_because = "it is differentiated"

    def __init__(self, d_in: int, q_idx: list[int], partner_idx: list[int], out_of_state: list[int] | None,
                 activation_name: str) -> None:
        super().__init__(d_in, d_in)
        if activation_name == "relu":
            raise ConfigError(f"the {self.name} model needs a smooth activation ({self.smooth_because})")
        for prefix, idx in zip(self.coordinates, (q_idx, partner_idx)):
            setattr(self, f"{prefix}_idx", list(idx))
            self.register_buffer(f"{prefix}_t", torch.as_tensor(list(idx), dtype=torch.long), persistent=False)
        order = out_of_state if out_of_state is not None else list(range(d_in))
        self.register_buffer("out_order", torch.as_tensor(order, dtype=torch.long), persistent=False)

    @classmethod
    def from_dataset(cls, dataset, **params) -> StateFlowNetwork:
        """Build from a dataset whose inputs are the state and whose targets are its time derivatives."""
        key, names = cls.columns
        q, partner = canonical_columns(dataset, key=key, names=names)
        order = _target_order(dataset, list(range(dataset.d_in)))
        return cls(dataset.d_in, q, partner, out_of_state=order, **params)

    def state_derivative(self, x: torch.Tensor) -> torch.Tensor:
        """d(state)/dt in input column order (each model's own physics)."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dx = self.state_derivative(x)
        return torch.empty_like(dx).index_copy(1, self.out_order, dx)


@register_model
class HamiltonianNetwork(StateFlowNetwork):
    """Hamiltonian neural network: H(q, p) from an MLP, flow from its symplectic gradient.

    Args:
        d_in: state size (2 x degrees of freedom); targets are the state's time derivatives.
        q_idx, p_idx: input columns of q and p.
        out_of_state: for each input column, the target column of its time derivative.
        width, depth, activation_name: the H network (smooth activations only: it is differentiated twice in training).
        separable: H = T(p) + V(q) (makes leapfrog rollouts exactly symplectic).
        dissipation: add a learned friction term -dD/dp to dp/dt.

    Example:
        >>> from physlens.data import Dataset
        >>> X = np.random.randn(64, 2); ds = Dataset(X, np.c_[X[:, 1], -X[:, 0]], ["q", "p"], ["dq_dt", "dp_dt"])
        >>> m = HamiltonianNetwork.from_dataset(ds, width=16)
        >>> m(torch.randn(3, 2)).shape, m.energy(np.zeros((1, 2))).shape
        (torch.Size([3, 2]), (1,))
    """

    name = "hamiltonian"
    smooth_because = "its gradient is the prediction"

    def __init__(
        self,
        d_in: int,
        q_idx: list[int],
        p_idx: list[int],
        out_of_state: list[int] | None = None,
        width: int = 64,
        depth: int = 3,
        separable: bool = False,
        dissipation: bool = False,
        activation_name: str = "tanh",
    ) -> None:
        super().__init__(d_in, q_idx, p_idx, out_of_state, activation_name)
        self.separable, self.dissipation = bool(separable), bool(dissipation)
        k = len(self.q_idx)
        self.register_buffer("h_scale", torch.ones(()))
        if self.separable:
            self.T_net = mlp_block(k, 1, width, depth, activation_name)
            self.V_net = mlp_block(k, 1, width, depth, activation_name)
        else:
            self.H_net = mlp_block(d_in, 1, width, depth, activation_name)
        if self.dissipation:
            self.D_net = mlp_block(d_in, 1, width, max(depth - 1, 1), activation_name)

    def adapt(self, X: np.ndarray, y: np.ndarray) -> None:
        """Per-column standardisation of (q, p), and an energy scale matching the size of the derivatives."""
        super().adapt(X, y)
        xs = self.x_std.detach().cpu().numpy()
        ys_state = y.std(axis=0)[self.out_order.cpu().numpy()]  # std of d(state column)/dt
        ys_state = np.where(ys_state > 0, ys_state, 1.0)
        # dq/dt = dH/dp ~ h_scale / std(p): pick h_scale so both halves come out at the size of the data
        pairs = np.r_[ys_state[self.q_idx] * xs[self.p_idx], ys_state[self.p_idx] * xs[self.q_idx]]
        self.h_scale.fill_(float(np.exp(np.mean(np.log(pairs)))))

    def hamiltonian(self, x: torch.Tensor) -> torch.Tensor:
        """The learned energy H(q, p) in original units, shape (B,).

        Example:
            >>> m = HamiltonianNetwork(2, [0], [1], width=8)
            >>> m.hamiltonian(torch.zeros(4, 2)).shape
            torch.Size([4])
        """
        z = (x - self.x_mean) / self.x_std
        if self.separable:
            h = self.T_net(z[:, self.p_t]) + self.V_net(z[:, self.q_t])
        else:
            h = self.H_net(z)
        return self.h_scale * h[:, 0]

    def _dissipation(self, x: torch.Tensor) -> torch.Tensor:
        z = (x - self.x_mean) / self.x_std
        return self.h_scale * self.D_net(z)[:, 0]

    def state_derivative(self, x: torch.Tensor) -> torch.Tensor:
        """Predicted d(state)/dt in input column order (forward reorders it to the targets)."""
        g = input_gradient(self.hamiltonian, x)
        dx = torch.zeros_like(x)
        dx = dx.index_copy(1, self.q_t, g[:, self.p_t])
        dx = dx.index_copy(1, self.p_t, -g[:, self.q_t])
        if self.dissipation:
            gd = input_gradient(self._dissipation, x)
            dx = dx.index_add(1, self.p_t, -gd[:, self.p_t])
        return dx

    def energy(self, X) -> np.ndarray:
        """Learned H at each row of ``X`` (NumPy in, NumPy out).

        Example:
            >>> HamiltonianNetwork(2, [0], [1], width=8).energy(np.zeros((3, 2))).shape
            (3,)
        """
        p = next(self.parameters())
        with torch.no_grad():
            return self.hamiltonian(torch.as_tensor(np.asarray(X), dtype=p.dtype, device=p.device)).cpu().numpy()

    def rollout(self, x0, dt: float, steps: int, method: str = "auto") -> np.ndarray:
        """Integrate the learned flow from ``x0`` (n0, d) for ``steps`` steps of ``dt``: array (steps+1, n0, d).

        ``method``: ``"leapfrog"`` (Stormer-Verlet; symplectic when ``separable``),
        ``"implicit_midpoint"`` (symplectic for any H), ``"rk4"`` (not symplectic,
        for comparison) or ``"auto"`` (leapfrog if separable else implicit midpoint).

        Example:
            >>> m = HamiltonianNetwork(2, [0], [1], width=8)
            >>> m.rollout(np.array([[1.0, 0.0]]), dt=0.1, steps=5).shape
            (6, 1, 2)
        """
        if method == "auto":
            method = "leapfrog" if self.separable else "implicit_midpoint"
        if method == "leapfrog" and not self.separable:
            raise ConfigError("leapfrog is symplectic only for a separable H; build with separable=True or use implicit_midpoint")
        return rollout_field(self, x0, dt, steps, method=method, q_idx=self.q_idx, p_idx=self.p_idx, state_field=True)


def rollout_field(
    model,
    x0,
    dt: float,
    steps: int,
    method: str = "rk4",
    q_idx: list[int] | None = None,
    p_idx: list[int] | None = None,
    state_field: bool = False,
    tol: float = 1e-10,
    max_iter: int = 100,
) -> np.ndarray:
    """Integrate ``dx/dt = f(x)`` given by a model's predictions; array (steps+1, n0, d).

    ``model(x)`` must return the time derivative of each input column (in input
    order; for a :class:`HamiltonianNetwork` pass ``state_field=True`` to use its
    ``state_derivative``). The integration runs in float64 on a copy of the model. Methods: ``"rk4"``, ``"implicit_midpoint"`` (fixed-point
    iteration to ``tol``), ``"leapfrog"`` (needs ``q_idx``/``p_idx``; kick-drift-kick).

    Example:
        >>> lin = torch.nn.Linear(2, 2, bias=False)
        >>> with torch.no_grad(): _ = lin.weight.copy_(torch.tensor([[0.0, 1.0], [-1.0, 0.0]]))
        >>> traj = rollout_field(lin, np.array([[1.0, 0.0]]), dt=0.01, steps=628)
        >>> bool(np.allclose(traj[-1], [[1.0, 0.0]], atol=1e-2))
        True
    """
    if steps < 0 or not dt > 0:
        raise ConfigError(f"rollout needs steps >= 0 and dt > 0, got steps={steps}, dt={dt}")
    # Integrate in float64 on a copy of the model: over thousands of steps float32
    # round-off would otherwise dominate the drift we want to measure.
    model = copy.deepcopy(model).double().eval()
    p0 = next(model.parameters())
    x = torch.as_tensor(np.atleast_2d(np.asarray(x0, dtype=np.float64)), dtype=torch.float64, device=p0.device)
    f = model.state_derivative if state_field else model

    def field(z):
        with torch.no_grad():
            return f(z)

    out = [x.cpu().numpy()]
    qi = torch.as_tensor(q_idx or [], dtype=torch.long, device=x.device)
    pi = torch.as_tensor(p_idx or [], dtype=torch.long, device=x.device)
    if method == "leapfrog" and (not len(qi) or not len(pi)):
        raise ConfigError("leapfrog needs the q and p columns")
    for _ in range(steps):
        if method == "rk4":
            k1 = field(x)
            k2 = field(x + 0.5 * dt * k1)
            k3 = field(x + 0.5 * dt * k2)
            k4 = field(x + dt * k3)
            x = x + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        elif method == "implicit_midpoint":
            x_new = x + dt * field(x)
            for _ in range(max_iter):
                nxt = x + dt * field(0.5 * (x + x_new))
                delta = float((nxt - x_new).abs().max())
                x_new = nxt
                if delta <= tol * (1.0 + float(x_new.abs().max())):
                    break
            x = x_new
        elif method == "leapfrog":
            x = x.clone()
            x[:, pi] = x[:, pi] + 0.5 * dt * field(x)[:, pi]
            x[:, qi] = x[:, qi] + dt * field(x)[:, qi]
            x[:, pi] = x[:, pi] + 0.5 * dt * field(x)[:, pi]
        else:
            raise ConfigError(f"unknown integrator {method!r}; use rk4, implicit_midpoint or leapfrog")
        if not torch.isfinite(x).all():
            raise DataError("rollout diverged (non-finite state); use a smaller dt")
        out.append(x.cpu().numpy())
    return np.stack(out).astype(np.float64)


@register_model
class LagrangianNetwork(StateFlowNetwork):
    """Lagrangian neural network: L(q, qdot) from an MLP, accelerations from the Euler-Lagrange equations.

    Args:
        d_in: state size (q and qdot); targets are (qdot, qddot) matched by name or order.
        q_idx, v_idx: input columns of q and qdot.
        out_of_state: for each input column, the target column of its time derivative.
        ridge: added to the velocity Hessian before solving (standardised units), for stability.

    Example:
        >>> from physlens.data import Dataset
        >>> X = np.random.randn(32, 2); ds = Dataset(X, np.c_[X[:, 1], -X[:, 0]], ["q", "v"], ["dq_dt", "dv_dt"])
        >>> LagrangianNetwork.from_dataset(ds, width=8)(torch.randn(3, 2)).shape
        torch.Size([3, 2])
    """

    name = "lagrangian"
    coordinates = ("q", "v")
    columns = ("lagrangian", ("q", "qdot"))
    smooth_because = "it is differentiated twice"

    def __init__(
        self,
        d_in: int,
        q_idx: list[int],
        v_idx: list[int],
        out_of_state: list[int] | None = None,
        width: int = 64,
        depth: int = 3,
        ridge: float = 1e-4,
        activation_name: str = "softplus",
    ) -> None:
        super().__init__(d_in, q_idx, v_idx, out_of_state, activation_name)
        self.ridge = float(ridge)
        self.L_net = mlp_block(d_in, 1, width, depth, activation_name)

    def lagrangian(self, x: torch.Tensor) -> torch.Tensor:
        """The learned L(q, qdot), shape (B,) (defined up to scale and total derivatives)."""
        return self.L_net((x - self.x_mean) / self.x_std)[:, 0]

    def state_derivative(self, x: torch.Tensor) -> torch.Tensor:
        """(qdot, qddot) in input column order, qddot from the Euler-Lagrange equations."""
        single = lambda xx: self.lagrangian(xx[None])[0]  # noqa: E731
        g = vmap(grad(single))(x)
        H = vmap(jacrev(grad(single)))(x)  # reverse-over-reverse: works for every activation
        qi, vi = self.q_t, self.v_t
        Hvv = H[:, vi][:, :, vi]
        Hvq = H[:, vi][:, :, qi]
        rhs = g[:, qi] - torch.einsum("bij,bj->bi", Hvq, x[:, vi])
        # ridge in standardised velocity units: scale by 1 / std(v)^2 to stay unit-consistent
        sv = self.x_std[vi]
        eye = torch.diag_embed((self.ridge / sv**2).expand(x.shape[0], -1))
        acc = torch.linalg.solve(Hvv + eye, rhs[..., None])[..., 0]
        dx = torch.zeros_like(x)
        dx = dx.index_copy(1, qi, x[:, vi])
        return dx.index_copy(1, vi, acc)
