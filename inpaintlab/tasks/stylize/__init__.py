"""Photo -> Monet style transfer: a CycleGAN (``StylizeModule``) on unpaired photos and paintings
(``StylizeDataModule``).

``inpaintlab fit -c examples/configs/cyclegan-monet.yaml`` trains it; ``inpaintlab export`` turns the
best checkpoint into the hub's ``photo2monet``; ``load("photo2monet")(img)`` stylizes a picture
(:class:`inpaintlab.api.stylizer.Stylizer`); ``inpaintlab stylize`` writes a folder of stylized photos,
which ``InpaintDataModule(extra_train_dirs=...)`` can add to a Monet training set.
"""

from inpaintlab.tasks.stylize.data import RandomCrops, StylizeDataModule, random_crop_flip
from inpaintlab.tasks.stylize.image_pool import ImagePool
from inpaintlab.tasks.stylize.module import StylizeModule

# the names before the tasks/ layout (scripts that import them keep working)
CycleGAN = StylizeModule
UnpairedDataModule = StylizeDataModule

__all__ = ["ImagePool", "RandomCrops", "StylizeDataModule", "StylizeModule", "random_crop_flip"]
