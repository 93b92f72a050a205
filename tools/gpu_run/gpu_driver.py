"""One GPU run from start to finish, inside a wall-clock budget, with partial results in $OUT at every step.

    bash tools/gpu_run/gpu_run.sh                      # on the GPU machine (installs the carried wheels first)
    OUT=/tmp/fake-out nice -n 19 .venv/bin/python tools/gpu_run/gpu_driver.py --tiny --allow-fallback \
        --pack /tmp/gpu-tiny/data.zip              # the CPU dry run: same phases, tiny models, 32 px

Steps (``tools/gpu_run/gpu_plan.yaml`` says which recipes, weights and times): unpack the data pack
(``gpu_pack.py``) and check the imports; measure training throughput (``train_throughput.py``, alone on
the GPU); train the plan's phases with ``inpaintlab fit -c <derived recipe>`` in lanes that run side by
side (each fit gets ``max_time`` and ``max_epochs`` from its share and the measured rate, FID off unless
Inception weights are found, data folders pointed at the pack, checkpoints kept by val metrics); export
each result with ``inpaintlab export`` and convert it to fp16; pick the CycleGAN snapshot with the style
classifier (``gpu_checks.py``); evaluate on val (``quality.py``). ``$OUT`` gets ``figures.json`` (every
figure, the registry snippets, the timeline, log tails), ``logs.tar.gz`` and the weights, at most 8
files of at most 16 MiB, 64 MiB in all, chosen by priority (``gpu_budget.select_outputs``), rewritten
after every phase, so a run killed at its limit still returns what it had.

Only commands and recipes are used (``inpaintlab fit | export``, the benchmarks), no inpaintlab internals.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import yaml

TOOL = Path(__file__).resolve().parent
REPO = TOOL.parents[1]
BENCH = REPO / "benchmarks"  # train_throughput.py and quality.py, which the run calls
sys.path.insert(0, str(TOOL))
import gpu_budget as gb  # noqa: E402
import gpu_files as gf  # noqa: E402
import gpu_pack  # noqa: E402

DATA_PREFIX = "../shared/data/"
FIGURES = "figures.json"
LOGS = "logs.tar.gz"
WORK_MARKER = ".inpaintlab-gpu-work"
INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"
TINY = {  # --tiny: tiny models and data, same code paths (64 px: the recipes' 32 px blocks need room)
    "inpaint": {"model.init_args.generator": "unet.tiny", "model.init_args.discriminator": "patch.tiny",
                "model.init_args.warmup_steps": 2, "model.init_args.num_grid_images": 2,
                "data.init_args.image_size": 64, "data.init_args.batch_size": 4, "data.init_args.num_workers": 0,
                "data.init_args.limit_train": 8, "data.init_args.limit_val": 4},
    "stylize": {"model.init_args.generator": "resnet.tiny", "model.init_args.discriminator": "patch.tiny",
                "model.init_args.num_grid_images": 2, "data.init_args.image_size": 32,
                "data.init_args.load_size": 36, "data.init_args.batch_size": 2, "data.init_args.limit": 8},
}  # fmt: skip


class GpuRun:
    def __init__(self, args, plan: dict) -> None:
        self.args, self.plan = args, plan
        self.t0 = time.monotonic()
        self.budget = float(args.budget_s or plan["budget_s"])
        self.deadline = self.t0 + self.budget
        self.train_deadline = self.deadline - float(plan["finish_s"])
        self.work, self.out = Path(args.work), Path(args.out)
        self.data = self.work / "data"
        self.lock = threading.RLock()
        self.children: set[subprocess.Popen] = set()
        self.candidates: dict[str, tuple[Path, float]] = {}
        self.best: dict[str, Path] = {}
        self.derived: dict[str, dict] = {}
        self.exports_fp32: dict[str, Path] = {}
        self.stopping = False
        self.device = args.device
        self.figures = {
            "schema": "inpaintlab-gpu-run/1", "status": "running", "tiny": args.tiny, "budget_s": self.budget,
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "plan": str(args.plan),
            "env": {}, "pack": {}, "throughput": {}, "settings": {}, "phases": {}, "exports": {},
            "stylizer_scores": {}, "quality": [], "timeline": [], "warnings": [], "errors": [], "outputs": {},
        }  # fmt: skip

    # ----------------------------------------------------------------------------------- plumbing
    def now(self) -> float:
        return round(time.monotonic() - self.t0, 1)

    def log(self, message: str) -> None:
        line = f"[gpu {self.now():7.1f}s] {message}"
        print(line, flush=True)
        with self.lock, open(self.work / "driver.log", "a") as f:
            f.write(line + "\n")

    def note(self, kind: str, message: str) -> None:
        self.log(f"{kind}: {message}")
        with self.lock:
            self.figures[kind].append(message)

    def env(self) -> dict:
        path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
        return {**os.environ, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1", "INPAINTLAB_OFFLINE": "1",
                "INPAINTLAB_CACHE": str(self.work / "cache"), "WANDB_MODE": "offline",
                "TORCHINDUCTOR_CACHE_DIR": str(self.work / "inductor")}  # fmt: skip

    def run_cmd(self, what: str, cmd: list[str], timeout: float, log_path: Path) -> int:
        """Run ``cmd`` in its own process group with its output in ``log_path``; killed after ``timeout``."""
        start = self.now()
        if self.stopping:  # the driver is being stopped: start nothing new
            return -15
        self.log(f"{what}: {' '.join(cmd)} (timeout {timeout:.0f} s)")
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as logf:
            proc = subprocess.Popen(cmd, cwd=REPO, env=self.env(), stdout=logf, stderr=subprocess.STDOUT, start_new_session=True)
            with self.lock:
                self.children.add(proc)
            try:
                rc = proc.wait(timeout=max(1.0, timeout))
            except subprocess.TimeoutExpired:
                self.note("warnings", f"{what} ran past {timeout:.0f} s and was stopped")
                rc = self.stop(proc)
            finally:
                with self.lock:
                    self.children.discard(proc)
        with self.lock:
            self.figures["timeline"].append({"what": what, "start_s": start, "end_s": self.now(), "rc": rc})
        self.log(f"{what}: rc {rc} after {self.now() - start:.1f} s")
        return rc

    @staticmethod
    def stop(proc: subprocess.Popen) -> int:
        for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 10)):
            try:
                os.killpg(proc.pid, sig)
                return proc.wait(timeout=wait)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                continue
        return -9

    @staticmethod
    def tail(path: Path, lines: int = 25) -> list[str]:
        try:
            return path.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return []

    # ----------------------------------------------------------------------------------- $OUT
    def publish(self, final: bool = False) -> None:
        """figures.json + logs + the chosen weights into $OUT (atomic per file; files no longer chosen go)."""
        with self.lock:
            self.figures["elapsed_s"] = self.now()
            if final and self.figures["status"] == "running":
                self.figures["status"] = "done"
            stage = self.work / "stage"
            stage.mkdir(exist_ok=True)
            gf.write_logs(self.work, stage / LOGS)
            files = {FIGURES: (stage / FIGURES, 0.0), LOGS: (stage / LOGS, 4.0), **self.candidates}
            for _ in range(2):  # the figures name what was kept, which changes the figures' size a little
                (stage / FIGURES).write_text(json.dumps(self.figures, indent=1, default=str) + "\n")
                offers = [gb.OutFile(n, p.stat().st_size, pr) for n, (p, pr) in files.items() if p.is_file()]
                kept, dropped = gb.select_outputs(offers, max_total=gb.OUT_MAX_TOTAL_BYTES - gb.MIB)
                self.figures["outputs"] = {"kept": [[f.name, f.size] for f in kept], "dropped": [[f.name, r] for f, r in dropped]}
            (stage / FIGURES).write_text(json.dumps(self.figures, indent=1, default=str) + "\n")
            self.out.mkdir(parents=True, exist_ok=True)
            names = {f.name for f in kept}
            for old in self.out.iterdir():
                if old.name not in names and old.is_file():
                    old.unlink()
            for name in names:
                src, target = files[name][0], self.out / name
                if target.is_file() and name not in (FIGURES, LOGS) and target.stat().st_size == src.stat().st_size:
                    continue
                tmp = self.out / f".{name}.part"
                shutil.copyfile(src, tmp)
                os.replace(tmp, target)

    # ----------------------------------------------------------------------------------- steps
    def setup(self) -> bool:
        self.work.mkdir(parents=True, exist_ok=True)
        py = sys.executable
        self.resolve_configs()
        # the classes the recipes name (model and data class_path): a wrong one fails here, not after minutes
        modules = sorted({c.rpartition(".")[0] for p in self.plan["phases"] if p.get("config_used")
                          for c in recipe_classes(REPO / p["config_used"])})  # fmt: skip
        probe = (f"import json, platform, torch, lightning, kornia, torch_fidelity, jsonargparse, inpaintlab.cli, {', '.join(modules) or 'os'}; "
                 "c = torch.cuda.is_available(); print(json.dumps({'python': platform.python_version(), "
                 "'torch': torch.__version__, 'cuda': torch.version.cuda, 'lightning': lightning.__version__, "
                 "'kornia': kornia.__version__, 'jsonargparse': jsonargparse.__version__, 'gpu': torch.cuda.get_device_name() "
                 "if c else None, 'gpu_memory_gib': round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1) if c else None}))")  # fmt: skip
        probe_log = self.work / "probe.log"
        with open(probe_log, "wb") as probe_err:  # the child holds its own copy of the descriptor
            proc = subprocess.Popen([py, "-c", probe], cwd=REPO, env=self.env(), stdout=subprocess.PIPE, stderr=probe_err)
        try:
            self.figures["pack"] = gf.summarize_pack(gpu_pack.unpack(Path(self.args.pack), self.data))
            self.log(f"unpacked {self.args.pack}: {self.figures['pack']['counts']}")
        except (OSError, ValueError) as err:
            self.note("errors", f"data pack: {err}")
        try:
            out, _ = proc.communicate(timeout=float(self.plan.get("probe_timeout_s", 120)))
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
            self.note("errors", f"the import check took over {self.plan.get('probe_timeout_s', 120)} s")
        if proc.returncode != 0:
            self.note("errors", "imports failed: " + " | ".join(self.tail(probe_log, 8)))
        else:
            self.figures["env"] = json.loads(out.decode().strip().splitlines()[-1])
            if shutil.which("nvidia-smi"):
                smi = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,clocks.sm,clocks.max.sm,driver_version",
                                      "--format=csv,noheader"], capture_output=True, text=True, check=False)  # fmt: skip
                self.figures["env"]["nvidia_smi"] = smi.stdout.strip()
            self.log(f"env: {self.figures['env']}")
        if self.device == "auto":
            self.device = "cuda" if self.figures["env"].get("gpu") else "cpu"
        fid = next((p for p in (Path(self.args.fid_weights or "/nonexistent"), Path.home() / ".cache/torch/hub/checkpoints" / INCEPTION_FILE,
                                REPO / ".gpu" / INCEPTION_FILE) if p.is_file()), None)  # fmt: skip
        self.fid_weights = str(fid) if fid else None
        self.figures["env"]["fid_weights"] = self.fid_weights
        return not self.figures["errors"]

    def resolve_configs(self) -> None:
        """Each phase's recipe, or its fallback with --allow-fallback; a missing one is an error."""
        for phase in self.plan["phases"]:
            if (REPO / phase["config"]).is_file():
                phase["config_used"] = phase["config"]
            elif phase.get("fallback") and self.args.allow_fallback:
                self.note("warnings", f"{phase['name']}: {phase['config']} is missing; using the fallback {phase['fallback']}")
                phase["config_used"] = phase["fallback"]
            else:
                self.note("errors", f"{phase['name']}: recipe {phase['config']} does not exist (--allow-fallback uses its fallback)")

    def throughput(self) -> None:
        tp = self.plan["throughput"]
        jobs = [("inpaint", tp["recipe"], tp["variants"], tp["seconds"], tp["timeout_s"]),
                ("stylize", tp["stylize_recipe"], tp["stylize_variants"], tp["stylize_seconds"], tp["stylize_timeout_s"])]  # fmt: skip
        for tag, recipe, variants, seconds, timeout in jobs:
            timeout = min(float(timeout), self.train_deadline - time.monotonic() - self.plan["min_phase_s"])
            if timeout < 10:
                self.note("warnings", f"throughput {tag}: no time left, skipped")
                continue
            cmd = [sys.executable, str(BENCH / "train_throughput.py"), "--device", self.device, "--recipe", recipe,
                   "--variants", ",".join(variants), "--seconds", str(seconds), "--warmup", str(tp["warmup"]),
                   "--out", str(self.work / "throughput"), "--tag", tag]  # fmt: skip
            if self.fid_weights:
                cmd += ["--fid-weights", self.fid_weights]
            if tag == "stylize":
                cmd.append("--no-fid")
            if self.args.tiny:
                cmd += ["--image-size", "32", "--fid-images", "2"]
                cmd += [f"--model-override={k.split('.')[-1]}={json.dumps(v)}" for k, v in TINY[tag].items() if k.startswith("model.")]
            self.run_cmd(f"throughput-{tag}", cmd, timeout, self.work / "throughput" / f"{tag}.log")
            result = self.work / "throughput" / f"train_throughput-{tag}.json"
            if result.is_file():
                self.figures["throughput"][tag] = json.loads(result.read_text())
            else:
                self.note("errors", f"throughput {tag}: no result; " + " | ".join(self.tail(self.work / "throughput" / f"{tag}.log", 6)))
            self.publish()
        settings = self.plan["settings"]
        if settings == "auto":
            measured = self.figures["throughput"].get("inpaint", {}).get("variants", [])
            best = gb.best_variant(measured, self.plan.get("allow_compile", False))
            settings = {"precision": "32-true", "channels_last": False, "compile": False}
            if best:
                settings = {"precision": best["precision"], "channels_last": best["channels_last"], "compile": best["compile"]}
        self.settings = dict(settings)
        self.figures["settings"] = self.settings

    def rate(self, task: str, batch: int | None) -> tuple[float, str]:
        settings = self.settings if task == "inpaint" else {**self.settings, "channels_last": False, "compile": False}
        variants = self.figures["throughput"].get(task, {}).get("variants", [])
        measured = gb.matching_rate(variants, settings, batch)
        if measured:
            return measured, "measured"
        return float(self.plan["fallback_images_per_s"][task]), "plan fallback"

    def derive(self, phase: dict, share: float, parallel: bool) -> tuple[dict, dict]:
        task, run_dir = phase["task"], self.work / phase["name"]
        recipe = yaml.safe_load((REPO / phase["config_used"]).read_text())
        config = copy.deepcopy(recipe)
        info: dict = {"data_paths": gb.rewrite_data_paths(config, DATA_PREFIX, str(self.data))}
        for key in phase.get("inherit", []):
            parent = self.derived.get(phase.get("init_from", ""))
            value = gb.get_dotted(parent, key) if parent else None
            if value is not None:
                gb.set_dotted(config, key, copy.deepcopy(value))
        overrides = {
            "trainer.logger": {"class_path": "lightning.pytorch.loggers.CSVLogger",
                               "init_args": {"save_dir": str(run_dir / "logs"), "name": "csv"}},
            "trainer.accelerator": "gpu" if self.device == "cuda" else "cpu", "trainer.devices": 1,
            "trainer.enable_progress_bar": False, "trainer.num_sanity_val_steps": 0, "trainer.log_every_n_steps": 25,
            "trainer.precision": self.settings["precision"], "checkpoint.dirpath": str(run_dir / "ckpt"),
            "checkpoint.save_last": False,
            "model.init_args.fid_every_n_epochs": 1 if self.fid_weights else 0,
            "model.init_args.fid_weights_path": self.fid_weights, "model.init_args.fid_cache_dir": str(run_dir / "fid-cache"),
        }  # fmt: skip
        if task == "inpaint":
            overrides.update(self.plan.get("inpaint_defaults", {}))
            overrides["model.init_args.channels_last"] = bool(self.settings["channels_last"])
            overrides["model.init_args.compile_models"] = bool(self.settings["compile"])
            parent_ckpt = self.best.get(phase.get("init_from", ""))
            if phase.get("init_from") or gb.get_dotted(config, "model.init_args.init_from"):
                overrides["model.init_args.init_from"] = str(parent_ckpt) if parent_ckpt else None
                if not parent_ckpt:
                    self.note("warnings", f"{phase['name']}: no checkpoint of {phase.get('init_from')!r} to start from: trained from scratch")
        overrides.update(phase.get("overrides", {}))
        if self.args.tiny:
            overrides.update(TINY[task])
        for key, value in overrides.items():
            gb.set_dotted(config, key, value)
        if not self.fid_weights:
            config["model"]["init_args"].pop("fid_weights_path", None)
        # epochs from the share and the measured rate
        n_train = gf.count_train_images(config, task)
        batch = gb.get_dotted(config, "data.init_args.batch_size")
        rate, source = self.rate(task, batch)
        scale = self.plan["parallel_rate_scale" if parallel else "rate_scale"]
        train_s = share - self.plan["startup_s"]
        caps = [recipe.get("trainer", {}).get("max_epochs") if self.plan.get("cap_epochs") else None, self.plan.get("max_epochs")]
        cap = min((c for c in caps if c), default=None)
        epochs = gb.epochs_for(train_s, rate, n_train, scale, cap)
        every = gb.val_every(epochs, self.plan["validations"])
        gb.set_dotted(config, "trainer.max_epochs", epochs)
        gb.set_dotted(config, "trainer.max_time", gb.lightning_max_time(train_s))
        gb.set_dotted(config, "trainer.check_val_every_n_epoch", every)
        if task == "stylize" and gb.get_dotted(config, "model.init_args.decay_start_epoch") is not None:
            gb.set_dotted(config, "model.init_args.decay_start_epoch", epochs // 2)
        if phase.get("snapshots"):
            for key, value in {"save_top_k": -1, "every_n_epochs": every, "filename": "e{epoch:03d}"}.items():
                gb.set_dotted(config, f"checkpoint.{key}", value)
        info.update(train_images=n_train, rate=rate, rate_source=source, rate_scale=scale, epochs=epochs,
                    val_every=every, max_time=config["trainer"]["max_time"], batch_size=batch)  # fmt: skip
        return config, info

    def fit(self, phase: dict, share: float, parallel: bool) -> None:
        name, run_dir = phase["name"], self.work / phase["name"]
        record = self.figures["phases"][name] = {"status": "running", "start_s": self.now(), "share_s": round(share, 1),
                                                 "config": phase["config_used"], "parallel": parallel}  # fmt: skip
        config, info = self.derive(phase, share, parallel)
        record.update(info)
        self.derived[name] = config
        run_dir.mkdir(parents=True, exist_ok=True)
        derived = run_dir / "config.gpu.yaml"
        derived.write_text(yaml.safe_dump(config, sort_keys=False))
        cmd = [sys.executable, "-m", "inpaintlab.cli", "fit", "-c", str(derived)]
        before = gf.run_folders(run_dir / "ckpt")  # the fit writes into a new ckpt/version_N
        record["rc"] = self.run_cmd(f"fit {name}", cmd, share + self.plan["grace_s"], run_dir / "fit.log")
        record["val"] = gf.read_val_metrics(run_dir / "logs")
        ckpts = gf.fit_checkpoints(run_dir / "ckpt", before)
        record["checkpoints"] = [p.name for p in ckpts]
        if not ckpts:
            record.update(status="failed", end_s=self.now(), log_tail=self.tail(run_dir / "fit.log"))
            self.note("errors", f"{name}: no checkpoint (rc {record['rc']}); see figures phases.{name}.log_tail")
            return
        chosen = next((p for p in ckpts if p.name == "best.ckpt"), ckpts[-1])
        if phase.get("snapshots"):
            chosen = self.pick_snapshot(phase, ckpts) or chosen
        self.best[name] = chosen
        record.update(status="trained", chosen=chosen.name, log_tail=self.tail(run_dir / "fit.log", 8))
        if phase.get("export"):
            self.export(phase, chosen)
        record["end_s"] = self.now()

    def pick_snapshot(self, phase: dict, ckpts: list[Path]) -> Path | None:
        run_dir = self.work / phase["name"]
        cmd = [sys.executable, str(TOOL / "gpu_checks.py"), "--photo-val", str(self.data / "photo/val"),
               "--monet-val", str(self.data / "monet/val"), "--device", self.device, "--out", str(run_dir / "scores.json")]
        for p in ckpts:
            cmd += ["--ckpt", str(p)]
        timeout = max(20.0, min(float(self.plan["check_timeout_s"]), self.deadline - time.monotonic() - 20))
        if self.run_cmd(f"score {phase['name']}", cmd, timeout, run_dir / "scores.log") != 0:
            self.note("warnings", f"{phase['name']}: snapshot scoring failed; the last snapshot is used")
            return None
        scores = json.loads((run_dir / "scores.json").read_text())
        pick = gb.pick_stylizer(scores["snapshots"])
        self.figures["stylizer_scores"][phase["name"]] = {**scores, "picked": pick}
        return next((p for p in ckpts if p.name == pick), None)

    def export(self, phase: dict, ckpt: Path) -> None:
        name, out = phase["export"], self.work / phase["name"] / "export"
        pack = self.figures["pack"]
        data = f"GPU data pack ({pack.get('codec')} q{pack.get('quality')}): {pack.get('counts')}"
        cmd = [sys.executable, "-m", "inpaintlab.cli", "export", str(ckpt), "--name", name, "--out", str(out),
               "--recipe", phase["config_used"], "--data", data]  # fmt: skip
        if self.run_cmd(f"export {name}", cmd, float(self.plan["check_timeout_s"]), self.work / phase["name"] / "export.log") != 0:
            self.note("errors", f"export {name} failed: " + " | ".join(self.tail(self.work / phase["name"] / "export.log", 6)))
            return
        fp32 = out / f"{name}.safetensors"
        fp16 = out / "fp16" / f"{name}.safetensors"
        gf.to_fp16(fp32, fp16)
        snippet = yaml.safe_load((out / f"{name}.yaml").read_text())
        entry = snippet[name]
        entry.update(sha256=hashlib.sha256(fp16.read_bytes()).hexdigest(), bytes=fp16.stat().st_size)
        with self.lock:
            self.figures["exports"][name] = {"phase": phase["name"], "checkpoint": ckpt.name, "fp32_bytes": fp32.stat().st_size,
                                             "entry": entry, "snippet": yaml.safe_dump(snippet, sort_keys=False, width=110)}  # fmt: skip
            self.candidates[f"{name}.safetensors"] = (fp16, float(phase.get("priority", 5)))
            self.exports_fp32[name] = fp32

    def lane(self, lane: str, phases: list[dict], lanes_running: list[str]) -> None:
        for i, phase in enumerate(phases):
            weights = [float(p.get("weight", 1)) for p in phases[i:]]
            share = gb.next_share(self.train_deadline - time.monotonic(), weights, self.plan["min_phase_s"])
            parent = phase.get("init_from")
            if self.stopping:
                break
            if share <= 0:
                self.figures["phases"][phase["name"]] = {"status": "skipped", "reason": "no time left in the budget"}
            elif parent and parent in self.figures["phases"] and parent not in self.best:
                self.figures["phases"][phase["name"]] = {"status": "skipped", "reason": f"{parent} produced no checkpoint"}
            else:
                try:
                    self.fit(phase, share, parallel=len(lanes_running) > 1)
                except Exception as err:  # noqa: BLE001 - one phase's failure must not stop the other lanes
                    self.figures["phases"].setdefault(phase["name"], {}).update(status="failed")
                    self.note("errors", f"{phase['name']}: {type(err).__name__}: {err}")
            self.publish()
        with self.lock:
            lanes_running.remove(lane)

    def evaluate(self) -> None:
        inpaint = [n for n in self.exports_fp32 if self.figures["exports"][n]["entry"].get("task") == "inpaint"]
        models = [f"--model={n}={self.candidates[f'{n}.safetensors'][0]}" for n in inpaint]
        models += [f"--model={n}~fp32={self.exports_fp32[n]}" for n in inpaint]  # fp16 vs fp32: the rounding's cost
        timeout = self.deadline - time.monotonic() - 15
        if not models or timeout < 10:
            self.note("warnings", "evaluation skipped: " + ("no inpainting export" if not models else "no time left"))
            return
        size = str(TINY["inpaint"]["data.init_args.image_size"] if self.args.tiny else self.figures["pack"].get("image_size", 256))
        cmd = [sys.executable, str(BENCH / "quality.py"), "--data", str(self.data), "--size", size, "--only-given",
               "--skip-opencv", "--device", self.device, "--out", str(self.work / "eval" / "quality"), *models]  # fmt: skip
        if self.args.tiny:
            cmd += ["--limit", "4"]
        self.run_cmd("evaluate", cmd, timeout, self.work / "eval" / "quality.log")
        result = self.work / "eval" / "quality.json"
        if result.is_file():
            self.figures["quality"] = json.loads(result.read_text())["rows"]
            self.figures["quality_md"] = (self.work / "eval" / "quality.md").read_text()

    def main(self) -> int:
        self.work.mkdir(parents=True, exist_ok=True)
        self.publish()
        if not self.setup():
            self.figures["status"] = "failed"
            self.publish(final=True)
            return 2
        self.publish()
        if self.args.skip_throughput:
            self.settings = self.plan["settings"] if isinstance(self.plan["settings"], dict) else {"precision": "32-true", "channels_last": False, "compile": False}
            self.figures["settings"] = self.settings
        else:
            self.throughput()
        lanes: dict[str, list[dict]] = {}
        for phase in self.plan["phases"]:
            if not self.args.phases or phase["name"] in self.args.phases.split(","):
                lanes.setdefault(phase.get("lane", "main"), []).append(phase)
        running = list(lanes)
        threads = [threading.Thread(target=self.lane, args=(name, phases, running), name=name, daemon=True)
                   for name, phases in lanes.items()]  # fmt: skip
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.evaluate()
        self.publish(final=True)
        problems = gb.check_out_dir(self.out)
        self.log(f"$OUT: {self.figures['outputs']['kept']}" + (f"; PROBLEMS: {problems}" if problems else ""))
        gf.print_summary(self.figures)
        return 0

    def kill_children(self, *_):
        self.stopping = True
        for proc in list(self.children):
            self.stop(proc)
        self.figures["status"] = "stopped"
        self.publish(final=True)
        sys.exit(3)


def recipe_classes(path: Path) -> list[str]:
    """The ``model`` and ``data`` ``class_path`` values of a recipe."""
    config = yaml.safe_load(Path(path).read_text()) or {}
    return [str(config[k]["class_path"]) for k in ("model", "data") if isinstance(config.get(k), dict) and config[k].get("class_path")]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--plan", type=Path, default=TOOL / "gpu_plan.yaml")
    parser.add_argument("--pack", type=Path, default=REPO / ".gpu" / "data.zip")
    parser.add_argument("--out", type=Path, default=os.environ.get("OUT"), help="the folder that comes back (default $OUT)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/inpaintlab-gpu"), help="scratch folder (runs, data)")
    parser.add_argument("--budget-s", type=float, default=None, help="override the plan's budget_s")
    parser.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"])
    parser.add_argument("--tiny", action="store_true", help="the dry run: tiny models, 32 px, the plan's tiny times")
    parser.add_argument("--allow-fallback", action="store_true", help="use a phase's fallback recipe when its own is missing")
    parser.add_argument("--phases", default=None, help="comma list: run only these phases")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--fid-weights", default=None, help="torch-fidelity Inception weights, if at hand")
    args = parser.parse_args(argv)
    if args.out is None:
        parser.error("no output folder: set $OUT or pass --out")
    work = Path(args.work)
    if work.exists() and any(work.iterdir()):
        if not (work / WORK_MARKER).is_file():
            parser.error(f"--work {work} is not empty and not an earlier run's scratch folder; pass an empty or new folder")
        shutil.rmtree(work)  # a fresh scratch folder: nothing of an earlier run is mistaken for this one's
    work.mkdir(parents=True)
    (work / WORK_MARKER).write_text("scratch folder of tools/gpu_run/gpu_driver.py; deleted by its next run\n")
    run = GpuRun(args, gf.load_plan(args.plan, args.tiny))
    signal.signal(signal.SIGTERM, run.kill_children)
    return run.main()


if __name__ == "__main__":
    raise SystemExit(main())
