"""Applications of the models to real data, one namespace each: :mod:`lsgm.apps.genomics`
(CpG islands, gene structure), :mod:`lsgm.apps.tf_binding` (the PBM experiment),
:mod:`lsgm.apps.genome_lm` (genome language models), :mod:`lsgm.apps.chromatin` (chromatin
classification), :mod:`lsgm.apps.chromatin_states` (chromatin states as ChromHMM makes
them), :mod:`lsgm.apps.music` (polyphonic music) and :mod:`lsgm.apps.synthetic` (the
synthetic benchmarks); :mod:`lsgm.apps.seeds` holds what they share for repeating a run over
seeds (mean ± SD).

The public names of this package are the applications themselves, imported on first use
(``from lsgm.apps import music``, then ``music.run_music(...)``; :mod:`lsgm.lazy`): each pulls in JAX, Flax and
its own data, so ``import lsgm.apps`` loads none of them and the command line imports only the
one it runs.
"""

from typing import TYPE_CHECKING

from lsgm.lazy import lazy_exports

if TYPE_CHECKING:
    from lsgm.apps import (
        chromatin,
        chromatin_states,
        genome_lm,
        genomics,
        music,
        seeds,
        synthetic,
        tf_binding,
    )

__getattr__, __dir__ = lazy_exports(
    __name__,
    {},
    modules=(
        "chromatin",
        "chromatin_states",
        "genome_lm",
        "genomics",
        "music",
        "seeds",
        "synthetic",
        "tf_binding",
    ),
)

__all__ = [
    "chromatin",
    "chromatin_states",
    "genome_lm",
    "genomics",
    "music",
    "seeds",
    "synthetic",
    "tf_binding",
]
