"""Tests of inpaintlab.data: image reading, datasets, seeding, transforms and InpaintDataModule."""

from __future__ import annotations

import io
import pickle
import warnings
from dataclasses import replace
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from PIL import Image

from inpaintlab.data import (
    Augmentation,
    DeviceImageStore,
    EpochSeededSampler,
    TrainImageDataset,
    ValImageDataset,
    crop_resize_batch,
    drop_unreadable,
    fixed_val_mask,
    jitter_brightness_contrast,
    list_image_files,
    read_image,
    sample_augment_params,
    to_rgb,
)
from inpaintlab.data.image_io import pil_to_uint8
from inpaintlab.data.transforms import centre_crop_resize, random_crop_resize
from inpaintlab.masks import MASK_KINDS, BlockMasks, CenterMasks, MixedMasks
from inpaintlab.tasks.inpaint import InpaintDataModule

SIZE = 16


def _noise(rng, h, w, c=3):
    return (rng.random((h, w, c)) * 255).astype(np.uint8)


def _jpeg_bytes(array) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "JPEG")
    return buffer.getvalue()


def make_images(folder: Path, seed: int = 0) -> list[str]:
    """A mix of formats and sizes; returns the names of the files that are readable images."""
    rng = np.random.default_rng(seed)
    (folder / "sub").mkdir(parents=True, exist_ok=True)
    Image.fromarray(_noise(rng, 30, 40)).save(folder / "a.jpg")
    Image.fromarray(_noise(rng, 48, 32)).save(folder / "b.png")
    Image.fromarray(_noise(rng, 36, 36)[..., 0], mode="L").save(folder / "sub" / "c.PNG")
    Image.fromarray(_noise(rng, 40, 30, 4), mode="RGBA").save(folder / "d.png")
    Image.fromarray((rng.random((34, 34)) * 65535).astype(np.uint16)).save(folder / "e.png")  # I;16
    Image.fromarray(_noise(rng, 20, 26)).convert("P").save(folder / "f.gif")
    Image.fromarray(_noise(rng, 24, 24, 4), mode="CMYK").save(folder / "g.jpg")
    Image.fromarray(_noise(rng, 19, 23)).save(folder / "sub" / "h.bmp")
    return ["a.jpg", "b.png", "c.PNG", "d.png", "e.png", "f.gif", "g.jpg", "h.bmp"]


def make_bad_files(folder: Path) -> None:
    data = _jpeg_bytes(_noise(np.random.default_rng(1), 64, 64))
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 2])
    (folder / "notimage.jpg").write_bytes(b"this is not an image")
    (folder / "notes.txt").write_text("ignored: not an image extension")


@pytest.fixture
def folders(tmp_path) -> tuple[Path, Path]:
    train, val = tmp_path / "train", tmp_path / "val"
    make_images(train, seed=0)
    make_images(val, seed=1)
    return train, val


def datamodule(train: Path, val: Path, **overrides) -> InpaintDataModule:
    settings = {
        "train_dir": str(train),
        "val_dir": str(val),
        "image_size": SIZE,
        "batch_size": 3,
        "num_workers": 0,
        "masks": MixedMasks(),
    }
    settings.update(overrides)
    return InpaintDataModule(**settings)


def collect(loader, dm=None, epochs: int = 1) -> dict:
    """Concatenate all batches of ``epochs`` passes (through dm.on_after_batch_transfer when given)."""
    images, masks, kinds = [], [], []
    for _ in range(epochs):
        for batch in loader:
            if dm is not None:
                batch = dm.on_after_batch_transfer(batch, 0)
            images.append(batch["image"])
            masks.append(batch["mask"])
            kinds += batch["kind"]
    return {"image": torch.cat(images), "mask": torch.cat(masks), "kind": kinds}


def assert_batch_format(batch: dict, n: int) -> None:
    assert set(batch) == {"image", "mask", "kind"}
    assert batch["image"].shape == (n, 3, SIZE, SIZE) and batch["image"].dtype == torch.float32
    assert batch["mask"].shape == (n, 1, SIZE, SIZE) and batch["mask"].dtype == torch.float32
    assert 0.0 <= batch["image"].min() and batch["image"].max() <= 1.0
    assert set(batch["mask"].unique().tolist()) <= {0.0, 1.0}
    assert batch["mask"].sum() > 0
    assert len(batch["kind"]) == n and set(batch["kind"]) <= set(MASK_KINDS)


# --------------------------------------------------------------------------------- image reading
def test_list_image_files_recursive_sorted_by_extension(tmp_path):
    names = make_images(tmp_path)
    make_bad_files(tmp_path)
    files = list_image_files(tmp_path)
    relative = [f.relative_to(tmp_path).as_posix() for f in files]
    assert relative == sorted(relative)
    assert sorted(f.name for f in files) == sorted([*names, "truncated.jpg", "notimage.jpg"])
    assert "sub/c.PNG" in relative and "notes.txt" not in [f.name for f in files]
    assert list_image_files(tmp_path, limit=3) == files[:3]


def test_missing_or_empty_folder_errors_name_the_path(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match="nowhere.*does not exist"):
        list_image_files(missing)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("x")
    with pytest.raises(ValueError, match="empty.*contains no images"):
        list_image_files(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="nowhere"):
        datamodule(missing, missing).setup("fit")
    with pytest.raises(ValueError, match="empty"):
        datamodule(tmp_path / "empty", tmp_path / "empty").setup("fit")


def test_to_rgb_policies():
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[0, 0] = (255, 0, 0, 0)  # fully transparent red -> white
    rgba[0, 1] = (10, 20, 30, 255)  # opaque -> unchanged
    rgba[1, 0] = (0, 0, 0, 128)  # half transparent black -> mid gray
    out = np.asarray(to_rgb(Image.fromarray(rgba, "RGBA")))
    assert out[0, 0].tolist() == [255, 255, 255] and out[0, 1].tolist() == [10, 20, 30]
    assert abs(int(out[1, 0, 0]) - 127) <= 1
    sixteen = Image.fromarray(np.array([[0, 65535], [257 * 100, 257 * 7]], np.uint16))
    assert sixteen.mode == "I;16"
    assert np.asarray(to_rgb(sixteen))[..., 1].tolist() == [[0, 255], [100, 7]]
    wide = Image.fromarray(np.array([[0, 65535]], np.int32), mode="I")
    assert np.asarray(to_rgb(wide))[0, :, 0].tolist() == [0, 255]
    gray = to_rgb(Image.new("L", (3, 2), 77))
    assert gray.mode == "RGB" and np.asarray(gray).reshape(-1).tolist() == [77] * 18
    assert np.asarray(to_rgb(Image.new("CMYK", (1, 1), (0, 0, 0, 0)))).tolist() == [[[255, 255, 255]]]
    assert np.asarray(to_rgb(Image.new("F", (1, 1), 0.5)))[0, 0].tolist() == [128, 128, 128]


def test_read_image_every_format_gives_rgb_uint8(tmp_path):
    names = make_images(tmp_path)
    for path in list_image_files(tmp_path):
        image = read_image(path)
        assert image.mode == "RGB", path
        assert path.name in names
    assert read_image(tmp_path / "a.jpg").size == (40, 30)
    tensor = pil_to_uint8(read_image(tmp_path / "e.png"))
    assert tensor.dtype == torch.uint8 and tensor.shape == (3, 34, 34)
    assert torch.equal(tensor[0], tensor[2])  # 16-bit gray -> equal channels
    assert tensor.max() > 200  # scaled down from 16 bits, not clipped to 255 everywhere
    assert tensor.float().mean() < 200


def test_drop_unreadable_warns_once_naming_each_bad_file(tmp_path):
    names = make_images(tmp_path)
    make_bad_files(tmp_path)
    with pytest.warns(UserWarning) as record:
        good = drop_unreadable(list_image_files(tmp_path))
    assert sorted(f.name for f in good) == sorted(names)
    messages = [str(w.message) for w in record]
    assert len(messages) == 1
    assert messages[0].count("truncated.jpg") == 1 and messages[0].count("notimage.jpg") == 1


@pytest.mark.parametrize("gpu_cache", [False, True])
def test_datamodule_warns_once_about_bad_files_over_epochs(folders, gpu_cache):
    train, val = folders
    make_bad_files(train)
    dm = datamodule(train, val, gpu_cache=gpu_cache)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        dm.setup("fit")
        dm.setup("validate")
        assert_batch_format(collect(dm.train_dataloader(), dm, epochs=2), 2 * 6)
        collect(dm.val_dataloader(), dm, epochs=2)
    about_bad = [str(w.message) for w in record if "truncated.jpg" in str(w.message)]
    assert len(about_bad) == 1 and "notimage.jpg" in about_bad[0]
    assert len(dm.train_files) == 8 and len(dm.val_files) == 8


# --------------------------------------------------------------------------------- datamodule
def test_batches_have_the_documented_format(folders):
    dm = datamodule(*folders)
    dm.setup("fit")
    train_batches = list(dm.train_dataloader())
    assert len(train_batches) == 8 // 3  # drop_last
    for batch in train_batches:
        assert_batch_format(batch, 3)
    val_batches = list(dm.val_dataloader())
    assert [b["image"].shape[0] for b in val_batches] == [3, 3, 2]
    for batch in val_batches:
        assert_batch_format(batch, batch["image"].shape[0])


def test_constructor_errors_are_clear(folders, tmp_path):
    train, val = folders
    with pytest.raises(ValueError, match="no images given"):
        InpaintDataModule(masks=MixedMasks())
    with pytest.raises(ValueError, match="either image_dir .* or train_dir"):
        InpaintDataModule(image_dir=str(train), train_dir=str(train), masks=MixedMasks())
    with pytest.raises(ValueError, match="val_fraction must be in"):
        InpaintDataModule(image_dir=str(train), val_fraction=1.5, masks=MixedMasks())
    with pytest.raises(TypeError, match="masks must be an inpaintlab MaskSampler"):
        InpaintDataModule(train_dir=str(train), masks="blocks")
    with pytest.raises(ValueError, match="zoom must be a pair"):
        datamodule(train, val, zoom=(0.5, 1.0))
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        datamodule(train, val, batch_size=0)


def test_default_masks_are_plain_picklable_block_masks(folders):
    dm = InpaintDataModule(train_dir=str(folders[0]))
    assert type(dm.masks) is BlockMasks and dm.val_masks is dm.masks
    assert type(pickle.loads(pickle.dumps(dm.masks))) is BlockMasks


def test_val_masks_sampler_is_used_for_validation_only(folders):
    dm = datamodule(*folders, masks=BlockMasks(), val_masks=CenterMasks(), num_workers=0)
    dm.setup("fit")
    assert set(collect(dm.val_dataloader())["kind"]) == {"center"}
    assert set(collect(dm.train_dataloader())["kind"]) == {"blocks"}


def test_arguments_parse_like_lightning_cli(folders):
    jsonargparse = pytest.importorskip("jsonargparse")
    parser = jsonargparse.ArgumentParser(exit_on_error=False)
    parser.add_class_arguments(InpaintDataModule, "data")
    args = [
        f"--data.train_dir={folders[0]}",
        "--data.masks=inpaintlab.masks.CenterMasks",
        "--data.zoom=[1.0, 1.5]",
    ]
    dm = parser.instantiate(parser.parse_args(args)).data
    assert type(dm.masks) is CenterMasks and dm.augmentation == Augmentation(zoom=(1.0, 1.5))
    default = parser.parse_args([f"--data.train_dir={folders[0]}"])
    assert default.data.masks.class_path == "inpaintlab.masks.BlockMasks"


def test_seeded_split_is_reproducible_and_disjoint(tmp_path):
    make_images(tmp_path / "a", seed=0)
    make_images(tmp_path / "b", seed=1)
    make_images(tmp_path / "c", seed=2)

    def split(seed):
        dm = InpaintDataModule(image_dir=str(tmp_path), val_fraction=0.25, seed=seed, masks=MixedMasks())
        dm.setup("fit")
        return dm.train_files, dm.val_files

    train, val = split(0)
    assert split(0) == (train, val)
    assert len(val) == 6 and len(train) == 18
    assert not set(train) & set(val)
    assert sorted(train + val) == sorted(list_image_files(tmp_path))
    assert split(1)[1] != val


def test_limits_take_the_first_files(folders):
    dm = datamodule(*folders, limit_train=4, limit_val=2)
    dm.setup("fit")
    assert dm.train_files == list_image_files(folders[0])[:4]
    assert dm.val_files == list_image_files(folders[1])[:2]


def test_val_masks_fixed_across_instances_epochs_batch_sizes_and_workers(folders):
    reference_dm = datamodule(*folders, val_batch_size=3)
    reference_dm.setup("validate")
    reference = collect(reference_dm.val_dataloader())
    twice = collect(reference_dm.val_dataloader(), epochs=2)
    assert torch.equal(twice["mask"], torch.cat([reference["mask"]] * 2))
    assert len(set(map(tuple, reference["mask"].flatten(1).tolist()))) > 1  # masks differ between images
    for overrides in ({"val_batch_size": 5}, {"val_batch_size": 2, "num_workers": 2}, {"batch_size": 7}):
        dm = datamodule(*folders, **overrides)
        dm.setup("validate")
        other = collect(dm.val_dataloader())
        assert torch.equal(other["mask"], reference["mask"]), overrides
        assert torch.equal(other["image"], reference["image"]), overrides
        assert other["kind"] == reference["kind"], overrides
    # the mask of image i is the documented one
    mask3, kind3 = fixed_val_mask(MixedMasks(), 0, 3, SIZE)
    assert torch.equal(reference["mask"][3], mask3) and reference["kind"][3] == kind3


def test_training_batches_reproducible_with_seed_and_workers(folders):
    first = collect(datamodule(*folders, seed=5).train_dataloader(), epochs=2)
    again = collect(datamodule(*folders, seed=5, num_workers=2).train_dataloader(), epochs=2)
    other = collect(datamodule(*folders, seed=6).train_dataloader())
    for key in ("image", "mask"):
        assert torch.equal(first[key], again[key])
    assert first["kind"] == again["kind"]
    assert not torch.equal(first["image"][:6], other["image"])
    assert not torch.equal(first["image"][:6], first["image"][6:])  # a new order/crops every epoch


def test_augment_off_gives_deterministic_centre_crops(folders):
    train, val = folders
    plain = [datamodule(train, val, augment=False, seed=s, batch_size=8) for s in (0, 1)]
    batches = [next(iter(dm.train_dataloader())) for dm in plain]
    files = plain[0].train_files
    # same images whatever the seed; each is the validation transform of its file (order is shuffled)
    expected = {f.name: pil_to_uint8(centre_crop_resize(read_image(f), SIZE)).float() / 255 for f in files}
    for batch in batches:
        matched = {
            name for image in batch["image"] for name, ref in expected.items() if torch.equal(image, ref)
        }
        assert matched == set(expected)
    assert not torch.equal(batches[0]["mask"], batches[1]["mask"])  # masks stay random per seed


def test_datasets_pickle_for_spawned_workers(folders):
    dm = datamodule(*folders)
    dm.setup("fit")
    train_clone = pickle.loads(pickle.dumps(dm.train_dataset))
    val_clone = pickle.loads(pickle.dumps(dm.val_dataset))
    assert torch.equal(train_clone[(1, 42)]["image"], dm.train_dataset[(1, 42)]["image"])
    assert torch.equal(val_clone[1]["mask"], dm.val_dataset[1]["mask"])


def test_val_masks_fixed_under_ddp_sharding(folders):
    dm = datamodule(*folders, val_batch_size=2)
    dm.setup("validate")
    reference = collect(dm.val_dataloader())
    for rank in (0, 1):
        sampler = torch.utils.data.DistributedSampler(
            dm.val_dataset, num_replicas=2, rank=rank, shuffle=False
        )
        shard = collect(torch.utils.data.DataLoader(dm.val_dataset, batch_size=3, sampler=sampler))
        assert torch.equal(shard["mask"], reference["mask"][rank::2])
        assert shard["kind"] == reference["kind"][rank::2]


# --------------------------------------------------------------------------------- gpu_cache path
def test_gpu_cache_on_cpu_matches_cpu_path(folders):
    cached = datamodule(*folders, gpu_cache=True)
    cached.setup("fit")
    assert isinstance(cached.store, DeviceImageStore)
    cache = cached.store.train_images
    assert cache.dtype == torch.uint8 and cache.shape == (8, 3, 18, 18)  # ceil(16 * 1.125) = 18
    index_batch = next(iter(cached.train_dataloader()))
    assert set(index_batch) == {"index", "batch_seed", "split"}
    batch = cached.on_after_batch_transfer(index_batch, 0)
    assert_batch_format(batch, 3)
    assert set(index_batch) == {"index", "batch_seed", "split"}  # not edited in place
    again = datamodule(*folders, gpu_cache=True).train_dataloader()
    assert torch.equal(cached.on_after_batch_transfer(next(iter(again)), 0)["image"], batch["image"])

    plain = datamodule(*folders)
    plain.setup("validate")
    cpu = collect(plain.val_dataloader())
    gpu = collect(cached.val_dataloader(), dm=cached)
    assert torch.equal(gpu["image"], cpu["image"])
    assert torch.equal(gpu["mask"], cpu["mask"])
    assert gpu["kind"] == cpu["kind"]
    cpu_batch = next(iter(plain.val_dataloader()))
    assert plain.on_after_batch_transfer(cpu_batch, 0) is cpu_batch  # CPU batches pass through


@pytest.mark.gpu
def test_gpu_cache_builds_batches_on_cuda(folders):
    dm = datamodule(*folders, gpu_cache=True)
    dm.setup("fit")
    index_batch = next(iter(dm.train_dataloader()))
    on_device = {**index_batch, "index": index_batch["index"].cuda()}
    batch = dm.on_after_batch_transfer(on_device, 0)
    assert batch["image"].is_cuda and batch["mask"].is_cuda
    cpu_dm = datamodule(*folders, gpu_cache=True)
    cpu_dm.setup("fit")
    reference = cpu_dm.on_after_batch_transfer(index_batch, 0)
    torch.testing.assert_close(batch["image"].cpu(), reference["image"], atol=1e-5, rtol=0)


# --------------------------------------------------------------------------------- transforms
def test_crop_resize_batch_against_hand_computed_crops():
    images = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).reshape(2, 3, 8, 8) / (2 * 3 * 64)
    two = torch.full((2,), 2.0, dtype=torch.float64)
    params = sample_augment_params(2, None)
    corner = replace(
        params,
        zoom=two,
        offset_x=torch.tensor([0.0, 1.0]),
        offset_y=torch.tensor([0.0, 1.0]),
        flip=torch.tensor([False, True]),
    )
    out = crop_resize_batch(images, 4, corner)
    torch.testing.assert_close(out[0], images[0, :, :4, :4], atol=1e-6, rtol=0)
    torch.testing.assert_close(out[1], images[1, :, 4:, 4:].flip(-1), atol=1e-6, rtol=0)
    identity = crop_resize_batch((images * 255).round().to(torch.uint8), 8, params)
    torch.testing.assert_close(identity, (images * 255).round() / 255, atol=1e-6, rtol=0)


def test_pil_crop_matches_tensor_crop_for_exact_boxes():
    array = _noise(np.random.default_rng(3), 8, 8)
    params = sample_augment_params(1, None)
    params = replace(
        params, zoom=torch.tensor([2.0]), offset_x=torch.tensor([1.0]), offset_y=torch.tensor([0.0])
    )
    pil = pil_to_uint8(random_crop_resize(Image.fromarray(array), 4, params))
    assert torch.equal(pil, torch.from_numpy(array[:4, 4:]).permute(2, 0, 1))
    tensor = crop_resize_batch(torch.from_numpy(array).permute(2, 0, 1)[None], 4, params)[0]
    torch.testing.assert_close(tensor, pil.float() / 255, atol=1e-6, rtol=0)


def test_jitter_matches_torchvision():
    tvf = pytest.importorskip("torchvision.transforms.functional")
    images = torch.rand(2, 3, 5, 6, generator=torch.Generator().manual_seed(0))
    brightness, contrast = torch.tensor([0.8, 1.15]), torch.tensor([1.2, 0.9])
    out = jitter_brightness_contrast(images, brightness, contrast)
    for i in range(2):
        expected = tvf.adjust_contrast(
            tvf.adjust_brightness(images[i], 0.8 if i == 0 else 1.15), float(contrast[i])
        )
        torch.testing.assert_close(out[i], expected, atol=2e-3, rtol=0)
    assert torch.equal(jitter_brightness_contrast(images, torch.ones(2), torch.ones(2)), images)


def test_sample_augment_params_ranges_and_seed():
    augmentation = Augmentation(hflip=True, zoom=(1.0, 1.5), brightness=0.2, contrast=0.3)
    params = sample_augment_params(500, augmentation, torch.Generator().manual_seed(0))
    again = sample_augment_params(500, augmentation, torch.Generator().manual_seed(0))
    assert torch.equal(params.zoom, again.zoom) and torch.equal(params.flip, again.flip)
    assert 1.0 <= params.zoom.min() and params.zoom.max() <= 1.5
    assert 0.8 <= params.brightness.min() and params.brightness.max() <= 1.2
    assert 0.7 <= params.contrast.min() and params.contrast.max() <= 1.3
    assert 0.35 < params.flip.float().mean() < 0.65
    no_flip = sample_augment_params(50, Augmentation(hflip=False), torch.Generator().manual_seed(0))
    assert not no_flip.flip.any()
    centre = sample_augment_params(3, None)
    assert centre.zoom.tolist() == [1.0] * 3 and centre.offset_x.tolist() == [0.5] * 3


def test_epoch_seeded_sampler_permutes_per_epoch_and_set_epoch_replays():
    sampler = EpochSeededSampler(10, seed=3)
    epoch0, epoch1 = list(sampler), list(sampler)
    assert sorted(i for i, _ in epoch0) == list(range(10))
    assert epoch0 != epoch1
    sampler.set_epoch(0)
    assert list(sampler) == epoch0
    assert list(EpochSeededSampler(10, seed=3)) == epoch0


def test_val_dataset_and_train_dataset_items(folders):
    files = list_image_files(folders[0])
    val = ValImageDataset(files, SIZE, MixedMasks(), seed=0)
    item = val[2]
    assert item["image"].shape == (3, SIZE, SIZE) and item["mask"].shape == (1, SIZE, SIZE)
    assert torch.equal(val[2]["mask"], item["mask"])
    train = TrainImageDataset(files, SIZE, MixedMasks(), Augmentation(), seed=0)
    assert torch.equal(train[(2, 7)]["image"], train[(2, 7)]["image"])
    assert not torch.equal(train[(2, 7)]["image"], train[(2, 8)]["image"])
    with pytest.raises(TypeError, match="masks must be an inpaintlab MaskSampler"):
        ValImageDataset(files, SIZE, object())


# --------------------------------------------------------------------------------- real images
@pytest.mark.data
def test_reads_real_monet_validation_images(shared_data):
    folder = shared_data / "monet" / "val"
    dm = InpaintDataModule(
        train_dir=str(folder),
        val_dir=str(folder),
        image_size=SIZE,
        batch_size=2,
        num_workers=0,
        masks=MixedMasks(),
        limit_train=2,
        limit_val=3,
    )
    dm.setup("fit")
    assert len(dm.val_files) == 3
    batch = next(iter(dm.val_dataloader()))
    assert_batch_format(batch, 2)
    assert batch["image"].std() > 0.05  # real pictures, not blank


# --------------------------------------------------------------------------------- with a Trainer
class RecordingModule(L.LightningModule):
    """Keeps every batch it is given; one dummy weight so the optimizer has something to step."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.seen = {"train": [], "val": []}

    def training_step(self, batch, batch_idx):
        self.seen["train"].append(batch)
        return (self.weight * batch["image"].mean()).sum()

    def validation_step(self, batch, batch_idx):
        self.seen["val"].append(batch)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


@pytest.mark.parametrize("gpu_cache", [False, True])
def test_trainer_fit_gets_image_batches(folders, gpu_cache):
    module = RecordingModule()
    dm = datamodule(*folders, gpu_cache=gpu_cache)
    trainer = L.Trainer(
        accelerator="cpu",
        max_epochs=2,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        trainer.fit(module, datamodule=dm)
    assert len(module.seen["train"]) == 2 * (8 // 3) and len(module.seen["val"]) == 2 * 3
    for batch in module.seen["train"]:
        assert_batch_format(batch, 3)
    first_epoch, second_epoch = module.seen["val"][:3], module.seen["val"][3:]
    for a, b in zip(first_epoch, second_epoch):
        assert torch.equal(a["mask"], b["mask"]) and torch.equal(a["image"], b["image"])


def test_synthetic_pictures_need_no_folders_and_exclude_them():
    dm = InpaintDataModule(synthetic=6, image_size=16, batch_size=2, num_workers=0)
    dm.setup("fit")
    assert (len(dm.train_files), len(dm.val_files)) == (6, 2)
    batch = next(iter(dm.train_dataloader()))
    assert batch["image"].shape == (2, 3, 16, 16)
    with pytest.raises(ValueError, match="synthetic=6 .* or image folders"):
        InpaintDataModule(synthetic=6, train_dir="photos")
    with pytest.raises(ValueError, match="synthetic must be"):
        InpaintDataModule(synthetic=0)
