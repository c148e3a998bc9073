#!/usr/bin/env bash
# [gpu] The GPU session as one call of the device tool, run there from the repository root:
#
#   bash report/scripts/gpu_session.sh COMMIT      # COMMIT: the sending checkout's HEAD, committed and clean (the copy's
#                                         # own .git may be stale; DEPTHUTILS_GIT_COMMIT records COMMIT instead)
#
# carry: .whl (kornia's wheel; the image has the other dependencies) and .gpudata/nyu192 (the 192x144 NYU copy,
# packed by tools/gpu_data.py to fit the device's 64 MiB). In order, within BUDGET seconds:
#   1. the GPU's name and driver → $OUT/gpu.txt
#   2. the report profile's pipeline rows, all at once, one process each (one row alone uses little of the GPU:
#      MFU at most 0.06 in the benchmark), into /dev/shm (a checkpoint every epoch costs nothing there)
#      → $OUT/gpu-report-runs.tgz: every row's config.json, history.csv, results.json and log, no checkpoints.
#      A row still training at the deadline is stopped (SIGTERM: it keeps its last finished epoch) and comes back
#      unfinished.
#   3. `bench --device cuda` (alone on the GPU, after the rows) → $OUT/benchmark-cuda.{json,md}, in the time left
# MODE=speed instead runs the benchmark's open questions (its targets were missed on 2026-12-04: 5.6x the plain
# loop against 8x, MFU <= 0.06 against 0.30), on the two models the study leans on, each setting within its share
# of BUDGET: batch 64 with a torch.profiler table of each step, batch 256, batch 256 under torch.compile
# → $OUT/benchmark-cuda-b64-profile.{json,md}, -b256, -b256-compile (no data needed: the bench renders rooms;
# each file is rewritten after every model, so a setting stopped at its share keeps the models it finished).
# Local dry run (no GPU): DEVICE=cpu PROFILE=smoke QUICK=--quick OUT=/tmp/o bash report/scripts/gpu_session.sh x
#                         DEVICE=cpu MODE=speed QUICK=--quick OUT=/tmp/o bash report/scripts/gpu_session.sh x
set -uo pipefail
: "${OUT:?the device tool sets OUT}"
export DEPTHUTILS_GIT_COMMIT=${1:?usage: bash report/scripts/gpu_session.sh COMMIT}
BUDGET=${BUDGET:-570} DEVICE=${DEVICE:-cuda} PROFILE=${PROFILE:-report} QUICK=${QUICK:-} MODE=${MODE:-study}
DATA=/dev/shm/nyu192 RUNS=/dev/shm/gpu-$PROFILE
exec > >(tee "$OUT/session.log") 2>&1
say() { echo "[$SECONDS s] $*"; }

# kornia without kornia_rs (5 MB, over the limit): only kornia.io uses it, and the study never calls kornia.io
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
    .whl/kornia-*.whl || exit 1
python3 -c "import kornia_rs" 2>/dev/null ||
    { mkdir -p /tmp/site/kornia_rs && echo "io = None" >/tmp/site/kornia_rs/__init__.py; }
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || echo "no nvidia-smi") | tee "$OUT/gpu.txt"
python3 -c "import torch, torchvision; print('torch', torch.__version__, 'torchvision', torchvision.__version__)" |
    tee -a "$OUT/gpu.txt"

if [ "$MODE" = speed ]; then
    settings=("64 --profile" "256" "256 --compile")
    for k in "${!settings[@]}"; do
        set -- ${settings[$k]}
        name=b$1${2:+-${2#--}}
        share=$(((BUDGET - SECONDS - 10) / (${#settings[@]} - k)))  # an equal share of what is left
        ((share >= 30)) || { say "only ${share} s left: bench $name and the rest skipped"; break; }
        say "bench $name, at most ${share} s"
        timeout -k 10 "$share" python3 -m depthutils bench --device "$DEVICE" $QUICK --models resnet_unet,resnete_decoder_v3 \
            --batch "$@" --out "$OUT/benchmark-$DEVICE-$name.json" --overwrite
        say "bench $name exit $?"
    done
    say "done"
    exit 0
fi
python3 tools/gpu_data.py unpack .gpudata/nyu192 "$DATA" || exit 1

rows=$(python3 -c "from depthutils.study import pipeline_rows; print(' '.join(r.name for r in pipeline_rows()))")
[ -n "$rows" ] || { say "no rows: depthutils did not import"; exit 1; }
left=$((BUDGET - SECONDS - 150))  # the rows first (on 2026-12-04 all ten took 235 s); the bench gets what is left
((left >= 120)) || { say "only ${left} s left for the rows: raise BUDGET"; exit 1; }
say "rows, at most ${left} s: $rows"
mkdir -p "$RUNS/logs"
pids=() names=($rows)
for row in "${names[@]}"; do
    OMP_NUM_THREADS=2 timeout -k 15 "$left" python3 -m depthutils pipeline --profile "$PROFILE" --data "$DATA" \
        --out "$RUNS" --row "$row" >"$RUNS/logs/$row.log" 2>&1 &
    pids+=($!)
done
for k in "${!pids[@]}"; do  # each pid by name: a bare wait would also wait for the tee above, which never ends
    wait "${pids[$k]}"
    say "${names[$k]} exit $?"
done
for row in "${names[@]}"; do
    say "$row: $(tail -c 300 "$RUNS/logs/$row.log" | tr '\r' '\n' | grep -av '^\s*$' | tail -1)"
done
tar czf "$OUT/gpu-$PROFILE-runs.tgz" --exclude='*.pt' -C "$RUNS" .

bench_s=$((BUDGET - SECONDS - 15))
say "bench, at most ${bench_s} s"  # a cold H200 took over 200 s (cuDNN autotuning, first kernels), a warm one 137 s
timeout -k 10 "$bench_s" python3 -m depthutils bench --device "$DEVICE" $QUICK --out "$OUT/benchmark-$DEVICE.json" \
    --overwrite
say "bench exit $?"
say "done"
