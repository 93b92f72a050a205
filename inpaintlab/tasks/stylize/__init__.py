"""Photo -> Monet style transfer: a CycleGAN trained with the package's parts, and its data.

``inpaintlab fit -c examples/configs/cyclegan-monet.yaml`` trains it; ``inpaintlab export`` turns the
best checkpoint into the hub's ``photo2monet``; ``load("photo2monet")(img)`` stylizes a picture
(:class:`inpaintlab.api.stylizer.Stylizer`); ``inpaintlab stylize`` writes a folder of stylized photos,
which ``InpaintDataModule(extra_train_dirs=...)`` can add to a Monet training set.
"""

from inpaintlab.stylize.data import RandomCrops, UnpairedDataModule, random_crop_flip
from inpaintlab.stylize.image_pool import ImagePool
from inpaintlab.stylize.module import CycleGAN

__all__ = ["CycleGAN", "ImagePool", "RandomCrops", "UnpairedDataModule", "random_crop_flip"]
