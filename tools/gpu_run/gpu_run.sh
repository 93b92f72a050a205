#!/usr/bin/env bash
# The GPU run's one command, on the lent machine (tools/gpu_run/README.md):
#   run(command="bash tools/gpu_run/gpu_run.sh", carry=[".gpu"], timeout_s=560)
# Installs the carried wheels (.gpu/wheels, made by tools/gpu_run/gpu_pack.py) into /tmp/site without
# touching the image's packages, then runs tools/gpu_run/gpu_driver.py, which writes into $OUT.
# Arguments go to the driver (e.g. --budget-s 300, --phases photo2monet). On CPU, the dry run:
#   OUT=/tmp/fake-out GPU_PYTHON=.venv/bin/python GPU_INSTALL=0 nice -n 19 bash tools/gpu_run/gpu_run.sh \
#       --tiny --allow-fallback --pack /tmp/gpu-tiny/data.zip
set -uo pipefail
cd "$(dirname "$0")/../.."
PY=${GPU_PYTHON:-python3}
SITE=${GPU_SITE:-/tmp/site}
export PYTHONUNBUFFERED=1
: "${OUT:?set OUT to the folder that comes back}"
mkdir -p "$OUT"
echo "[gpu_run] $(date -u +%FT%TZ) $(uname -m) $($PY --version 2>&1) in $PWD"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
if [ "${GPU_INSTALL:-1}" = 1 ]; then
  ls .gpu/wheels/*.whl >/dev/null 2>&1 || { echo "[gpu_run] no wheels in .gpu/wheels: run tools/gpu_run/gpu_pack.py and carry .gpu"; exit 3; }
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" .gpu/wheels/*.whl \
    || { echo "[gpu_run] installing the carried wheels failed"; exit 3; }
  export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
$PY tools/gpu_run/gpu_driver.py "$@"
rc=$?
echo "[gpu_run] driver rc $rc; \$OUT:"; ls -la "$OUT"
exit $rc
