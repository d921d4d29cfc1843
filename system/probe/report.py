"""Probe results section of report.html."""
