"""FID (and KID) every validation epoch, through torch-fidelity.

:class:`InceptionFeatures` wraps torch-fidelity's ``inception-v3-compat`` extractor (the TF-FID Inception:
TF1-compatible bilinear resize to 299 px, 2048-d pool features). :class:`FIDMetric` is a
``torchmetrics.Metric`` that accumulates real and fake features and computes FID with torch-fidelity's own
``fid_features_to_statistics`` / ``fid_statistics_to_metric`` (and KID with ``kid_features_to_metric``),
in float64. The real statistics are computed once and cached, in memory and optionally on disk, so later
epochs only extract features of the generated images.

DDP: feature lists are ``dist_reduce_fx="cat"`` states; torchmetrics gathers them from every rank before
``compute()``, which then runs the same numbers on every rank (there is no rank-zero-only branch). The disk
cache is written by every rank with an atomic rename of identical content, so no rank waits on another.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import warnings
from collections.abc import Iterable
from pathlib import Path

import torch
from torch import Tensor, nn
from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
from torch_fidelity.metric_fid import KEY_METRIC_FID, fid_features_to_statistics, fid_statistics_to_metric
from torch_fidelity.metric_kid import KEY_METRIC_KID_MEAN, KEY_METRIC_KID_STD, kid_features_to_metric
from torchmetrics import Metric
from torchmetrics.utilities.data import dim_zero_cat

from inpaintlab._checks import check_image
from inpaintlab.io import atomic_file

log = logging.getLogger(__name__)

_CACHE_FORMAT = 1


def images_to_uint8(images: Tensor) -> Tensor:
    """[0,1] float images -> uint8 in [0,255], rounded to nearest (as a PNG of the image would store them).

    torch-fidelity's extractors take uint8 images, the same bytes they read from image files.
    Shapes: (N,3,H,W) -> (N,3,H,W).
    """
    return (images.detach().float().clamp(0.0, 1.0) * 255.0).round().to(torch.uint8)


class InceptionFeatures(nn.Module):
    """torch-fidelity's ``inception-v3-compat`` Inception-V3 (2048-d pool features), for [0,1] images.

    Args:
        weights_path: a PyTorch state dict of torch-fidelity's Inception (their
            ``feature_extractor_weights_path``, e.g. ``weights-inception-2015-12-05-6726825d.pth``).
            ``None`` downloads torch-fidelity's weights into the torch hub cache.

    Shapes: images (N,3,H,W) float in [0,1] (any H, W; resized to 299 inside) -> features (N,2048) float32.
    The network never leaves eval mode and has no trainable parameters.
    """

    num_features = 2048

    def __init__(self, weights_path: str | os.PathLike | None = None) -> None:
        super().__init__()
        if weights_path is not None and not Path(weights_path).is_file():
            raise FileNotFoundError(
                f"weights_path {str(weights_path)!r} is not a file; pass the path of torch-fidelity's "
                "Inception weights (weights-inception-2015-12-05-6726825d.pth), or None to download them"
            )
        try:
            self.extractor = FeatureExtractorInceptionV3(
                "inception-v3-compat",
                ["2048"],
                feature_extractor_weights_path=None if weights_path is None else str(weights_path),
                verbose=False,
            )
        except (OSError, RuntimeError) as err:
            if weights_path is not None:
                raise
            raise RuntimeError(
                "could not download torch-fidelity's Inception weights "
                f"({type(err).__name__}: {err}); on a machine without internet pass weights_path= "
                "(torch-fidelity's feature_extractor_weights_path) pointing to a local copy of "
                "weights-inception-2015-12-05-6726825d.pth"
            ) from err
        weights_name = "downloaded" if weights_path is None else Path(weights_path).name
        # Names this extractor in FIDMetric's disk cache (see FIDMetric.cache_dir).
        self.cache_id = f"inception-v3-compat-2048-{weights_name}"

    def train(self, mode: bool = True) -> InceptionFeatures:
        """Stay in eval mode: batch-norm must use its stored statistics."""
        return super().train(False)

    def forward(self, images: Tensor) -> Tensor:
        check_image(images, "images")
        (features,) = self.extractor(images_to_uint8(images))
        return features


def real_set_fingerprint(
    files: Iterable[str | os.PathLike], image_size: int | tuple[int, int], extractor_id: str
) -> str:
    """SHA-256 fingerprint of a real image set for :class:`FIDMetric`'s disk cache.

    Hashes the sorted file names, the evaluation image size and the extractor's name, so a change in any of
    them gives a new cache entry. (File contents are not read: keep the files immutable.)
    """
    digest = hashlib.sha256()
    for name in sorted(str(f) for f in files):
        digest.update(name.encode())
        digest.update(b"\0")
    digest.update(f"|size={image_size}|extractor={extractor_id}".encode())
    return digest.hexdigest()


def _extractor_id(extractor: nn.Module) -> str:
    cls = type(extractor)
    return getattr(extractor, "cache_id", None) or f"{cls.__module__}.{cls.__qualname__}"


def _fill_extractor_weights(module: FIDMetric, state_dict: dict, prefix: str, *args) -> None:
    """Load pre-hook: checkpoints do not hold the extractor's weights; keep the current ones."""
    own = module.feature_extractor.state_dict(prefix=prefix + "feature_extractor.")
    for key, value in own.items():
        state_dict.setdefault(key, value)


class FIDMetric(Metric):
    """FID between real and generated images (and KID with ``kid=True``), with cached real statistics.

    ``update(images, real)`` extracts features of a batch of [0,1] images (N,3,H,W) and appends them to the
    real or the fake set. Once the real statistics are cached (after the first ``compute()``, or found in
    the disk cache) ``update(..., real=True)`` returns at once without running the extractor, and
    :attr:`needs_real_images` is False, so later epochs only feed generated images.

    ``compute()`` returns float64 CPU scalars: ``{"fid": ...}``, plus ``"kid"`` (mean over subsets) and
    ``"kid_std"`` with ``kid=True``. FID uses torch-fidelity's ``fid_features_to_statistics`` and
    ``fid_statistics_to_metric`` on float64 features; KID uses ``kid_features_to_metric`` (polynomial kernel,
    ``kid_subsets`` random subsets of ``kid_subset_size`` images drawn with ``kid_seed``; the subset size is
    reduced, with a warning, to the smaller set's size). ``reset()`` (called by Lightning after each epoch)
    clears the accumulated features but keeps the cached real statistics; :meth:`reset_real_cache` drops them.

    Args:
        feature_extractor: any module mapping [0,1] images (N,3,H,W) to features (N,D); default
            :class:`InceptionFeatures` (``weights_path``). It is kept in eval mode and left out of
            ``state_dict`` (checkpoints stay small). Give it a ``cache_id`` attribute to name it in the disk
            cache and a ``num_features`` attribute (D) to avoid a probe forward at construction.
        weights_path: Inception weights for the default extractor (see :class:`InceptionFeatures`).
        kid: also compute KID.
        kid_subsets, kid_subset_size, kid_seed: KID subsets (torch-fidelity's defaults 100, 1000, 2020).
        cache_dir: folder for the disk cache of real statistics (shared by all ranks); ``None``: memory only.
        real_fingerprint: names the real set in the disk cache (e.g. :func:`real_set_fingerprint` of the val
            file list, image size and extractor); may be set later through the attribute, before the first
            ``update``. The disk cache is used only when both ``cache_dir`` and ``real_fingerprint`` are set.
        num_real_images: size of the full real set. When given, the real statistics are cached only when
            exactly this many real images were gathered (not the partial set of Lightning's sanity-check
            batches, nor a set with the repeats of a padded DistributedSampler). ``None``: cache at the first
            ``compute()``.
        num_features: D, if the extractor has no ``num_features`` attribute (else a probe forward finds it).
        **kwargs: passed to :class:`torchmetrics.Metric`.
    """

    is_differentiable = False
    higher_is_better = False
    full_state_update = False

    def __init__(
        self,
        feature_extractor: nn.Module | None = None,
        *,
        weights_path: str | os.PathLike | None = None,
        kid: bool = False,
        kid_subsets: int = 100,
        kid_subset_size: int = 1000,
        kid_seed: int = 2020,
        cache_dir: str | os.PathLike | None = None,
        real_fingerprint: str | None = None,
        num_real_images: int | None = None,
        num_features: int | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if feature_extractor is None:
            feature_extractor = InceptionFeatures(weights_path)
        elif weights_path is not None:
            raise ValueError(
                "weights_path is only used by the default InceptionFeatures extractor, but a "
                "feature_extractor was given too; pass one of them"
            )
        if not isinstance(feature_extractor, nn.Module):
            raise TypeError(
                f"feature_extractor must be an nn.Module mapping images (N,3,H,W) to (N,D), "
                f"got {type(feature_extractor).__name__}"
            )
        if kid_subsets < 1 or kid_subset_size < 2:
            raise ValueError(
                f"kid_subsets must be >= 1 and kid_subset_size >= 2, got {kid_subsets} and {kid_subset_size}"
            )
        self.feature_extractor = feature_extractor.eval()
        self.feature_extractor.requires_grad_(False)
        num_features = num_features or getattr(feature_extractor, "num_features", None)
        self.num_features = int(num_features or self._probe_dim())
        self.kid = kid
        self.kid_subsets = kid_subsets
        self.kid_subset_size = kid_subset_size
        self.kid_seed = kid_seed
        self.cache_dir = None if cache_dir is None else Path(cache_dir)
        self.real_fingerprint = real_fingerprint
        self.num_real_images = num_real_images
        self.extractor_id = _extractor_id(feature_extractor)
        self._real_cache: dict[str, object] | None = None
        self._disk_checked_for: Path | None = None
        self.add_state("real_features", [], dist_reduce_fx="cat")
        self.add_state("fake_features", [], dist_reduce_fx="cat")
        self.register_load_state_dict_pre_hook(_fill_extractor_weights)

    def _probe_dim(self) -> int:
        try:
            with torch.no_grad():
                out = self.feature_extractor(torch.full((2, 3, 64, 64), 0.5))
        except Exception as err:  # any failure means: ask for D instead
            raise ValueError(
                "could not find the feature size D of feature_extractor by running it on a (2,3,64,64) batch "
                f"({type(err).__name__}: {err}); pass num_features=D or give the extractor a num_features "
                "attribute"
            ) from err
        return int(out.shape[-1])

    # --- state handling -------------------------------------------------------------------------------------

    def train(self, mode: bool = True) -> FIDMetric:
        """Follow ``mode`` for the metric itself; the feature extractor stays in eval mode."""
        super().train(mode)
        self.feature_extractor.eval()
        return self

    def state_dict(self, destination=None, prefix: str = "", keep_vars: bool = False):
        """The metric's state dict without the feature extractor's (fixed, pretrained) weights."""
        out = super().state_dict(destination=destination, prefix=prefix, keep_vars=keep_vars)
        skip = prefix + "feature_extractor."
        for key in [k for k in out if k.startswith(skip)]:
            del out[key]
        return out

    def sync(self, *args, **kwargs) -> None:
        # A rank that saw no image would send torchmetrics' 1-d empty placeholder, which cannot be gathered
        # with the (n, D) features of the other ranks; give it an empty (0, D) tensor instead.
        for name in ("real_features", "fake_features"):
            if isinstance(getattr(self, name), list) and not getattr(self, name):
                setattr(self, name, [torch.zeros(0, self.num_features, device=self.device)])
        return super().sync(*args, **kwargs)

    def _features(self, name: str) -> Tensor:
        state = getattr(self, name)
        if isinstance(state, list) and not state:
            return torch.zeros(0, self.num_features)
        return dim_zero_cat(state).reshape(-1, self.num_features).detach().cpu()

    # --- real-statistics cache ------------------------------------------------------------------------------

    @property
    def cache_path(self) -> Path | None:
        """File of the disk cache for the current fingerprint and extractor, or None if not configured."""
        if self.cache_dir is None or self.real_fingerprint is None:
            return None
        key = hashlib.sha256(f"{self.real_fingerprint}|{self.extractor_id}".encode()).hexdigest()[:24]
        return self.cache_dir / f"fid-real-{key}.pt"

    @property
    def needs_real_images(self) -> bool:
        """False once the real statistics are cached: ``update(..., real=True)`` would then do nothing."""
        self._load_disk_cache()
        return self._real_cache is None

    def reset_real_cache(self, from_disk: bool = True) -> None:
        """Forget the cached real statistics (the disk file stays); feed the real images again.

        ``from_disk=False`` also ignores the disk cache until the next ``compute()`` has rebuilt the
        statistics (what every rank does when some rank has no cached statistics: all ranks then feed the
        real images of the same epoch, so the gathered real set is complete)."""
        self._real_cache = None
        self._disk_checked_for = None if from_disk else self.cache_path

    def _load_disk_cache(self) -> None:
        path = self.cache_path
        if self._real_cache is not None or path is None or self._disk_checked_for == path:
            return
        self._disk_checked_for = path
        if not path.is_file():
            return
        try:
            data = torch.load(path, map_location="cpu", weights_only=True)
        except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as err:  # recompute, not fatal
            warnings.warn(f"ignoring unreadable FID cache {path} ({type(err).__name__}: {err})", stacklevel=2)
            return
        features = data.get("features") if isinstance(data, dict) else None
        if not isinstance(features, Tensor) or features.ndim != 2:
            warnings.warn(f"ignoring FID cache {path}: it holds no (N, D) features", stacklevel=2)
            return
        expected = (_CACHE_FORMAT, self.real_fingerprint, self.extractor_id, self.num_features)
        found = (data.get("format"), data.get("fingerprint"), data.get("extractor"), features.shape[-1])
        if found != expected:
            warnings.warn(
                f"ignoring FID cache {path}: it holds {found[1:]}, expected {expected[1:]}", stacklevel=2
            )
            return
        log.info("FID: using cached real statistics from %s (%d images)", path, features.shape[0])
        self._real_cache = self._make_cache(features)

    @staticmethod
    def _make_cache(real_features: Tensor) -> dict[str, object]:
        features = real_features.detach().cpu().to(torch.float32)
        return {"features": features, "stats": fid_features_to_statistics(features.to(torch.float64))}

    def _save_disk_cache(self) -> None:
        path = self.cache_path
        if path is None or self._real_cache is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "format": _CACHE_FORMAT,
            "fingerprint": self.real_fingerprint,
            "extractor": self.extractor_id,
            "features": self._real_cache["features"],
        }
        # Every rank writes the same bytes, each through its own temporary file: readers stay safe.
        with atomic_file(path) as tmp:
            torch.save(data, tmp)
        self._disk_checked_for = path

    # --- metric API -----------------------------------------------------------------------------------------

    def update(self, images: Tensor, real: bool) -> None:
        """Add a batch of [0,1] images (N,3,H,W) to the real (``real=True``) or generated set."""
        if not isinstance(real, bool):
            raise TypeError(
                f"real must be a bool (True for dataset images, False for generated ones), got {real!r}"
            )
        check_image(images, "images")
        if real and not self.needs_real_images:
            return
        with torch.no_grad(), torch.autocast(device_type=images.device.type, enabled=False):
            features = self.feature_extractor(images.float())
        if not isinstance(features, Tensor) or features.shape != (images.shape[0], self.num_features):
            shape = tuple(features.shape) if isinstance(features, Tensor) else type(features).__name__
            raise ValueError(
                f"feature_extractor must return features of shape (N, {self.num_features}) = "
                f"({images.shape[0]}, {self.num_features}), got {shape}"
            )
        target = self.real_features if real else self.fake_features
        target.append(features.detach().to(torch.float32))

    def compute(self) -> dict[str, Tensor]:
        """FID (and KID) of the generated set against the real set, as float64 scalars on the CPU."""
        self._load_disk_cache()
        real_stats_cached = self._real_cache is not None
        if real_stats_cached:
            real_cache = self._real_cache
        else:
            real = self._features("real_features")
            if real.shape[0] < 2:
                raise ValueError(
                    f"FIDMetric needs at least 2 real images, got {real.shape[0]}; call "
                    "update(images, real=True) with the validation images before compute()"
                )
            real_cache = self._make_cache(real)
            if self.num_real_images is not None and real.shape[0] > self.num_real_images:
                warnings.warn(
                    f"FID: {real.shape[0]} real images were gathered but the real set has {self.num_real_images}; "
                    "some were counted twice (a DistributedSampler pads each rank's share with repeats: "
                    "validate with an unpadded sampler); the real statistics are not cached",
                    stacklevel=2,
                )
            elif self.num_real_images is None or real.shape[0] == self.num_real_images:
                self._real_cache = real_cache
                self._save_disk_cache()
        fake = self._features("fake_features")
        if fake.shape[0] < 2:
            raise ValueError(
                f"FIDMetric needs at least 2 generated images, got {fake.shape[0]}; call "
                "update(images, real=False) with generated images before compute()"
            )
        fake_stats = fid_features_to_statistics(fake.to(torch.float64))
        fid = fid_statistics_to_metric(real_cache["stats"], fake_stats, verbose=False)[KEY_METRIC_FID]
        out = {"fid": torch.tensor(fid, dtype=torch.float64)}
        if self.kid:
            out.update(self._kid(real_cache["features"], fake))
        return out

    def _kid(self, real: Tensor, fake: Tensor) -> dict[str, Tensor]:
        subset_size = min(self.kid_subset_size, real.shape[0], fake.shape[0])
        if subset_size < self.kid_subset_size:
            warnings.warn(
                f"KID: kid_subset_size={self.kid_subset_size} is larger than the sets ({real.shape[0]} real, "
                f"{fake.shape[0]} generated images); using subsets of {subset_size}",
                stacklevel=3,
            )
        kid = kid_features_to_metric(
            real.to(torch.float64),
            fake.to(torch.float64),
            kid_subsets=self.kid_subsets,
            kid_subset_size=subset_size,
            rng_seed=self.kid_seed,
            verbose=False,
        )
        return {
            "kid": torch.tensor(kid[KEY_METRIC_KID_MEAN], dtype=torch.float64),
            "kid_std": torch.tensor(kid[KEY_METRIC_KID_STD], dtype=torch.float64),
        }
