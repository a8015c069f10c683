"""What MLflow runs to build the served model ("models from code"): the model class, not a
pickle of one. See `serving/mlflow_model.py`."""

from mlflow.models import set_model

from multimodal_fusion.serving.mlflow_model import FusionPyfunc

set_model(FusionPyfunc())
