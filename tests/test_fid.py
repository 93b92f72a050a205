"""FID/KID through torch-fidelity: numbers against independent references, caching, DDP-style merging.

Nothing is downloaded: the Inception test builds torch-fidelity's architecture with random weights, saves
them, and loads them back through the normal ``weights_path`` (torch-fidelity's
``feature_extractor_weights_path``). The other tests inject a tiny feature extractor.
"""

from __future__ import annotations

import os
import urllib.error

import numpy as np
import pytest
import scipy.linalg
import torch
import torch_fidelity.feature_extractor_inceptionv3 as tf_inception
from torch import nn

from inpaintlab.metrics.fid import FIDMetric, InceptionFeatures, images_to_uint8, real_set_fingerprint


class TinyFeatures(nn.Module):
    """Average-pool to 4x4 and project to 8 features with fixed random weights; counts its calls."""

    num_features = 8
    cache_id = "tiny-test-features"

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(123)
        self.proj = nn.Linear(48, self.num_features)
        with torch.no_grad():
            self.proj.weight.copy_(torch.randn(self.num_features, 48, generator=g))
            self.proj.bias.zero_()
        self.calls = 0
        self.images_seen = 0

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        self.images_seen += images.shape[0]
        return self.proj(nn.functional.adaptive_avg_pool2d(images, 4).flatten(1))


def _images(n: int = 48, seed: int = 0, size: int = 16) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, size, size, generator=g)


def _noisy(images: torch.Tensor, level: float, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (images + level * torch.randn(images.shape, generator=g)).clamp(0, 1)


def _features(extractor: nn.Module, images: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return extractor(images).double().numpy()


def _fid_scipy(f1: np.ndarray, f2: np.ndarray) -> float:
    """Frechet distance with scipy.linalg.sqrtm (the classic pytorch-fid / TTUR formula)."""
    mu1, mu2 = f1.mean(0), f2.mean(0)
    s1, s2 = np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def _fid_low_rank(f1: np.ndarray, f2: np.ndarray) -> float:
    """Frechet distance for n << D: tr sqrt(S1 S2) is the nuclear norm of A1 A2^T / sqrt((n1-1)(n2-1))."""
    a1, a2 = f1 - f1.mean(0), f2 - f2.mean(0)
    tr_covmean = np.linalg.svd(a1 @ a2.T, compute_uv=False).sum() / np.sqrt((len(f1) - 1) * (len(f2) - 1))
    tr1, tr2 = (a1**2).sum() / (len(f1) - 1), (a2**2).sum() / (len(f2) - 1)
    return float(((f1.mean(0) - f2.mean(0)) ** 2).sum() + tr1 + tr2 - 2 * tr_covmean)


def _kid_reference(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 with the cubic polynomial kernel k(a, b) = (a.b / d + 1)^3, over all samples."""
    d, m = x.shape[1], x.shape[0]

    def k(a, b):
        return (a @ b.T / d + 1.0) ** 3

    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    off_diag = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
    return float(off_diag - 2 * kxy.sum() / (m * m))


def _metric(**kwargs) -> tuple[FIDMetric, TinyFeatures]:
    extractor = TinyFeatures()
    return FIDMetric(extractor, **kwargs), extractor


# --- numbers --------------------------------------------------------------------------------------------


def test_fid_of_a_set_with_itself_is_zero():
    metric, extractor = _metric()
    real = _images()
    metric.update(real, real=True)
    metric.update(real, real=False)
    fid = metric.compute()["fid"]
    assert fid.dtype == torch.float64
    trace = np.trace(np.cov(_features(extractor, real), rowvar=False))
    assert abs(fid.item()) < 1e-3 * trace


def test_fid_grows_with_noise_and_matches_scipy_sqrtm():
    real = _images()
    metric, extractor = _metric()
    values = []
    for level in (0.05, 0.15, 0.4):
        fake = _noisy(real, level)
        metric.reset()
        metric.update(real, real=True)  # ignored after the first compute: real stats are cached
        metric.update(fake, real=False)
        fid = metric.compute()["fid"].item()
        ref = _fid_scipy(_features(extractor, real), _features(extractor, fake))
        assert fid == pytest.approx(ref, rel=1e-6, abs=1e-9)
        values.append(fid)
    assert 0 < values[0] < values[1] < values[2]


def test_kid_matches_hand_written_unbiased_mmd():
    real, fake = _images(20), _noisy(_images(20), 0.3)
    metric, extractor = _metric(kid=True, kid_subsets=1, kid_subset_size=20)
    metric.update(real, real=True)
    metric.update(fake, real=False)
    out = metric.compute()
    # one subset of all 20 images: a permutation, which leaves the unbiased estimator unchanged
    ref = _kid_reference(_features(extractor, real), _features(extractor, fake))
    assert out["kid"].item() == pytest.approx(ref, rel=1e-9)
    assert out["kid_std"].item() == 0.0
    metric.reset()
    metric.update(real * 0.5, real=False)  # a clearly different distribution
    shifted = metric.compute()["kid"].item()
    ref_shifted = _kid_reference(_features(extractor, real), _features(extractor, real * 0.5))
    assert shifted == pytest.approx(ref_shifted)
    assert shifted > abs(out["kid"].item())


def test_kid_subsets_are_reproducible_and_shrink_with_a_warning():
    real, fake = _images(12), _noisy(_images(12), 0.3)
    results = []
    for _ in range(2):
        metric, _ = _metric(kid=True, kid_subsets=5, kid_subset_size=50, kid_seed=7)
        metric.update(real, real=True)
        metric.update(fake, real=False)
        with pytest.warns(UserWarning, match="using subsets of 12"):
            results.append(metric.compute())
    assert results[0]["kid"].item() == results[1]["kid"].item()
    # every subset of size 12 is the whole set, permuted: the same value up to rounding
    assert results[0]["kid_std"].item() < 1e-9 * abs(results[0]["kid"].item())


# --- caching of the real statistics ---------------------------------------------------------------------


def test_real_statistics_are_cached_in_memory():
    real, fake = _images(), _noisy(_images(), 0.2)
    metric, extractor = _metric()
    metric.update(real, real=True)
    metric.update(fake, real=False)
    first = metric.compute()["fid"].item()
    assert extractor.images_seen == 96 and not metric.needs_real_images
    metric.reset()  # end of epoch: features are cleared, real statistics stay
    metric.update(real, real=True)
    assert extractor.images_seen == 96  # the extractor was not called for the real images
    metric.update(fake, real=False)
    assert metric.compute()["fid"].item() == first
    assert extractor.images_seen == 144
    metric.reset_real_cache()
    assert metric.needs_real_images


def test_real_statistics_are_cached_on_disk_by_fingerprint(tmp_path):
    real, fake = _images(), _noisy(_images(), 0.2)
    fingerprint = real_set_fingerprint(["b.png", "a.png"], 16, TinyFeatures.cache_id)
    assert fingerprint == real_set_fingerprint(["a.png", "b.png"], 16, TinyFeatures.cache_id)
    assert fingerprint != real_set_fingerprint(["a.png", "b.png"], 32, TinyFeatures.cache_id)
    metric, _ = _metric(cache_dir=tmp_path, real_fingerprint=fingerprint)
    metric.update(real, real=True)
    metric.update(fake, real=False)
    first = metric.compute()["fid"].item()
    assert metric.cache_path.is_file()

    again, extractor = _metric(cache_dir=tmp_path, real_fingerprint=fingerprint)  # e.g. a resumed run
    assert not again.needs_real_images
    again.update(real, real=True)
    again.update(fake, real=False)
    assert extractor.images_seen == fake.shape[0]  # only the generated images went through the extractor
    assert again.compute()["fid"].item() == pytest.approx(first, rel=1e-12)

    other, _ = _metric(cache_dir=tmp_path, real_fingerprint=fingerprint + "-other-set")
    assert other.needs_real_images

    metric.cache_path.write_bytes(b"not a torch file")  # a broken cache is ignored, then rewritten
    broken, _ = _metric(cache_dir=tmp_path, real_fingerprint=fingerprint)
    with pytest.warns(UserWarning, match="ignoring unreadable FID cache"):
        assert broken.needs_real_images
    broken.update(real, real=True)
    broken.update(fake, real=False)
    assert broken.compute()["fid"].item() == pytest.approx(first, rel=1e-12)
    assert not _metric(cache_dir=tmp_path, real_fingerprint=fingerprint)[0].needs_real_images


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_the_disk_cache_gets_the_umask_mode_and_leaves_no_temporary_file(tmp_path):
    metric, _ = _metric(cache_dir=tmp_path, real_fingerprint="set")
    metric.update(_images(8), real=True)
    metric.update(_images(8, seed=1), real=False)
    old = os.umask(0o027)
    try:
        metric.compute()
    finally:
        os.umask(old)
    assert [p.name for p in tmp_path.iterdir()] == [metric.cache_path.name]
    assert metric.cache_path.stat().st_mode & 0o777 == 0o640


def test_partial_real_set_is_not_cached():
    real = _images(8)
    metric, _ = _metric(num_real_images=48)  # e.g. Lightning's sanity check saw 8 of 48 images
    metric.update(real, real=True)
    metric.update(real, real=False)
    metric.compute()
    assert metric.needs_real_images


# --- DDP ------------------------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:The ``compute`` method of metric FIDMetric was called before")
def test_ddp_style_merge_of_two_ranks_equals_one_process():
    real, fake = _images(), _noisy(_images(), 0.2)
    whole, _ = _metric()
    whole.update(real, real=True)
    whole.update(fake, real=False)
    rank0, _ = _metric()
    rank1, _ = _metric()
    rank0.update(real[:24], real=True)
    rank0.update(fake[:24], real=False)
    rank1.update(real[24:], real=True)
    rank1.update(fake[24:], real=False)
    merged, _ = _metric()
    # what dist_reduce_fx="cat" does across ranks: concatenate the ranks' feature lists
    merged.merge_state(
        {
            "real_features": rank0.real_features + rank1.real_features,
            "fake_features": rank0.fake_features + rank1.fake_features,
        }
    )
    assert merged.compute()["fid"].item() == pytest.approx(whole.compute()["fid"].item(), rel=1e-9)


def test_sync_sends_two_dimensional_features_even_from_a_rank_without_images():
    metric, _ = _metric()
    metric.update(_images(4), real=False)  # this rank got no real image
    sent = []

    def fake_all_gather(tensor, group=None):  # a world of two identical ranks
        sent.append(tuple(tensor.shape))
        return [tensor, tensor.clone()]

    metric.sync(dist_sync_fn=fake_all_gather, distributed_available=lambda: True)
    assert sorted(sent) == [(0, 8), (4, 8)]
    assert metric.fake_features.shape == (8, 8) and metric.real_features.shape == (0, 8)
    metric.unsync()
    assert len(metric.fake_features) == 1 and metric.fake_features[0].shape == (4, 8)


# --- module behaviour and errors ------------------------------------------------------------------------


def test_extractor_stays_in_eval_mode_and_out_of_the_state_dict():
    metric, extractor = _metric()
    holder = nn.ModuleDict({"fid": metric})
    holder.train()
    assert metric.training and not extractor.training
    assert not any(k.startswith("fid.feature_extractor") for k in holder.state_dict())
    fresh = nn.ModuleDict({"fid": _metric()[0]})
    result = fresh.load_state_dict(holder.state_dict(), strict=True)  # no missing extractor keys
    assert not result.missing_keys and not result.unexpected_keys


def test_errors_say_what_to_do():
    metric, _ = _metric()
    with pytest.raises(TypeError, match="real must be a bool"):
        metric.update(_images(2), real=1)
    with pytest.raises(ValueError, match="images must have shape"):
        metric.update(_images(2)[0], real=True)
    with pytest.raises(ValueError, match="at least 2 real images"):
        metric.compute()
    metric.update(_images(4), real=True)
    with pytest.raises(ValueError, match="at least 2 generated images"):
        metric.compute()
    bad = FIDMetric(nn.Flatten(), num_features=7)
    with pytest.raises(ValueError, match="must return features of shape \\(N, 7\\)"):
        bad.update(_images(2), real=True)
    with pytest.raises(ValueError, match="pass one of them"):
        FIDMetric(TinyFeatures(), weights_path="x.pth")
    with pytest.raises(FileNotFoundError, match="weights_path .* is not a file"):
        InceptionFeatures("/nonexistent/inception.pth")


def test_failed_download_asks_for_weights_path(monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(tf_inception, "load_state_dict_from_url", offline)
    with pytest.raises(RuntimeError, match="pass weights_path="):
        InceptionFeatures()


def test_images_to_uint8_rounds_and_clamps():
    x = torch.tensor([-0.5, 0.0, 0.6 / 255, 0.4 / 255, 1.0, 2.0]).view(1, 1, 1, 6).expand(1, 3, 1, 6)
    assert images_to_uint8(x)[0, 0, 0].tolist() == [0, 0, 1, 0, 255, 255]


# --- torch-fidelity's Inception, random weights made by the test ----------------------------------------


@pytest.fixture(scope="module")
def inception_weights(tmp_path_factory):
    """torch-fidelity's Inception-V3 with random (variance-preserving) weights, saved as a state dict.

    Returns the file and the state dict that was saved.
    """
    with pytest.MonkeyPatch.context() as mp:  # build the architecture without torch-fidelity's download
        mp.setattr(tf_inception, "load_state_dict_from_url", lambda *a, **k: {})
        mp.setattr(tf_inception.FeatureExtractorInceptionV3, "load_state_dict", lambda *a, **k: None)
        model = tf_inception.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu", generator=g)
    path = tmp_path_factory.mktemp("inception") / "inception-random.pth"
    state = model.state_dict()
    torch.save(state, path)
    return path, state


@pytest.fixture(scope="module")
def inception_metric(inception_weights):
    """FIDMetric on the default InceptionFeatures (loaded from the file), fed one real image.

    Inception runs at 299 px whatever the input size (~1-2 s per image on 2 CPU cores), so the fast test
    uses one image; records what torch-fidelity's extractor received and returned.
    """
    path, _ = inception_weights
    metric = FIDMetric(weights_path=path)
    extractor = metric.feature_extractor.extractor
    calls = []

    def recording_forward(x, _forward=extractor.forward):
        out = _forward(x)
        calls.append((x.clone(), out[0].clone()))
        return out

    extractor.forward = recording_forward
    real = _images(3, seed=5, size=32)
    metric.update(real[:1], real=True)
    return metric, real, calls


def test_inception_features_through_weights_path(inception_weights, inception_metric):
    _, saved = inception_weights
    metric, real, calls = inception_metric
    features = metric.feature_extractor
    assert metric.num_features == 2048 and isinstance(features, InceptionFeatures)
    assert metric.extractor_id == "inception-v3-compat-2048-inception-random.pth"
    assert not features.training
    # the weights came from the file, through torch-fidelity's feature_extractor_weights_path
    loaded = features.extractor.state_dict()
    assert saved.keys() == loaded.keys() and all(torch.equal(saved[k], loaded[k]) for k in saved)
    # torch-fidelity's extractor received the rounded uint8 image, and its 2048-d output was stored
    received, returned = calls[0]
    assert received.dtype == torch.uint8 and torch.equal(received, images_to_uint8(real[:1]))
    real_feats = metric.real_features[0]
    assert real_feats.shape == (1, 2048) and torch.isfinite(real_feats).all() and real_feats.std() > 0
    torch.testing.assert_close(real_feats, returned)


@pytest.mark.slow  # 3 more Inception forwards, and torch-fidelity's FID eigendecomposes a 2048x2048 matrix
def test_inception_fid_matches_low_rank_reference(inception_metric):
    metric, real, _ = inception_metric
    metric.update(real[1:], real=True)
    metric.update(_noisy(real[1:], 0.3), real=False)
    real_feats, fake_feats = torch.cat(metric.real_features), torch.cat(metric.fake_features)
    fid = metric.compute()["fid"].item()
    ref = _fid_low_rank(real_feats.double().numpy(), fake_feats.double().numpy())
    assert fid == pytest.approx(ref, rel=1e-4)
    assert fid > 0


@pytest.mark.gpu
def test_fid_on_cuda_matches_cpu():
    real, fake = _images(), _noisy(_images(), 0.2)
    results = []
    for device in ("cpu", "cuda"):
        metric, _ = _metric()
        metric = metric.to(device)
        metric.update(real.to(device), real=True)
        metric.update(fake.to(device), real=False)
        results.append(metric.compute()["fid"].item())
    assert results[1] == pytest.approx(results[0], rel=1e-4)
