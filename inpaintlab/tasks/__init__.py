"""The three training tasks, each a folder with the same two parts (import one with ``from
inpaintlab.tasks.inpaint import InpaintModule``; nothing here imports them):

=============  ========================  ==========================  =====================================
task           LightningModule           LightningDataModule         exports (hub task)
=============  ========================  ==========================  =====================================
``inpaint``    ``InpaintModule`` (GAN)   ``InpaintDataModule``       the EMA generator (``inpaint``)
``stylize``    ``StylizeModule``         ``StylizeDataModule``       photo -> Monet translator (``stylize``)
               (CycleGAN)                (unpaired photos, Monet)
``classify``   ``ClassifyModule``        ``ClassifyDataModule``      the style classifier (``classify``)
=============  ========================  ==========================  =====================================

What they share (manual GAN steps, EMA, guards, DiffAugment, FID scheduling, grids, checkpoint io) is in
:mod:`inpaintlab.training`. Every task's checkpoint records its ``task`` and the exported model's
architecture preset, which ``inpaintlab export`` and ``load(run.ckpt)`` read.
"""
