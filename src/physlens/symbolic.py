"""The symbolic toolkit shared by probes and scoring: safe evaluation and time-bounded SymPy calls.

:func:`evaluate` computes a SymPy expression on NumPy columns with a small tree
walker over SymPy nodes, written by hand instead of ``sympy.lambdify`` because
lambdify generates and ``exec``s Python source containing the (user-chosen)
variable names. :func:`time_limited` bounds a SymPy call (``simplify`` has no
time limit of its own). The restricted formula parser is :mod:`physlens.expressions`.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from physlens.errors import ExpressionError

_FUNCS = {
    sp.exp: np.exp,
    sp.log: np.log,
    sp.sin: np.sin,
    sp.cos: np.cos,
    sp.tan: np.tan,
    sp.sinh: np.sinh,
    sp.cosh: np.cosh,
    sp.tanh: np.tanh,
    sp.asin: np.arcsin,
    sp.acos: np.arccos,
    sp.atan: np.arctan,
    sp.Abs: np.abs,
    sp.sign: np.sign,
}


def evaluate(expr: sp.Expr, columns: dict[str, np.ndarray]) -> np.ndarray:
    """Evaluate a SymPy expression on NumPy columns (``{symbol name: array}``) without ``exec``.

    Example:
        >>> x = sp.Symbol("x", real=True)
        >>> evaluate(2 * sp.sin(x) ** 2, {"x": np.array([0.0, np.pi / 2])}).tolist()
        [0.0, 2.0]
    """
    n = len(next(iter(columns.values()))) if columns else 1

    def ev(e: sp.Basic) -> np.ndarray:
        if e.is_Symbol:
            try:
                return columns[e.name]
            except KeyError:
                raise ExpressionError(f"formula uses {e.name!r}, which is not a data column") from None
        if e.is_Number or e.is_NumberSymbol:
            return np.full(n, float(e))
        if e.is_Add:
            out = ev(e.args[0])
            for a in e.args[1:]:
                out = out + ev(a)
            return out
        if e.is_Mul:
            out = ev(e.args[0])
            for a in e.args[1:]:
                out = out * ev(a)
            return out
        if e.is_Pow:
            base, ex = e.args
            b = ev(base)
            if ex.is_Number:
                f = float(ex)
                if f == 0.5:
                    return np.sqrt(b)
                if f == -1:
                    return 1.0 / b
                if f == int(f):
                    return b ** int(f) if f > 0 else 1.0 / b ** int(-f)
                return np.power(b, f)
            return np.power(b, ev(ex))
        fn = _FUNCS.get(e.func)
        if fn is not None and len(e.args) == 1:
            return fn(ev(e.args[0]))
        raise ExpressionError(f"cannot evaluate {type(e).__name__} in {e}")

    with np.errstate(all="ignore"):
        out = ev(expr)
    return np.broadcast_to(np.asarray(out, dtype=np.float64), (n,)).copy()


class SimplifyTimeout(Exception):
    """Raised inside :func:`time_limited` when SymPy takes too long.

    Example:
        >>> isinstance(SimplifyTimeout(), Exception)
        True
    """


def time_limited(fn, seconds: float, *args, **kwargs):
    """Call ``fn(*args, **kwargs)``; raise :class:`SimplifyTimeout` after ``seconds``.

    SymPy's ``simplify`` has no time limit and can run for minutes on an unlucky
    expression. In a process's main thread (the CLI, a pool worker, a Ray task) a
    SIGALRM interval timer bounds it. Signals cannot reach other threads, so there
    the call runs in a forked child process that is killed at the limit (the result
    comes back pickled); where fork is unavailable the call runs unbounded.

    Example:
        >>> time_limited(sp.simplify, 5.0, sp.sin(sp.Symbol("x")) ** 2 + sp.cos(sp.Symbol("x")) ** 2)
        1
        >>> import threading
        >>> out = []
        >>> t = threading.Thread(target=lambda: out.append(time_limited(sp.factor, 5.0, sp.Symbol("x")**2 - 1)))
        >>> t.start(); t.join(); out
        [(x - 1)*(x + 1)]
    """
    import signal
    import threading

    if seconds <= 0:
        return fn(*args, **kwargs)
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        return _in_child(fn, seconds, args, kwargs)

    def alarm(signum, frame):
        raise SimplifyTimeout(f"{getattr(fn, '__name__', 'call')} took more than {seconds:g} s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return fn(*args, **kwargs)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _in_child(fn, seconds: float, args: tuple, kwargs: dict):
    import multiprocessing

    try:
        ctx = multiprocessing.get_context("fork")
    except ValueError:  # no fork on this platform: unbounded, as before
        return fn(*args, **kwargs)
    recv, send = ctx.Pipe(duplex=False)

    def child() -> None:
        try:
            send.send((True, fn(*args, **kwargs)))
        except BaseException as exc:  # the parent re-raises it
            send.send((False, exc))
        finally:
            send.close()

    proc = ctx.Process(target=child, daemon=True)
    proc.start()
    send.close()
    try:
        if not recv.poll(seconds):
            raise SimplifyTimeout(f"{getattr(fn, '__name__', 'call')} took more than {seconds:g} s")
        ok, value = recv.recv()
    except EOFError:
        raise SimplifyTimeout(f"{getattr(fn, '__name__', 'call')} ended without a result") from None
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join()
        recv.close()
    if not ok:
        raise value
    return value
