"""Applications of the models to real data: :mod:`lsgm.apps.genomics` (CpG islands, gene
structure) and :mod:`lsgm.apps.music`."""
