"""Ablation section of report.html."""
