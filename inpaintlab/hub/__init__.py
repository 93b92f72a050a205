"""The checkpoint hub: registry, verified download cache, safetensors weight files, export.

    >>> from inpaintlab.hub import list_models, get_entry, fetch
    >>> path = fetch(get_entry("monet-blocks"))   # cache -> package files -> mirrors, sha256-checked

Modules: ``registry`` (checkpoints.yaml -> CheckpointEntry), ``download`` (HTTP with retries and
mirrors), ``cache`` (where files live, locking, offline mode), ``weights`` (safetensors with the
architecture preset in the metadata; the one reader of training checkpoints), ``export`` (training
checkpoint -> hub file). Models are built by ``inpaintlab.models.build_model``.
The torch-dependent names (``weights``, ``export``) are imported on first use, so the download
machinery stays importable without loading torch.
"""

from __future__ import annotations

from inpaintlab._lazy import lazy_names
from inpaintlab.hub.cache import (
    CACHE_ENV,
    HUB_URL_ENV,
    OFFLINE_ENV,
    OfflineError,
    cache_dir,
    cache_path,
    fetch,
    file_problem,
    hub_urls,
    is_offline,
    local_file,
    shipped_dir,
    verify_file,
)
from inpaintlab.hub.download import ChecksumError, DownloadError, download_mirrors, download_url, sha256_file
from inpaintlab.hub.registry import (
    REGISTRY_ENV,
    CheckpointEntry,
    Recipe,
    RegistryError,
    default_registry_path,
    entry_to_yaml,
    get_entry,
    list_models,
    load_registry,
    parse_entry,
    parse_registry,
)

# name -> submodule, imported on first use (these import torch)
_LAZY = {
    "save_weights": "inpaintlab.hub.weights",
    "load_weights": "inpaintlab.hub.weights",
    "read_arch": "inpaintlab.hub.weights",
    "read_metadata": "inpaintlab.hub.weights",
    "load_training_checkpoint": "inpaintlab.hub.weights",
    "read_training_checkpoint": "inpaintlab.hub.weights",
    "export_checkpoint": "inpaintlab.hub.export",
    "ExportResult": "inpaintlab.hub.export",
}

__all__ = [
    "CACHE_ENV",
    "HUB_URL_ENV",
    "OFFLINE_ENV",
    "REGISTRY_ENV",
    "CheckpointEntry",
    "ChecksumError",
    "DownloadError",
    "ExportResult",
    "OfflineError",
    "Recipe",
    "RegistryError",
    "cache_dir",
    "cache_path",
    "default_registry_path",
    "download_mirrors",
    "download_url",
    "entry_to_yaml",
    "export_checkpoint",
    "fetch",
    "file_problem",
    "get_entry",
    "hub_urls",
    "is_offline",
    "list_models",
    "load_registry",
    "load_training_checkpoint",
    "load_weights",
    "local_file",
    "parse_entry",
    "parse_registry",
    "read_arch",
    "read_metadata",
    "read_training_checkpoint",
    "save_weights",
    "sha256_file",
    "shipped_dir",
    "verify_file",
]


__getattr__ = lazy_names(__name__, _LAZY)
