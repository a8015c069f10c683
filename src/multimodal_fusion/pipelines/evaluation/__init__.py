from .pipeline import create_pipeline, scoring_pipeline

__all__ = ["create_pipeline", "scoring_pipeline"]
