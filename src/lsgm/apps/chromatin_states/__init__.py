"""Chromatin-state annotation as ChromHMM users run it (issue 21): binarized inputs, a
multivariate Bernoulli HMM (or LSGM) over all cells and chromosomes, ChromHMM's outputs
(model, emission and transition tables, segmentations, browser tracks, enrichments).
"""
