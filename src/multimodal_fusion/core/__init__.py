"""The ground floor: typed settings, devices and precision, arrays on disk. No Kedro.

Nothing here imports any other part of the package, so every layer above may use it.
"""
