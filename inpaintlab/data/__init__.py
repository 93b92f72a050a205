"""Image folders -> inpainting batches ``{"image": (N,3,H,W), "mask": (N,1,H,W), "kind": list[str]}``."""

from inpaintlab.data.datamodule import InpaintDataModule
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
from inpaintlab.data.seeding import EpochSeededSampler, fixed_val_mask, mix_seed, val_mask_generator
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
    "InpaintDataModule",
    "TrainImageDataset",
    "ValImageDataset",
    "crop_resize_batch",
    "decode_centre_squares",
    "decode_readable",
    "drop_unreadable",
    "fixed_val_mask",
    "jitter_brightness_contrast",
    "list_image_files",
    "mix_seed",
    "read_image",
    "sample_augment_params",
    "to_rgb",
    "val_mask_generator",
]
