"""What keeps runs apart and traceable: one run at a time in a project's data folder, and
the record of what produced a model. No Kedro.
"""
