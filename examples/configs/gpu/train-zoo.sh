#!/usr/bin/env bash
# Train the 256 px zoo on a GPU with the GPU recipes, one after the other, and export each result as a
# safetensors file with its registry entry (NAME.safetensors + NAME.yaml, in the run's version_N folder):
#
#   source .venv/bin/activate
#   bash examples/configs/gpu/train-zoo.sh                                   # one GPU
#   bash examples/configs/gpu/train-zoo.sh --trainer.devices 4 --trainer.strategy ddp_find_unused_parameters_true
#
# Arguments are passed to every `inpaintlab fit` (e.g. --trainer.max_epochs 20, --trainer.precision bf16-mixed).
#   1. photo-universal.yaml   one photo inpainter for every mask kind (masked L1, dilated_unet.sor)
#   2. monet-universal.yaml   its fine-tune on the Monet paintings (GAN phase, DiffAugment); starts from
#                             step 1's best.ckpt (the recipe's model.init_args.init_from)
#   3. gpu/cyclegan-monet.yaml  the photo -> Monet CycleGAN (photo2monet)
# The data are the recipes' folders (../shared/data/{photo,monet}/{train,val}); a stopped step resumes with
# `inpaintlab fit -c RECIPE --ckpt_path last`. Per-kind fine-tunes (photo-{center,blocks,region}) follow
# the chain of examples/configs/cpu/ (docs/training.md). INPAINTLAB and PYTHON name other executables.
set -euo pipefail
cd "$(dirname "$0")/../../.."
INPAINTLAB=${INPAINTLAB:-inpaintlab}
PYTHON=${PYTHON:-python3}

steps=(
  "examples/configs/photo-universal.yaml photo-universal"
  "examples/configs/monet-universal.yaml monet-universal"
  "examples/configs/gpu/cyclegan-monet.yaml photo2monet"
)
for step in "${steps[@]}"; do
  read -r recipe name <<<"$step"
  checkpoints=$("$PYTHON" -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["checkpoint"]["dirpath"])' "$recipe")
  echo "== $name: $recipe -> $checkpoints/latest/best.ckpt"
  "$INPAINTLAB" fit -c "$recipe" "$@"
  "$INPAINTLAB" export "$checkpoints/latest/best.ckpt" --name "$name" --recipe "$recipe"
done
