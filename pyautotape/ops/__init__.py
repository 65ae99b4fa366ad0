"""The differentiable ops: validate in Python, allocate with NumPy, compute in C, record.

One module per family: elementwise (binary, ``where``, unary), math (more elementwise math),
activation, reduce, reductions (composed of the others), shape, indexing (advanced
indexing, gather, scatter_add, ...; selection: nonzero), dense, loss; core.py holds
what they share, spec.py the :class:`~.spec.OpSpec` table every other part reads,
methods.py the Tensor operators. ``SPECS`` (name -> OpSpec) and ``REGISTRY``
(name -> opcode) are in ``csrc/ops.def`` order, and checked at import against C.

>>> import pyautotape as pat
>>> list(pat.ops.REGISTRY)[:3], pat.ops.REGISTRY["add"]
(['add', 'sub', 'mul'], 0)
"""

from __future__ import annotations

from .. import _ffi
from ..function import Function as _Function  # noqa: F401  (registers the custom op's spec)
from . import methods as _methods
from .activation import *  # noqa: F403
from .activation import __all__ as _activation
from .dense import *  # noqa: F403
from .dense import __all__ as _dense
from .elementwise import *  # noqa: F403
from .elementwise import __all__ as _elementwise
from .indexing import *  # noqa: F403
from .indexing import __all__ as _indexing
from .loss import *  # noqa: F403
from .loss import __all__ as _loss
from .math import *  # noqa: F403
from .math import __all__ as _math
from .nn import *  # noqa: F403
from .nn import __all__ as _nn
from .nn import embedding, pick  # noqa: F401
from .reduce import *  # noqa: F403
from .reduce import __all__ as _reduce
from .reductions import *  # noqa: F403
from .reductions import __all__ as _reductions
from .selection import *  # noqa: F403
from .selection import __all__ as _selection
from .shape import *  # noqa: F403
from .shape import __all__ as _shape
from .shape import index  # noqa: F401
from .shapes_cast import *  # noqa: F403
from .shapes_cast import __all__ as _shapes_cast
from .shapes_join import *  # noqa: F403
from .shapes_join import __all__ as _shapes_join
from .shapes_view import *  # noqa: F403
from .shapes_view import __all__ as _shapes_view
from .spec import SPECS, OpSpec, check_complete  # noqa: F401

check_complete()
REGISTRY: dict[str, int] = {name: spec.opcode for name, spec in SPECS.items()}
OP_NAMES = _ffi.OP_NAMES
_methods.install()

# the public ops (pat.add, ...); index is x[i], reached as pat.ops.index
__all__ = [n for n in (*_elementwise, *_math, *_activation, *_reduce, *_reductions, *_shape,
                       *_shapes_view, *_shapes_join, *_shapes_cast,
                       *_dense, *_loss, *_nn, *_indexing, *_selection) if n != "index"]
