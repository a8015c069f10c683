"""`features`: one namespace per modality, each from the split manifest to a feature table."""

from kedro.pipeline import Pipeline, node

from .nodes import audio_vectors, fit_text_vectorizer, image_tensors, text_vectors

SHARED_PARAMETERS = {"params:feature_cache"}


def create_pipeline(**kwargs) -> Pipeline:
    image = Pipeline(
        [node(image_tensors, inputs=["split_manifest", "params:features", "params:feature_cache"],
              outputs="features", name="image_tensors")],
        namespace="image", inputs={"split_manifest"}, outputs={"features": "image_features"},
        parameters=SHARED_PARAMETERS,
    )
    text = Pipeline(
        [
            node(fit_text_vectorizer, inputs=["split_manifest", "params:features"],
                 outputs="vectorizer", name="fit_text_vectorizer"),
            node(text_vectors, inputs=["split_manifest", "vectorizer", "params:feature_cache"],
                 outputs="features", name="text_vectors"),
        ],
        namespace="text", inputs={"split_manifest"}, outputs={"features": "text_features"},
        parameters=SHARED_PARAMETERS,
    )
    audio = Pipeline(
        [node(audio_vectors, inputs=["split_manifest", "params:features", "params:feature_cache"],
              outputs="features", name="audio_vectors")],
        namespace="audio", inputs={"split_manifest"}, outputs={"features": "audio_features"},
        parameters=SHARED_PARAMETERS,
    )
    return image + text + audio
