from .pipeline import create_pipeline, model_inputs_pipeline

__all__ = ["create_pipeline", "model_inputs_pipeline"]
