"""Metrics, plots and the demo's accuracy ceiling. No Kedro."""
