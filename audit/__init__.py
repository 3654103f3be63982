"""Reliability audit of the lsgm library and CLI (``python -m audit.reliability``)."""
