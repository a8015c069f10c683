"""Encoders and the multimodal classifier assembled from a JSON-able spec. No Kedro."""
