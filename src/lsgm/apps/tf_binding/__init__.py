"""Transcription-factor binding from protein-binding-microarray (PBM) data (LSGM paper §2.5, §3.2).

* :mod:`~lsgm.apps.tf_binding.motif_model` — motif (PWM) states as chains of single-symbol
  states, static (HMM) or RNN-conditioned (LSGM) transitions, likelihood-ratio scores and the
  intensity readout of paper Eq. 13;
* :mod:`~lsgm.apps.tf_binding.baselines` — DeepBind, DeeperBind and k-mer regression;
* :mod:`~lsgm.apps.tf_binding.regression` — the shared MSE training flow (Adam, early stopping
  on validation Spearman) and metrics;
* :mod:`~lsgm.apps.tf_binding.experiment` — the paper's experiment (:func:`run_pbm`, :func:`run_pbm_seeds`, settings
  :class:`PBMSettings`, :data:`QUICK` for a short run), re-exported here.
"""

from lsgm.apps.tf_binding.experiment import QUICK, PBMSettings, run_pbm, run_pbm_seeds

__all__ = ["QUICK", "PBMSettings", "run_pbm", "run_pbm_seeds"]
