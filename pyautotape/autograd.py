"""``pat.autograd``: gradients of outputs with respect to chosen inputs, PyTorch style.

>>> import pyautotape as pat
>>> x = pat.tensor([1.0, 2.0], requires_grad=True)
>>> w = pat.tensor([3.0, 4.0], requires_grad=True)
>>> (gx,) = pat.autograd.grad((x * w).sum(), [x])
>>> gx.numpy(), w.grad
(array([3., 4.], dtype=float32), None)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from . import graph as graph
from .engine import run_backward, seed_gradient
from .errors import TapeError
from .tensor import Tensor, _wrap, enable_grad, no_grad

__all__ = ["grad", "backward", "graph", "no_grad", "enable_grad"]


def _as_list(x: Any, what: str, where: str) -> list[Any]:
    if isinstance(x, Tensor):
        return [x]
    if isinstance(x, (list, tuple)):
        return list(x)
    raise TypeError(
        f"{where}: {what} must be a Tensor or a sequence of Tensors, got {type(x).__name__}")


def backward(
    tensors: Tensor | Sequence[Tensor],
    grad_tensors: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    inputs: Tensor | Sequence[Tensor] | None = None,
) -> None:
    """Accumulate the gradients of ``tensors`` into ``.grad``, as
    ``torch.autograd.backward``: one reverse sweep from all of them, each seeded with its
    entry of ``grad_tensors`` (None: ones, for a one-element tensor). Into every leaf
    that requires grad, or with ``inputs`` only into those tensors' ``.grad`` (leaves or
    not). The tape is released unless ``retain_graph=True``.

    >>> import pyautotape as pat
    >>> x = pat.tensor([1.0, 2.0], requires_grad=True)
    >>> y, z = x * x, x.sum()
    >>> pat.autograd.backward([y, z], [pat.tensor([1.0, 10.0]), None])
    >>> x.grad.numpy()
    array([ 3., 41.], dtype=float32)
    """
    outs = _as_list(tensors, "tensors", "backward")
    if grad_tensors is None:
        gos: list[Any] = [None] * len(outs)
    elif isinstance(grad_tensors, Tensor) or not isinstance(grad_tensors, (list, tuple)):
        gos = [grad_tensors]
    else:
        gos = list(grad_tensors)
    if len(gos) != len(outs):
        raise ValueError(
            f"backward: {len(outs)} tensors but {len(gos)} grad_tensors; give one (or None) "
            "per tensor")
    if create_graph:
        raise ValueError(
            "backward: create_graph=True is not supported by pat.autograd.backward; for "
            "second derivatives use pat.hessian or pat.hvp")
    roots = []
    for i, (o, g) in enumerate(zip(outs, gos, strict=True)):
        if not isinstance(o, Tensor):
            raise TypeError(f"backward: tensors[{i}] is a {type(o).__name__}, not a Tensor")
        if not o.requires_grad:
            raise TapeError(
                f"backward: tensors[{i}] (shape {o.shape}) does not require grad (no input "
                "had requires_grad=True, or it was computed under no_grad())")
        roots.append((o, seed_gradient(o, g, "backward")))
    keep = bool(retain_graph) if retain_graph is not None else create_graph
    if inputs is None:
        run_backward(roots, None, keep)
        return
    ins = _as_list(inputs, "inputs", "backward")
    for i, t in enumerate(ins):
        if not isinstance(t, Tensor) or not t.requires_grad:
            raise TapeError(
                f"backward: inputs[{i}] must be a Tensor that requires grad, got "
                f"{type(t).__name__}" + ("" if not isinstance(t, Tensor) else
                                         f" of shape {t.shape} without requires_grad"))
    arrays = run_backward(roots, ins, keep) or []
    for t, a in zip(ins, arrays, strict=True):
        if a is not None:
            if t._grad is None:
                t._grad = _wrap(a.copy())
            else:
                t._grad = _wrap(t._grad._data + a)


def grad(
    outputs: Tensor | Sequence[Tensor],
    inputs: Tensor | Sequence[Tensor],
    grad_outputs: Any = None,
    retain_graph: bool = False,
    allow_unused: bool = False,
) -> tuple[Tensor | None, ...]:
    """Gradients of ``outputs`` with respect to ``inputs``, as a tuple aligned with inputs.

    Computes only what those inputs need: a ``linear`` whose weight is not among them (and
    not on a path to them) skips its weight-gradient GEMM. No ``.grad`` is touched.
    ``grad_outputs`` gives the cotangent of each output (required for non-scalar ones).
    An input that the outputs do not depend on raises, unless ``allow_unused=True``, in
    which case its entry is None.

    >>> import pyautotape as pat
    >>> x = pat.tensor([1.0, 2.0], requires_grad=True)
    >>> (gx,) = pat.autograd.grad((x * x).sum(), [x])
    >>> gx.numpy(), x.grad
    (array([2., 4.], dtype=float32), None)
    """
    outs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    ins = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if grad_outputs is None:
        gos: list[Any] = [None] * len(outs)
    elif isinstance(grad_outputs, (list, tuple)) and len(outs) > 1:
        gos = list(grad_outputs)
    else:
        gos = [grad_outputs]
    if len(gos) != len(outs):
        raise ValueError(f"grad: {len(outs)} outputs but {len(gos)} grad_outputs")
    for i, t in enumerate(ins):
        if not isinstance(t, Tensor):
            raise TypeError(f"grad: inputs[{i}] is a {type(t).__name__}, not a Tensor")
        if not t.requires_grad:
            raise TapeError(
                f"grad: inputs[{i}] (shape {t.shape}) does not require grad; create it with "
                "requires_grad=True"
            )
    roots = []
    for o, g in zip(outs, gos, strict=True):
        if not isinstance(o, Tensor) or not o.requires_grad:
            raise TapeError("grad: every output must be a Tensor that requires grad")
        roots.append((o, seed_gradient(o, g, "grad")))
    arrays = run_backward(roots, ins, retain_graph)
    if arrays is None:  # it returns None only when it is given no inputs
        raise RuntimeError("internal: run_backward returned no gradients for the inputs")
    result: list[Tensor | None] = []
    for i, a in enumerate(arrays):
        if a is None and not allow_unused:
            raise TapeError(
                f"grad: inputs[{i}] (shape {ins[i].shape}) is not used to compute the "
                "outputs; pass allow_unused=True to get None for it"
            )
        result.append(_wrap(a) if a is not None else None)
    return tuple(result)
