import torch

from helpers import settings
from multimodal_fusion.training.augmentation import augment_batch, augmentation

OFF = settings("image.features")["augment"]


def test_augmentation_draws_anew_per_image_and_keeps_shape_and_range():
    assert augmentation(OFF, 16) is None
    transform = augmentation({"rotation": 20, "crop_scale": 0.7, "horizontal_flip": True,
                              "colour_jitter": 0.3}, 16)
    images = torch.rand(6, 3, 16, 16) * 2 - 1
    torch.manual_seed(0)
    first = augment_batch(images, transform)
    torch.manual_seed(0)
    assert torch.equal(first, augment_batch(images, transform))
    assert first.shape == images.shape and first.min() >= -1.0 and first.max() <= 1.0
    twins = augment_batch(images[:1].repeat(6, 1, 1, 1), transform)
    assert not torch.allclose(twins[0], twins[1])
