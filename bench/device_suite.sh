#!/usr/bin/env bash
# The GPU checks in ONE call of the `device` tool (at most 8 minutes, 15 minutes of device time
# a session with the machine's start): the CUDA tests, the rest of the suite that runs on what
# travels, model-only speed per size/batch/graphs, and end to end at 1080p and 720p.
#
# Here, once per checkout (.whl and .device are ignored by .gitignore; nothing is committed):
#   bash bench/device_suite.sh prepare      # wheels the box lacks + rife-4.25 + the small clips
# then, through the device tool:
#   run(command="bash bench/device_suite.sh", carry=[".whl", ".device"], timeout_s=540)
# Everything lands in $OUT (8 files at most): machine.txt, summary.txt (each part's exit
# status), tests.txt, speed.md, speed.json, e2e.md, e2e_1080p.json, e2e_720p.json.
# The script exits non-zero when any part failed or ran out of its time.
#
# A CPU dry run of the same script here (small sizes, CUDA tests only unless SUITE=1):
#   DRY_RUN=1 OUT=/tmp/device-dry bash bench/device_suite.sh
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

if [ "${1:-}" = prepare ]; then  # here, not on the device: what the call carries (< 64 MiB)
    set -e
    mkdir -p .whl .device/shared/models/rife-4.25 .device/shared/media/clips
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        -d .whl av==18.1.0 watchfiles==1.3.0 textual==8.2.8 mdit-py-plugins==0.7.0 \
        linkify-it-py==2.2.0 rich==15.0.0 markdown-it-py==4.3.0 platformdirs==4.14.9 b2sdk==2.13.2 logfury==1.0.1 \
        annotated-types==0.8.0 pytest-asyncio==1.5.0
    SRC=${FRAMEDECK_SHARED:-$ROOT/../shared}
    cp "$SRC/models/rife-4.25/flownet.pkl" .device/shared/models/rife-4.25/
    rm -f .device/shared/media/clips/*  # the 720p clip would take the last MiB: its tests are left out
    cp "$SRC"/media/clips/carphone_176x144_2997fps.mp4 "$SRC"/media/clips/bikes_640x272_25fps.mp4 \
        .device/shared/media/clips/
    du -sh .whl .device
    git ls-files -z | xargs -0 du -cb | tail -1
    exit 0
fi

START=$(date +%s)
BUDGET=${BUDGET:-465}  # seconds for the whole script, inside the call's 8 minutes
OUT=${OUT:-device-out}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1 PYTHONPATH=$ROOT${PYTHONPATH:+:$PYTHONPATH}
export FRAMEDECK_SHARED=${FRAMEDECK_SHARED:-$ROOT/.device/shared}
if [ "${DRY_RUN:-0}" = 1 ]; then  # the CPU here: tiny sizes, fp32, the ../shared folder
    export FRAMEDECK_SHARED=${FRAMEDECK_SHARED_DRY:-$ROOT/../shared}
    PY=${PYTHON:-$ROOT/.venv/bin/python}
    DEVICE=cpu PRECISION=fp32 SIZES=128x64,192x96 BATCHES=1,2 SECONDS_PER_ROW=0.2
    E2E_1080=160x96 E2E_720=128x64 E2E_SECONDS=0.5 SUITE=${SUITE:-0}
fi
DEVICE=${DEVICE:-auto} PRECISION=${PRECISION:-fp16}
WEIGHTS=$FRAMEDECK_SHARED/models/rife-4.25
: > "$OUT/summary.txt"
failed=0

left() { echo $(( BUDGET - ($(date +%s) - START) )); }

# part NAME LIMIT CMD...: run CMD under `timeout` (LIMIT seconds, or what is left of the
# budget), record its exit status in summary.txt; 124 means it ran out of time.
part() {
    local name=$1 limit=$2 rest
    shift 2
    rest=$(( $(left) - 5 ))
    [ "$rest" -lt "$limit" ] && limit=$rest
    if [ "$limit" -le 10 ]; then
        echo "$name: skipped, no time left" | tee -a "$OUT/summary.txt"
        failed=1
        return
    fi
    local began=$(date +%s)
    timeout --kill-after=5 "$limit" "$@"
    local rc=$?
    echo "$name: exit $rc after $(( $(date +%s) - began )) s (limit $limit s)" | tee -a "$OUT/summary.txt"
    [ "$rc" -ne 0 ] && failed=1
}

if [ "${DRY_RUN:-0}" != 1 ] && compgen -G ".whl/*.whl" >/dev/null; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || { echo "wheels: install failed" >> "$OUT/summary.txt"; exit 1; }
    export PYTHONPATH=$PYTHONPATH:/tmp/site
fi
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 || echo "no nvidia-smi"
  echo "cores $(nproc)"
  "$PY" -c "import torch, av; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'gpus', torch.cuda.device_count(), 'av', av.__version__)"
  git log -1 --format='framedeck %h %s' 2>/dev/null || true; } > "$OUT/machine.txt" 2>&1
cat "$OUT/machine.txt"

# 1. Tests. First the CUDA ones, one process (the OOM test fills the GPU on purpose); then the
# rest of the suite in parallel, less what needs material too big to carry (Middlebury, the
# HDv3 weights, the 720p clip: all CPU tests).
CUDA_TESTS=(tests/test_gpu_memory.py tests/test_cuda_graphs.py tests/test_transfer.py
            tests/test_frame_path.py tests/test_memory.py tests/test_memory_release.py tests/test_telemetry.py)
NOT_CARRIED="not middlebury and not hdv3 and not published_forward_425 and not folding_resconv \
and not channels_last_matches_contiguous and not t0_and_t1_give and not middle_of_a_real_pair \
and not identical_frames_give_the_same and not (test_flow and cuda_matches_cpu) and not bunny \
and not 720p_footage"
PYTEST=("$PY" -m pytest -q -p no:cacheprovider -rfEs)
part tests-cuda 150 "${PYTEST[@]}" "${CUDA_TESTS[@]}" > "$OUT/tests.txt" 2>&1
if [ "${SUITE:-1}" = 1 ]; then
    ignores=()
    for f in "${CUDA_TESTS[@]}"; do ignores+=(--ignore "$f"); done
    workers=()
    "$PY" -c "import xdist" 2>/dev/null && workers=(-n "${WORKERS:-12}")
    part tests-suite 170 "${PYTEST[@]}" "${workers[@]}" "${ignores[@]}" -k "$NOT_CARRIED" tests \
        >> "$OUT/tests.txt" 2>&1
fi
tail -n 25 "$OUT/tests.txt"

# 2. Model-only speed and the memory the job holds (peak reserved), per size, batch and graphs.
part speed 110 "$PY" -m bench.model_speed --weights "$WEIGHTS" --device "$DEVICE" \
    --precision "$PRECISION" --graphs on,off --sizes "${SIZES:-1280x720,1920x1080,3840x2160}" \
    --batches "${BATCHES:-1,4,8}" --seconds "${SECONDS_PER_ROW:-1.5}" --json "$OUT/speed.json" \
    > "$OUT/speed.md" 2>&1
cat "$OUT/speed.md"

# 3. End to end against model-only on generated clips (libx264 veryfast, no PNG round trip).
for e2e in "1080p ${E2E_1080:-1920x1080}" "720p ${E2E_720:-1280x720}"; do
    set -- $e2e
    part "e2e-$1" 60 "$PY" -m bench.throughput --model rife --weights "$WEIGHTS" --device "$DEVICE" \
        --precision "$PRECISION" --codec libx264 --preset veryfast --generate "$2" \
        --seconds "${E2E_SECONDS:-4}" --repeat 1 --no-png --cache "${TMPDIR:-/tmp}/framedeck-e2e" \
        --json "$OUT/e2e_$1.json" >> "$OUT/e2e.md" 2>&1
done
cat "$OUT/e2e.md"
echo "total $(( $(date +%s) - START )) s" | tee -a "$OUT/summary.txt"
cat "$OUT/summary.txt"
exit $failed
