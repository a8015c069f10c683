"""A trained model put to use: predictions for new samples made with the model's own
feature recipe, and the model exported as ONNX. No Kedro.
"""
