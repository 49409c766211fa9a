"""Scoring predicted events against ground truth, perturbing tracks, grid search."""
