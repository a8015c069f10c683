"""`features`: one namespace per modality, each from the split manifest to a feature table.

In each namespace a preprocessing node (decode and clean) feeds an extraction node (encode),
so kedro-viz shows both steps, and a change of feature settings reuses the preprocessing.
"""

from kedro.pipeline import Pipeline, node

from .nodes import (
    audio_vectors,
    clean_text_column,
    encode_images,
    fit_text_vectorizer,
    preprocess_audio,
    preprocess_images,
    text_vectors,
)

CACHE, WORKERS, SEED = "params:feature_cache", "params:feature_workers", "params:seed"


def create_pipeline(**kwargs) -> Pipeline:
    image = Pipeline(
        [
            node(preprocess_images,
                 inputs=["split_manifest", "params:preprocessing", CACHE, WORKERS],
                 outputs="tensors", name="preprocess_images"),
            node(encode_images, inputs=["tensors", "params:features", CACHE],
                 outputs="features", name="encode_images"),
        ],
        namespace="image", inputs={"split_manifest"}, outputs={"features": "image_features"},
        parameters={CACHE, WORKERS},
    )
    text = Pipeline(
        [
            node(clean_text_column, inputs=["split_manifest", "params:preprocessing"],
                 outputs="cleaned", name="clean_texts"),
            node(fit_text_vectorizer,
                 inputs=["cleaned", "params:features", "params:preprocessing", SEED],
                 outputs="vectorizer", name="fit_text_vectorizer"),
            node(text_vectors, inputs=["cleaned", "vectorizer", CACHE],
                 outputs="features", name="text_vectors"),
        ],
        namespace="text", inputs={"split_manifest"}, outputs={"features": "text_features"},
        parameters={CACHE, SEED},
    )
    audio = Pipeline(
        [
            node(preprocess_audio,
                 inputs=["split_manifest", "params:preprocessing", CACHE, WORKERS],
                 outputs="clips", name="preprocess_audio"),
            node(audio_vectors,
                 inputs=["split_manifest", "clips", "params:features", CACHE, WORKERS],
                 outputs="features", name="audio_vectors"),
        ],
        namespace="audio", inputs={"split_manifest"}, outputs={"features": "audio_features"},
        parameters={CACHE, WORKERS},
    )
    return image + text + audio
