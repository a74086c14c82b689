#!/usr/bin/env bash
# Everything the open GPU issues still need, for a session that is lent a CUDA machine
# (the `device` tool: repo copied over, ../shared NOT copied, no PyAV, 10 minutes a call).
#
# Here, once (nothing of this is committed: both folders are ignored through .git/info/exclude):
#   printf '/.whl/\n/.device/\n' >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux_2_28_x86_64 -d .whl av==18.1.0                     # 34 MiB
#   mkdir -p .device/shared/models .device/shared/media/clips
#   cp -r ../shared/models/rife-4.25 .device/shared/models/                      # 23 MiB
#   cp ../shared/media/clips/bigbuckbunny_1280x720_25fps.mp4 .device/shared/media/clips/
# The tree, .whl and .device together stay under the tool's 64 MiB. Then one call per part:
#   run(command="bash bench/device_suite.sh speed", carry=[".device"])              # ~6 min
#   run(command="bash bench/device_suite.sh tests e2e", carry=[".whl", ".device"])  # ~8 min
# Results land in $OUT (the tool's folder that comes back), or ./device-out elsewhere.
# A dry run of the speed part on a CPU:
#   PATH=.venv/bin:$PATH FRAMEDECK_SHARED=../shared PRECISION=fp32 SIZES=128x64 SIZES_4K=256x128 \
#       SECONDS_PER_ROW=0.2 E2E_SIZE=128x64 E2E_SECONDS=1 E2E_CLIP=0 OUT=/tmp/dev \
#       bash bench/device_suite.sh speed e2e
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-device-out}
mkdir -p "$OUT"
export FRAMEDECK_SHARED=${FRAMEDECK_SHARED:-$PWD/.device/shared}
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
if compgen -G ".whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=$PYTHONPATH:/tmp/site
fi
WEIGHTS=$FRAMEDECK_SHARED/models/rife-4.25
CLIP=$FRAMEDECK_SHARED/media/clips/bigbuckbunny_1280x720_25fps.mp4
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader; nproc
  python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"
  git log -1 --format='framedeck %h %s' 2>/dev/null; } | tee "$OUT/machine.txt"

parts=("$@")
[ ${#parts[@]} -eq 0 ] && parts=(speed tests e2e)
for part in "${parts[@]}"; do
case $part in
speed)  # issue 3 (speed table) and 7 (GPU memory per size and batch): torch only
    python3 -m bench.model_speed --weights "$WEIGHTS" --precision "${PRECISION:-fp16}" \
        --graphs on,off --sizes "${SIZES:-1280x720,1920x1080}" --batches 1,4,8 \
        --seconds "${SECONDS_PER_ROW:-3}" --json "$OUT/speed.json" | tee "$OUT/speed.md"
    python3 -m bench.model_speed --weights "$WEIGHTS" --precision "${PRECISION:-fp16}" \
        --graphs on,off --sizes "${SIZES_4K:-3840x2160}" --batches 1,2,4 \
        --seconds "${SECONDS_PER_ROW:-3}" --json "$OUT/speed_4k.json" | tee -a "$OUT/speed.md"
    ;;
tests)  # the CUDA-only tests: graphs, pinned transfers, device colour path, real OOM (issue 4)
    python3 -m pytest -q -p no:cacheprovider -o addopts="" -s \
        tests/test_cuda_graphs.py tests/test_transfer.py tests/test_gpu_memory.py \
        tests/test_frame_path.py 2>&1 | tee "$OUT/tests.txt"
    ;;
e2e)  # issues 7 and 8: end to end vs model-only at 1080p and 720p, libx264 veryfast + segments
    python3 -m bench.throughput --model rife --weights "$WEIGHTS" --precision "${PRECISION:-fp16}" \
        --codec libx264 --preset veryfast --generate "${E2E_SIZE:-1920x1080}" \
        --seconds "${E2E_SECONDS:-10}" --repeat 1 --no-png \
        --json "$OUT/e2e_1080p.json" 2>&1 | tee "$OUT/e2e.md"
    if [ "${E2E_CLIP:-1}" = 1 ]; then
        python3 -m bench.throughput --model rife --weights "$WEIGHTS" --precision "${PRECISION:-fp16}" \
            --codec libx264 --preset veryfast --clip "$CLIP" --repeat 1 \
            --json "$OUT/e2e_720p.json" 2>&1 | tee -a "$OUT/e2e.md"
    fi
    ;;
*) echo "unknown part $part (speed, tests, e2e)"; exit 2 ;;
esac
done
