"""The LSGM's view of an emission family: its :class:`NetworkHead` (``DESIGN.md`` §3).

Each family declares its own head (:meth:`~lsgm.distributions.base.Emission.network_head`,
the number ``P`` of raw outputs per state, the static ``[K, P]`` bias, the log-likelihood
under time-varying raw parameters ``[T, K, P]``, the RNN's encoding of an observation and
sampling); this module only asks for it and explains a refusal. Families whose head is None
(e.g. full/tied/spherical Gaussians, Poisson, mixtures) cannot be used by an LSGM.
"""

from __future__ import annotations

from lsgm.distributions import Emission, NetworkHead, registry


def supported_forms() -> str:
    """The families an LSGM can use, as messages name them: ``"A, B or C"``."""
    forms = [f.lsgm_form for f in registry.families().values() if f.lsgm_form is not None]
    return " or ".join(filter(None, [", ".join(forms[:-1]), *forms[-1:]]))


def family_of(emission: Emission) -> NetworkHead:
    """The :class:`NetworkHead` of an emission instance.

    Raises:
        ValueError: for emissions an LSGM cannot parameterise, naming the variant given (the
            string options of a family that some LSGM supports, e.g. ``covariance='full'``)
            and the supported families.
    """
    head = emission.network_head()
    if head is not None:
        return head
    variant = ""
    if type(emission).lsgm_form is not None:
        options = [f"{k}={v!r}" for k, v in emission.config().items() if isinstance(v, str)]
        variant = f" with {', '.join(options)}" if options else ""
    raise ValueError(
        f"an LSGM cannot use a {type(emission).__name__} emission{variant}; "
        f"use {supported_forms()}."
    )
