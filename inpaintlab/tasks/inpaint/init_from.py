"""``InitFromMixin``: start an inpainting run, or evaluate, from the generator weights of a file (``init_from``).

``init_from`` names a Lightning ``.ckpt`` of an earlier inpainting run or a hub ``.safetensors`` file
(:func:`~inpaintlab.training.checkpoint_io.load_init_weights`). The weights are loaded once, at the first
entry point of a trainer call (``fit``, ``validate``, ``test``, ``predict``), unless a checkpoint
(``ckpt_path``: a resume or an evaluated run) sets them: so ``inpaintlab validate -c RECIPE`` checks the file
the recipe names instead of a randomly initialised generator, and a ``validate`` after ``fit`` keeps the
trained weights.
"""

from __future__ import annotations

import logging

from inpaintlab.training.checkpoint_io import load_init_weights

log = logging.getLogger(__name__)


class InitFromMixin:
    """Loads ``hparams.init_from`` into ``generator`` (and ``generator_ema``, and ``discriminator`` when the
    file has fitting weights). The module sets ``_weights_restored = False`` in ``__init__`` and calls
    :meth:`_apply_init_from` from ``on_fit_start``; the evaluation hooks below call it themselves.
    """

    # validate / test / predict without ckpt_path: init_from's weights, not a random G (inside fit: a no-op)
    def on_validation_start(self) -> None:
        self._apply_init_from()

    def on_test_start(self) -> None:
        self._apply_init_from()

    def on_predict_start(self) -> None:
        self._apply_init_from()

    def _apply_init_from(self) -> None:
        """Load ``init_from`` once, unless a checkpoint (resume, ``ckpt_path``) or an earlier load set the weights."""
        init_from = self.hparams.init_from
        if init_from and self.trainer.ckpt_path is None and not self._weights_restored:
            self.load_init_weights(init_from)
            self._weights_restored = True

    def load_init_weights(self, path: str) -> None:
        """Initialise G (and its EMA), and D when the file has matching weights, from ``path``."""
        weights = load_init_weights(path)
        allowed = tuple(self.hparams.init_allow_missing or ())
        try:
            result = self.generator.load_state_dict(weights.generator, strict=not allowed)
            missing = [key for key in result.missing_keys if not key.startswith(allowed)]
            if missing or result.unexpected_keys:
                raise RuntimeError(
                    f"missing keys {missing} (init_allow_missing={list(allowed)}), "
                    f"unexpected keys {result.unexpected_keys}"
                )
        except RuntimeError as err:
            raise ValueError(
                f"init_from={path!r}: its generator weights do not fit the architecture {self.hparams.generator!r}; "
                "use the same model.generator as the run that wrote it, or name the new modules' key prefixes "
                f"in model.init_allow_missing. {err}"
            ) from None
        if self.generator_ema is not None:
            self.generator_ema.load_state_dict(self.generator.state_dict())
        if weights.discriminator is not None:
            try:
                self.discriminator.load_state_dict(weights.discriminator)
            except RuntimeError:
                log.warning("init_from=%s: discriminator weights do not fit; D starts from scratch", path)
        log.info("InpaintModule: initialised from %s (%s generator weights)", path, weights.source)
