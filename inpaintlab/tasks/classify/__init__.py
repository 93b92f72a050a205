"""The photo-vs-Monet style classifier (``load("auto")``'s router): ``ClassifyModule`` on
``ClassifyDataModule``'s class-balanced photos and paintings."""

from inpaintlab.tasks.classify.data import ClassifyDataModule, random_crops
from inpaintlab.tasks.classify.module import ClassifyModule

__all__ = ["ClassifyDataModule", "ClassifyModule", "random_crops"]
