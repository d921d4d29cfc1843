"""Filtering ablations: the same loop once per selection strategy, and their comparison."""
