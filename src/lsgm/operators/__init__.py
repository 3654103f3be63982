"""Operators with the DiffBio interface (``apply(data, state, metadata)``), built on the exact
kernels of :mod:`lsgm.inference`. Users of ``diffbio.operators.statistical`` switch with::

    from lsgm.operators import DifferentiableHMM, HMMConfig

See ``docs/operators.md``.
"""

from lsgm.operators.hmm import INIT_SCALE, DifferentiableHMM, FrozenParam, HMMConfig

__all__ = ["INIT_SCALE", "DifferentiableHMM", "FrozenParam", "HMMConfig"]
