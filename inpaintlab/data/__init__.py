"""The data modules' shared parts: image reading, transforms, seeds and samplers, the on-device image
store, synthetic pictures. The data modules themselves live with their task (:mod:`inpaintlab.tasks`)."""

from inpaintlab.data.folder_dataset import TrainImageDataset, ValImageDataset
from inpaintlab.data.gpu_store import DeviceImageStore, decode_centre_squares
from inpaintlab.data.image_io import (
    IMAGE_EXTENSIONS,
    decode_readable,
    drop_unreadable,
    list_image_files,
    read_image,
    to_rgb,
)
from inpaintlab.data.seeding import (
    EpochSeededSampler,
    eval_sampler,
    fixed_val_mask,
    mix_seed,
    val_mask_generator,
)
from inpaintlab.data.synthetic import synthetic_image, write_image_folder
from inpaintlab.data.transforms import (
    Augmentation,
    AugmentParams,
    crop_resize_batch,
    jitter_brightness_contrast,
    sample_augment_params,
)

__all__ = [
    "IMAGE_EXTENSIONS",
    "AugmentParams",
    "Augmentation",
    "DeviceImageStore",
    "EpochSeededSampler",
    "TrainImageDataset",
    "ValImageDataset",
    "crop_resize_batch",
    "decode_centre_squares",
    "decode_readable",
    "drop_unreadable",
    "eval_sampler",
    "fixed_val_mask",
    "jitter_brightness_contrast",
    "list_image_files",
    "mix_seed",
    "read_image",
    "sample_augment_params",
    "synthetic_image",
    "to_rgb",
    "val_mask_generator",
    "write_image_folder",
]
