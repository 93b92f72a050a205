"""Registry parsing, verified download/cache (against a loopback HTTP server), weight files, export."""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import json
import os
import socket
import stat
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
import torch
import yaml

from inpaintlab.hub import (
    cache_path,
    CheckpointEntry,
    ChecksumError,
    DownloadError,
    OfflineError,
    RegistryError,
    cache_dir,
    cache_path,
    download_mirrors,
    download_url,
    entry_to_yaml,
    fetch,
    get_entry,
    hub_urls,
    list_models,
    load_registry,
    local_file,
    parse_entry,
    parse_registry,
    shipped_dir,
)
from inpaintlab.hub import cache as hub_cache
from inpaintlab.hub import download as hub_download


from inpaintlab.hub.download import download_url
from inpaintlab.hub.export import export_checkpoint
from inpaintlab.hub.weights import (
    ARCH_KEY,
    load_training_checkpoint,
    load_weights,
    read_arch,
    read_metadata,
    save_weights,
)
from inpaintlab.models import arch_of, build_model

REPO = Path(__file__).resolve().parents[1]
PAYLOAD = bytes(range(256)) * 64  # 16 KiB stand-in for a weights file
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()


def entry_dict(**overrides) -> dict:
    raw = {
        "description": "test checkpoint",
        "style": "monet",
        "mask": "blocks",
        "arch": "unet.tiny",
        "resolution": 32,
        "file": "tiny-test.safetensors",
        "sha256": PAYLOAD_SHA,
        "bytes": len(PAYLOAD),
        "urls": ["http://127.0.0.1:9/tiny-test.safetensors"],
        "license": "Apache-2.0",
        "recipe": {"config": "examples/configs/tiny.yaml", "data": "synthetic"},
        "metrics": {"val_psnr_hole": 21.5},
    }
    raw.update(overrides)
    return raw


def make_entry(**overrides) -> CheckpointEntry:
    return parse_entry("tiny-test", entry_dict(**overrides))



def test_registry_entries_carry_texture_settings():
    from inpaintlab.texture import TextureSettings

    entry = make_entry(texture={"sigma": 4.0, "strength": 0.8})
    assert entry.texture == TextureSettings(sigma=4.0, strength=0.8)
    assert entry.to_dict()["texture"] == dataclasses.asdict(entry.texture)
    assert parse_entry("tiny-test", entry.to_dict()).texture == entry.texture
    assert make_entry().texture is None
    with pytest.raises(RegistryError, match="field 'texture'"):
        make_entry(texture={"blur": 2})
    with pytest.raises(RegistryError, match="patch must be odd"):
        make_entry(texture={"patch": 4})

# ---------------------------------------------------------------- loopback HTTP server
class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        state = self.server.state
        with state["lock"]:
            state["hits"][self.path] += 1
            plan = state["routes"].get(self.path, [("status", 404)])
            step = plan.pop(0) if len(plan) > 1 else plan[0]
        kind = step[0]
        if kind == "status":
            self.send_response(step[1])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = step[1]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if kind == "cut":  # announce the full length, send half, hang up
            self.wfile.write(body[: len(body) // 2])
            return
        if kind == "slow":
            time.sleep(step[2])
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    """A loopback server: ``server.route(path, *steps)``; requests take the next step (the last repeats)."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.state = {"lock": threading.Lock(), "hits": Counter(), "routes": {}}
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"

    class Server:
        url = base
        hits = httpd.state["hits"]

        @staticmethod
        def route(path, *steps):
            httpd.state["routes"][path] = list(steps)
            return base + path

    yield Server
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def dead_url() -> str:
    """A loopback URL nobody listens on (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/gone.safetensors"


FAST = {"retries": 2, "backoff": 0.0, "timeout": 5.0, "progress": False}


# ---------------------------------------------------------------- registry
def test_shipped_registry_is_a_symlink_with_schema_comment_and_verified_files(monkeypatch):
    """Every shipped entry is real: its file lies in the package (inpaintlab/hub/files/, package data)
    with the listed size and sha256, at most 16 MiB, its recipe config exists, it lists no URL where
    nothing is published, and it loads offline and inpaints."""
    from inpaintlab import load
    from inpaintlab.hub import sha256_file

    link = REPO / "inpaintlab" / "checkpoints.yaml"
    assert link.is_symlink() and os.readlink(link) == "../checkpoints.yaml"
    text = (REPO / "checkpoints.yaml").read_text()
    assert "# checkpoints:" in text and "sha256:" in text  # the documented schema
    registry = load_registry()
    assert list(registry) == list(yaml.safe_load(text)["checkpoints"]) == list_models()
    monkeypatch.setenv("INPAINTLAB_OFFLINE", "1")
    image = torch.rand(1, 3, 48, 40, generator=torch.Generator().manual_seed(0))
    mask = torch.zeros(1, 1, 48, 40)
    mask[..., 10:22, 8:20] = 1
    for name, entry in registry.items():
        path = REPO / "inpaintlab" / "hub" / "files" / entry.file
        assert path.is_file(), f"{name}: {path} is not shipped"
        assert path.stat().st_size == entry.bytes <= 16 * 2**20, name
        assert entry.urls == (), f"{name}: lists a URL, but nothing is published anywhere yet"
        assert sha256_file(path) == entry.sha256, name
        assert (REPO / entry.recipe.config).is_file(), name
        if entry.task == "inpaint":
            out = load(name, device="cpu")(image, mask)
            assert out.shape == image.shape and torch.equal(out[mask.expand_as(out) == 0], image[mask.expand_as(image) == 0])
        elif entry.task == "stylize":
            out = load(name, device="cpu")(image)
            assert out.shape == image.shape and 0 <= out.min() and out.max() <= 1


def test_registry_env_var_points_to_another_file(tmp_path, monkeypatch):
    path = tmp_path / "reg.yaml"
    path.write_text(yaml.safe_dump({"checkpoints": {"tiny-test": entry_dict()}}))
    monkeypatch.setenv("INPAINTLAB_REGISTRY", str(path))
    assert list_models() == ["tiny-test"]
    entry = get_entry("tiny-test")
    assert entry.arch == "unet.tiny"
    assert entry.urls == ("http://127.0.0.1:9/tiny-test.safetensors",)
    assert entry.value_range == (0.0, 1.0) and entry.task == "inpaint"
    assert entry.recipe.data == "synthetic" and entry.metrics == {"val_psnr_hole": 21.5}
    monkeypatch.setenv("INPAINTLAB_REGISTRY", str(tmp_path / "missing.yaml"))
    with pytest.raises(RegistryError, match="missing.yaml.*does not exist.*INPAINTLAB_REGISTRY"):
        load_registry()


def test_entry_round_trips_through_yaml():
    for arch in ("unet.tiny", {"preset": "unet.tiny", "args": {"depth": 2}}):
        entry = make_entry(arch=arch)
        again = parse_registry({"checkpoints": yaml.safe_load(entry_to_yaml(entry))})["tiny-test"]
        assert again == entry and again.arch == arch


def test_registry_entries_written_before_presets_still_parse():
    entry = make_entry(arch={"class": "UNetGenerator", "init": {"base_channels": 4, "depth": 3, "max_channels": 8}})
    from inpaintlab.models import normalize_arch

    assert normalize_arch(entry.arch) == "unet.tiny"


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("sha256", "abc", "field 'sha256': expected 64 lowercase hex"),
        ("sha256", "A" * 64, "field 'sha256'"),
        ("mask", "stripes", "field 'mask': expected one of"),
        ("arch", {"class": "UNetGenerator"}, "field 'arch'"),
        ("arch", "UNet Generator", "field 'arch': expected an architecture preset name"),
        ("arch", {"preset": "unet.tiny", "init": {}}, "field 'arch'"),
        ("resolution", "256", "field 'resolution'"),
        ("bytes", -1, "field 'bytes'"),
        ("urls", {"a": "https://x/y"}, "field 'urls': expected a list of http"),
        ("urls", ["ftp://x/y"], "field 'urls': expected http"),
        ("file", "weights.pt", "field 'file'.*safetensors only"),
        ("file", "../x.safetensors", "field 'file'"),
        ("value_range", [0, 255], "field 'value_range'"),
        ("recipe", {"config": "x.yaml"}, "field 'recipe'"),
        ("recipe", {"config": "x.yaml", "data": "d", "gpu": "h100"}, "field 'recipe'"),
        ("recipe", {"config": "x.yaml", "data": "d", "epochs": 1.5}, "field 'recipe.epochs'"),
        ("metrics", {"psnr": "high"}, "field 'metrics.psnr'"),
        ("licence", "MIT", "field 'licence': expected one of the known fields"),
    ],
)
def test_malformed_entry_error_names_entry_and_field(field, value, match):
    with pytest.raises(RegistryError, match=f"entry 'tiny-test', {match}"):
        parse_registry({"checkpoints": {"tiny-test": entry_dict(**{field: value})}}, source="reg.yaml")


def test_recipe_records_epochs_wall_time_and_machine():
    recipe = {"config": "x.yaml", "data": "d", "epochs": 12, "wall_time": "22 min", "machine": "2 CPU cores"}
    entry = parse_registry({"checkpoints": {"tiny-test": entry_dict(recipe=recipe)}}, source="reg.yaml")["tiny-test"]
    assert (entry.recipe.epochs, entry.recipe.wall_time, entry.recipe.machine) == (12, "22 min", "2 CPU cores")
    assert entry.to_dict()["recipe"] == recipe
    plain = parse_registry({"checkpoints": {"tiny-test": entry_dict()}}, source="reg.yaml")["tiny-test"]
    assert set(plain.to_dict()["recipe"]) == {"config", "data"}


def test_missing_field_and_bad_name_and_bad_top_level():
    raw = entry_dict()
    del raw["license"]
    with pytest.raises(RegistryError, match="entry 'x', field 'license': expected this field"):
        parse_entry("x", raw)
    with pytest.raises(RegistryError, match="field 'name'"):
        parse_entry("Monet Blocks", entry_dict())
    with pytest.raises(RegistryError, match="top-level 'checkpoints:'"):
        parse_registry([1, 2])
    classifier = parse_entry("style-classifier", entry_dict(task="classify", mask=None))
    assert classifier.mask is None
    with pytest.raises(RegistryError, match="field 'mask': expected null"):
        parse_entry("style-classifier", entry_dict(task="classify"))


def test_unknown_name_is_a_key_error_listing_the_names():
    registry = {"a-b": make_entry(), "c-d": make_entry()}
    with pytest.raises(KeyError, match="no checkpoint named 'zzz'.*known names: a-b, c-d"):
        get_entry("zzz", registry)
    with pytest.raises(KeyError, match="none yet"):
        get_entry("zzz", {})


# ---------------------------------------------------------------- download
def test_download_from_server_verifies_and_leaves_no_temp_files(server, tmp_path):
    url = server.route("/w.safetensors", ("ok", PAYLOAD))
    dest = tmp_path / "w.safetensors"
    download_mirrors([url], dest, sha256=PAYLOAD_SHA, size=len(PAYLOAD), **FAST)
    assert dest.read_bytes() == PAYLOAD
    assert [p.name for p in tmp_path.iterdir()] == ["w.safetensors"]


def test_wrong_file_raises_naming_both_hashes_and_is_deleted(server, tmp_path):
    wrong = b"not the weights" * 100
    url = server.route("/w.safetensors", ("ok", wrong))
    dest = tmp_path / "w.safetensors"
    with pytest.raises(
        ChecksumError, match=rf"w\.safetensors.*{hashlib.sha256(wrong).hexdigest()}.*{PAYLOAD_SHA}.*deleted"
    ):
        download_mirrors([url], dest, sha256=PAYLOAD_SHA, size=None, **FAST)
    assert list(tmp_path.iterdir()) == []
    assert server.hits["/w.safetensors"] == 1  # a wrong file is not retried on the same URL


def test_short_file_is_a_checksum_error(server, tmp_path):
    url = server.route("/w.safetensors", ("ok", PAYLOAD[:100]))
    with pytest.raises(ChecksumError, match=f"100 bytes with sha256 .*expected {len(PAYLOAD)} bytes"):
        download_mirrors([url], tmp_path / "w.safetensors", sha256=PAYLOAD_SHA, size=len(PAYLOAD), **FAST)
    assert list(tmp_path.iterdir()) == []


def test_cut_off_transfer_is_retried_then_fails_cleanly(server, tmp_path):
    url = server.route("/w.safetensors", ("cut", PAYLOAD))
    with pytest.raises(DownloadError, match=r"w\.safetensors.*after 3 attempts"):
        download_mirrors([url], tmp_path / "w.safetensors", sha256=PAYLOAD_SHA, size=len(PAYLOAD), **FAST)
    assert server.hits["/w.safetensors"] == 3
    assert list(tmp_path.iterdir()) == []


def test_server_error_then_success_is_retried(server, tmp_path):
    url = server.route("/w.safetensors", ("status", 500), ("cut", PAYLOAD), ("ok", PAYLOAD))
    dest = download_mirrors([url], tmp_path / "w.safetensors", sha256=PAYLOAD_SHA, size=len(PAYLOAD), **FAST)
    assert dest.read_bytes() == PAYLOAD and server.hits["/w.safetensors"] == 3


def test_404_is_not_retried_and_dead_mirror_falls_through_to_good_one(server, tmp_path):
    missing = server.route("/missing.safetensors", ("status", 404))
    good = server.route("/w.safetensors", ("ok", PAYLOAD))
    dest = download_mirrors(
        [dead_url(), missing, good], tmp_path / "w.safetensors", sha256=PAYLOAD_SHA, size=len(PAYLOAD), **FAST
    )
    assert dest.read_bytes() == PAYLOAD
    assert server.hits["/missing.safetensors"] == 1 and server.hits["/w.safetensors"] == 1
    with pytest.raises(DownloadError, match=r"(?s)every mirror failed.*Connection refused.*HTTP 404"):
        download_mirrors([dead_url(), missing], tmp_path / "x.safetensors", **FAST)


def _no_retry(delay):
    raise AssertionError(f"retried after {delay}s: this failure is not transient")


def test_tls_failure_is_not_retried_and_says_so(server, tmp_path, monkeypatch):
    """https:// on a plain-HTTP server fails the TLS handshake: an SSL error, reported at once."""
    monkeypatch.setattr(hub_download.time, "sleep", _no_retry)
    url = server.url.replace("http://", "https://") + "/w.safetensors"
    with pytest.raises(DownloadError, match=r"TLS/SSL failure talking to 127\.0\.0\.1.*not retried.*CA certificates"):
        download_url(url, tmp_path / "w.safetensors", **{**FAST, "retries": 3, "backoff": 5.0})
    assert list(tmp_path.iterdir()) == []


def test_unknown_host_is_not_retried(tmp_path, monkeypatch):
    monkeypatch.setattr(hub_download.time, "sleep", _no_retry)
    with pytest.raises(DownloadError, match=r"host name 'inpaintlab-hub\.invalid' does not resolve"):
        download_url("http://inpaintlab-hub.invalid/w.safetensors", tmp_path / "w.safetensors", **FAST)


def test_downloaded_file_gets_the_umask_mode_not_0600(server, tmp_path):
    """A shared cache stays readable: the temporary file is created like any file (0666 & ~umask)."""
    url = server.route("/w.safetensors", ("ok", PAYLOAD))
    old = os.umask(0o022)
    try:
        dest = download_url(url, tmp_path / "w.safetensors", sha256=PAYLOAD_SHA, **FAST)
        saved = save_weights({"w": torch.zeros(2)}, tmp_path / "saved.safetensors", "unet.tiny")
    finally:
        os.umask(old)
    assert dest.stat().st_mode & 0o777 == 0o644 and saved.stat().st_mode & 0o777 == 0o644


def test_failed_download_is_one_file_not_found_error_naming_sources_and_fixes(server, monkeypatch):
    monkeypatch.setattr(hub_cache, "shipped_dir", lambda: Path("/nonexistent"))
    entry = make_entry(urls=[server.route("/gone.safetensors", ("status", 404)), dead_url()])
    with pytest.raises(FileNotFoundError) as caught:
        fetch(entry, **FAST)
    message = str(caught.value)
    assert isinstance(caught.value, DownloadError) and not isinstance(caught.value, RuntimeError)
    for part in ("'tiny-test'", "cache ", "package /nonexistent", "HTTP 404", "Connection refused",
                 "INPAINTLAB_HUB_URL", "inpaintlab download tiny-test", ".safetensors file"):  # fmt: skip
        assert part in message, part
    assert not cache_path(entry).exists()


def test_entry_published_nowhere_and_not_shipped_names_the_fixes(monkeypatch):
    monkeypatch.setattr(hub_cache, "shipped_dir", lambda: Path("/nonexistent"))
    monkeypatch.setattr(urllib.request, "urlopen", _no_network)
    entry = parse_entry("tiny-test", entry_dict(urls=[]))
    assert entry.urls == ()
    with pytest.raises(DownloadError, match=r"not shipped with this installation and has no download URL.*INPAINTLAB_HUB_URL"):
        fetch(entry)


# ---------------------------------------------------------------- cache and sources
def test_fetch_downloads_once_then_serves_the_verified_cache(server, monkeypatch):
    entry = make_entry(urls=[server.route("/tiny-test.safetensors", ("ok", PAYLOAD))])
    path = fetch(entry, **FAST)
    assert path == cache_dir() / PAYLOAD_SHA / entry.file and path.read_bytes() == PAYLOAD
    assert local_file(entry) == (path, "cache")
    assert fetch(entry, **FAST) == path
    assert server.hits["/tiny-test.safetensors"] == 1


def test_corrupt_cache_copy_is_removed_and_the_shipped_copy_used_in_the_same_call(tmp_path, monkeypatch):
    """A damaged cache copy does not fail the load while the package ships a verified one."""
    monkeypatch.setattr(hub_cache, "shipped_dir", lambda: tmp_path)
    entry = make_entry()
    (tmp_path / entry.file).write_bytes(PAYLOAD)
    cached = cache_path(entry)
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_bytes(PAYLOAD[:-1] + b"\x00")
    with pytest.warns(UserWarning, match=rf"cached copy .*{entry.file}.* sha256 [0-9a-f]{{64}}, expected.*removed"):
        assert fetch(entry, offline=True) == tmp_path / entry.file
    assert not cached.exists()


def test_corrupt_cache_copy_without_another_source_is_an_offline_error_saying_so(tmp_path, monkeypatch):
    monkeypatch.setattr(hub_cache, "shipped_dir", lambda: tmp_path)
    entry = make_entry()
    cached = cache_path(entry)
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_bytes(PAYLOAD[:100])
    with pytest.warns(UserWarning, match="removed"), pytest.raises(
        OfflineError, match=r"tiny-test.*not available offline.*truncated\) \(removed\).*package .*absent"
    ):
        fetch(entry, offline=True)
    assert not cached.exists()


def test_a_folder_at_the_cache_path_is_a_clear_error(server, monkeypatch):
    monkeypatch.setattr(hub_cache, "shipped_dir", lambda: Path("/nonexistent"))
    entry = make_entry(urls=[server.route("/tiny-test.safetensors", ("ok", PAYLOAD))])
    cached = cache_path(entry)
    cached.mkdir(parents=True)
    with pytest.raises(IsADirectoryError, match="is a folder, so the file cannot be written there: remove or rename"):
        fetch(entry, **FAST)
    with pytest.raises(OfflineError, match=r"cache .*tiny-test\.safetensors: a folder, not the file \(remove it\)"):
        fetch(entry, offline=True)
    assert cached.is_dir() and list(cached.iterdir()) == []
    cached.rmdir()  # the fix the messages name
    assert fetch(entry, **FAST).read_bytes() == PAYLOAD


def test_two_versions_of_one_file_name_share_the_cache(server):
    """Two registries (a newer version, two installs on one machine) with one file name: each version
    is cached by content, the first load of each works and neither deletes the other's file."""
    new = PAYLOAD[::-1]
    old_entry = make_entry(urls=[server.route("/v1/tiny-test.safetensors", ("ok", PAYLOAD))])
    new_entry = make_entry(
        sha256=hashlib.sha256(new).hexdigest(), urls=[server.route("/v2/tiny-test.safetensors", ("ok", new))]
    )
    for _ in range(2):  # alternate: old, new, old, new
        assert fetch(old_entry, **FAST).read_bytes() == PAYLOAD
        assert fetch(new_entry, **FAST).read_bytes() == new
    assert server.hits["/v1/tiny-test.safetensors"] == server.hits["/v2/tiny-test.safetensors"] == 1
    assert cache_path(old_entry) != cache_path(new_entry) and cache_path(old_entry).name == entry_dict()["file"]
    cache_path(new_entry).write_bytes(b"garbage")  # a damaged copy of one version ...
    with pytest.raises(OfflineError, match="truncated"):
        fetch(new_entry, offline=True)
    assert not cache_path(new_entry).exists() and cache_path(old_entry).read_bytes() == PAYLOAD  # ... leaves the other


def test_hub_url_env_is_tried_before_the_entry_mirrors(server, monkeypatch):
    server.route("/mirror/tiny-test.safetensors", ("ok", PAYLOAD))
    monkeypatch.setenv("INPAINTLAB_HUB_URL", server.url + "/mirror/")
    entry = make_entry(urls=[dead_url()])
    assert hub_urls(entry)[0] == server.url + "/mirror/tiny-test.safetensors"
    assert fetch(entry, **FAST).read_bytes() == PAYLOAD


def test_shipped_files_are_used_without_network_and_never_deleted(tmp_path, monkeypatch):
    monkeypatch.setattr(hub_cache, "shipped_dir", lambda: tmp_path)
    monkeypatch.setattr(urllib.request, "urlopen", _no_network)
    entry = make_entry()
    shipped = tmp_path / entry.file
    shipped.write_bytes(PAYLOAD)
    assert fetch(entry) == shipped and local_file(entry) == (shipped, "package")
    shipped.write_bytes(PAYLOAD[::-1])
    with pytest.warns(UserWarning, match="shipped file .* sha256 .*reinstall inpaintlab"), pytest.raises(
        OfflineError, match="reinstall inpaintlab"
    ):
        fetch(entry, offline=True)
    assert shipped.exists()  # part of the installation: reported, not deleted
    # a repository file of another size is another checkpoint under the same name (say, of a user's own
    # registry): it is skipped, not reported as corrupt, and the entry comes from the cache or network
    shipped.write_bytes(PAYLOAD + b"more")
    with pytest.raises(OfflineError, match="not available offline"):
        fetch(entry, offline=True)
    assert local_file(entry) is None and shipped.exists()


def test_shipped_files_live_inside_the_package():
    assert shipped_dir() == REPO / "inpaintlab" / "hub" / "files"
    assert {p.name for p in shipped_dir().glob("*.safetensors")} == {e.file for e in load_registry().values()}


def _no_network(*args, **kwargs):
    raise AssertionError("offline mode touched the network")


def test_offline_never_connects(monkeypatch):
    monkeypatch.setenv("INPAINTLAB_OFFLINE", "1")
    monkeypatch.setattr(urllib.request, "urlopen", _no_network)
    monkeypatch.setattr(socket.socket, "connect", _no_network)
    monkeypatch.setattr(hub_cache, "shipped_dir", lambda: Path("/nonexistent"))
    entry = make_entry()
    with pytest.raises(
        OfflineError, match=r"not available offline.*tiny-test\.safetensors.*Unset INPAINTLAB_OFFLINE"
    ):
        fetch(entry)
    cached = cache_path(entry)
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_bytes(PAYLOAD)
    assert fetch(entry) == cached


def test_concurrent_threads_download_once_and_leave_one_good_file(server):
    entry = make_entry(urls=[server.route("/tiny-test.safetensors", ("slow", PAYLOAD, 0.3))])
    results, errors = [], []

    def worker():
        try:
            results.append(fetch(entry, **FAST))
        except (OSError, ValueError, RuntimeError) as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors and len(set(results)) == 1
    assert results[0].read_bytes() == PAYLOAD
    assert server.hits["/tiny-test.safetensors"] == 1
    assert sorted(p.name for p in cache_path(entry).parent.iterdir() if not p.name.endswith(".lock")) == [
        entry.file
    ]


def test_concurrent_processes_leave_one_good_file(server, tmp_path):
    registry = tmp_path / "reg.yaml"
    url = server.route("/tiny-test.safetensors", ("slow", PAYLOAD, 0.5))
    registry.write_text(yaml.safe_dump({"checkpoints": {"tiny-test": entry_dict(urls=[url])}}))
    env = {**os.environ, "INPAINTLAB_REGISTRY": str(registry), "PYTHONPATH": str(REPO)}
    code = "from inpaintlab.hub import fetch, get_entry; print(fetch(get_entry('tiny-test'), progress=False))"
    procs = [
        subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    assert outputs[0] == outputs[1] == str(cache_dir() / PAYLOAD_SHA / "tiny-test.safetensors")
    assert Path(outputs[0]).read_bytes() == PAYLOAD
    assert server.hits["/tiny-test.safetensors"] == 1


def test_a_download_lock_held_too_long_is_a_clear_timeout(monkeypatch, server):
    """Another process holding the download lock past the timeout: a TimeoutError naming the lock file
    and what to do, no request sent, nothing left in the cache."""
    from filelock import FileLock

    held = []

    class Contended(FileLock):  # whatever lock file the cache uses, another holder has it already
        def __init__(self, lock_file, *args, **kwargs):
            other = FileLock(lock_file)
            other.acquire()
            held.append(other)
            super().__init__(lock_file, *args, **{**kwargs, "timeout": 0.2})

    monkeypatch.setattr(hub_cache, "FileLock", Contended)
    server.route("/tiny-test.safetensors", ("body", PAYLOAD))
    entry = make_entry(urls=[server.url + "/tiny-test.safetensors"])
    try:
        with pytest.raises(TimeoutError, match=r"lock .*delete the lock file"):
            fetch(entry, offline=False, progress=False)
    finally:
        for lock in held:
            lock.release()
    assert held and server.hits["/tiny-test.safetensors"] == 0
    assert not any(p.suffix == ".safetensors" for p in cache_dir().rglob("*"))


# ---------------------------------------------------------------- weight files
def _tiny_generator():
    from inpaintlab.models import create_generator

    return create_generator("unet.tiny")


def test_safetensors_carry_the_arch_and_round_trip(tmp_path):
    model = _tiny_generator()
    arch = arch_of(model)
    path = save_weights(model.state_dict(), tmp_path / "g.safetensors", arch, metadata={"style": "monet"})
    assert read_arch(path) == arch == "unet.tiny"  # a stable preset name, no class path
    assert read_metadata(path)["inpaintlab.style"] == "monet" and ARCH_KEY in read_metadata(path)
    header_len = int.from_bytes(path.read_bytes()[:8], "little")
    assert json.loads(path.read_bytes()[8 : 8 + header_len])["__metadata__"][
        ARCH_KEY
    ]  # plain JSON header, no pickle
    rebuilt = build_model(read_arch(path))
    rebuilt.load_state_dict(load_weights(path))
    for key, value in model.state_dict().items():
        assert torch.equal(rebuilt.state_dict()[key], value)


def test_non_safetensors_file_is_rejected(tmp_path):
    bad = tmp_path / "model.safetensors"
    torch.save({"w": torch.zeros(2)}, bad)
    with pytest.raises(ValueError, match="not a readable safetensors file"):
        read_metadata(bad)


def _write_training_ckpt(path: Path, model, ema_model=None, **info):
    state = {f"generator.{k}": v for k, v in model.state_dict().items()}
    if ema_model is not None:
        state.update({f"generator_ema.{k}": v for k, v in ema_model.state_dict().items()})
    state["discriminator.w"] = torch.zeros(3)
    ckpt = {
        "state_dict": state,
        "epoch": 3,
        "inpaintlab": {
            "generator_arch": {"class": type(model).__name__, "init": model.init_args},
            "image_size": 32,
            "mask_kind": "blocks",
            "style": "monet",
            **info,
        },
    }
    torch.save(ckpt, path)
    return path


def test_training_checkpoint_of_this_version_names_task_and_preset(tmp_path):
    from inpaintlab.hub.weights import read_training_checkpoint

    model = _tiny_generator()
    path = tmp_path / "new.ckpt"
    state = {f"photo_to_monet.{k}": v for k, v in build_model("resnet.tiny").state_dict().items()}
    torch.save({"state_dict": state, "inpaintlab": {"task": "stylize", "arch": "resnet.tiny", "image_size": 16}}, path)
    ckpt = read_training_checkpoint(path)
    assert (ckpt.task, ckpt.arch, ckpt.info["image_size"]) == ("stylize", "resnet.tiny", 16)
    assert ckpt.exported_weights()[1] == "raw" and ckpt.weights("generator.") == {}
    legacy = read_training_checkpoint(_write_training_ckpt(tmp_path / "old.ckpt", model))
    assert (legacy.task, legacy.arch) == ("inpaint", "unet.tiny")  # {"class", "init"} -> preset


def test_training_checkpoint_prefers_the_ema_generator(tmp_path):
    torch.manual_seed(0)
    raw, ema = _tiny_generator(), _tiny_generator()
    with torch.no_grad():
        for p in ema.parameters():
            p.add_(1.0)
    weights, info = load_training_checkpoint(_write_training_ckpt(tmp_path / "run.ckpt", raw, ema))
    assert info["weights"] == "ema" and info["style"] == "monet"
    assert all(torch.equal(weights[k], v) for k, v in ema.state_dict().items())
    assert "w" not in weights  # discriminator keys are dropped
    weights, info = load_training_checkpoint(_write_training_ckpt(tmp_path / "raw.ckpt", raw))
    assert info["weights"] == "raw" and all(torch.equal(weights[k], v) for k, v in raw.state_dict().items())


class _NotATensor:
    pass


def test_training_checkpoint_errors(tmp_path):
    pickled = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "obj": _NotATensor()}, pickled)
    with pytest.raises(ValueError, match=r"weights_only=True.*never unpickles"):
        load_training_checkpoint(pickled)
    plain = tmp_path / "plain.ckpt"
    torch.save({"state_dict": {"generator.w": torch.zeros(1)}}, plain)
    with pytest.raises(ValueError, match="records no task and architecture"):
        load_training_checkpoint(plain)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_training_checkpoint(tmp_path / "nope.ckpt")


def test_export_writes_weights_and_a_valid_registry_snippet(tmp_path):
    model = _tiny_generator()
    ckpt = _write_training_ckpt(tmp_path / "run.ckpt", model, metrics={"val_psnr_hole": 20.0})
    with pytest.warns(UserWarning, match="fill in license"):
        result = export_checkpoint(
            ckpt,
            tmp_path / "out",
            "monet-blocks",
            urls=["https://example.org/hub/monet-blocks.safetensors"],
            recipe_config="examples/configs/monet-blocks.yaml",
            recipe_data="monet/train",
        )
    assert result.weights == tmp_path / "out" / "monet-blocks.safetensors"
    assert result.sha256 == hashlib.sha256(result.weights.read_bytes()).hexdigest()
    assert result.bytes == result.weights.stat().st_size
    data = yaml.safe_load(result.snippet_path.read_text())
    entry = parse_entry("monet-blocks", {**data["monet-blocks"], "license": "Apache-2.0"})
    assert entry.sha256 == result.sha256 and entry.bytes == result.bytes
    assert entry.style == "monet" and entry.mask == "blocks" and entry.resolution == 32
    assert entry.arch == read_arch(result.weights) and entry.metrics == {"val_psnr_hole": 20.0}
    with pytest.raises(ValueError, match="not a registry name.*--name"):
        export_checkpoint(ckpt, tmp_path / "out", "epoch=3-step=9")


def test_export_never_overwrites_without_force(tmp_path):
    """An existing file (a published checkpoint among them) is kept; --force replaces it."""
    ckpt = _write_training_ckpt(tmp_path / "run.ckpt", _tiny_generator())
    published = tmp_path / "files" / "photo-blocks.safetensors"
    published.parent.mkdir()
    published.write_bytes(PAYLOAD)
    with pytest.raises(FileExistsError, match=r"would overwrite .*photo-blocks\.safetensors.*nothing was written.*--force"):
        export_checkpoint(ckpt, published.parent, "photo-blocks", license="MIT", urls=[], recipe_data="d")
    assert published.read_bytes() == PAYLOAD and not (published.parent / "photo-blocks.yaml").exists()
    with pytest.warns(UserWarning, match="fill in"):
        result = export_checkpoint(ckpt, published.parent, "photo-blocks", force=True)
    assert result.weights == published and read_arch(published) is not None


def test_export_defaults_to_the_run_folder_with_the_umask_mode(tmp_path):
    run = tmp_path / "runs" / "x" / "version_0"
    run.mkdir(parents=True)
    ckpt = _write_training_ckpt(run / "best.ckpt", _tiny_generator())
    old = os.umask(0o022)
    try:
        with pytest.warns(UserWarning, match="fill in"):
            result = export_checkpoint(ckpt, name="monet-blocks")
    finally:
        os.umask(old)
    assert result.weights == run / "monet-blocks.safetensors" and result.snippet_path == run / "monet-blocks.yaml"
    assert result.weights.stat().st_mode & 0o777 == 0o644
    assert sorted(p.name for p in run.iterdir()) == ["best.ckpt", "monet-blocks.safetensors", "monet-blocks.yaml"]


def test_exporting_the_same_checkpoint_twice_gives_the_same_sha256(tmp_path):
    """safetensors keeps metadata in a hash map of random order; export writes the header sorted."""
    ckpt = _write_training_ckpt(tmp_path / "run.ckpt", _tiny_generator(), metrics={"val_psnr_hole": 20.0})
    digests = set()
    for i in range(4):
        with pytest.warns(UserWarning, match="fill in"):
            result = export_checkpoint(ckpt, tmp_path / f"out{i}", "monet-blocks")
        digests.add(result.sha256)
        assert read_metadata(result.weights)["inpaintlab.name"] == "monet-blocks"
        assert set(load_weights(result.weights)) == set(_tiny_generator().state_dict())
    assert len(digests) == 1
    code = (
        "import sys; from inpaintlab.hub.export import export_checkpoint; import warnings; "
        "warnings.simplefilter('ignore'); print(export_checkpoint(sys.argv[1], sys.argv[2], 'monet-blocks').sha256)"
    )
    other = subprocess.run(
        [sys.executable, "-c", code, str(ckpt), str(tmp_path / "subprocess")],
        capture_output=True, text=True, check=True, env={**os.environ, "PYTHONPATH": str(REPO)},
    ).stdout.strip()  # fmt: skip
    assert digests == {other}
