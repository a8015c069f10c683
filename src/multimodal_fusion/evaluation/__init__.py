"""Metrics, plots and accuracy ceilings. No Kedro."""
