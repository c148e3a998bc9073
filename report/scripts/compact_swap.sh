#!/usr/bin/env bash
# [compact] → [release]: put the finished compact final row into the study and ship it, in one go (from the
# repository root, with the venv):
#
#   bash report/scripts/compact_swap.sh RUN "NOTE"     # RUN: the finished final row (last.pt, results.json), e.g.
#                                             #   /work/compact/results/report-nyu/runs/compact
#
# 1. copies the row's config.json, history.csv and results.json into results/report-nyu/runs/compact;
# 2. exports RUN/last.pt over the shipped nyu-regnet-unet (fp16 safetensors + model card; NOTE goes on the card).
#    Do it once: every export adds 11.4 MB to git's history (25 MB budget, 22.9 MB after this one);
# 3. the comparison notebook over the committed rows → report/generated/report-nyu.md (Figure 3 stays as drawn:
#    the study's checkpoints are not on this machine);
# 4. the README's generated blocks; 5. the other-camera table of the shipped model.
# Then: read the diff, finish report section 4.9 and docs/STATUS.md, run tests/test_release.py (its slow test
# evaluates the shipped file on the real test set against the card), commit.
# Rehearsed on 2026-12-04 with the interim model's retrain run in a scratch clone (2 min); ran on 2026-12-05 for
# the final row (python -m depthutils ladder compact then records the validation choice behind the export's note).
set -euo pipefail
RUN=$(realpath "${1:?usage: bash report/scripts/compact_swap.sh RUN NOTE}")
NOTE=${2:?a sentence for the model card}
PY=${PY:-.venv/bin/python}
PAPERMILL=${PAPERMILL:-$(dirname "$PY")/papermill}
SHARED=${SHARED:-../shared/data}
ROOT=$PWD
[ -f "$RUN/last.pt" ] && [ -f "$RUN/results.json" ] || { echo "$RUN: no last.pt and results.json: not finished" >&2; exit 1; }
"$PY" -c "import json, sys; r = json.load(open(sys.argv[1])); c = r['config']
sys.exit(0 if r.get('epochs') == c['epochs'] and c['test_limit'] is None else
         f'{sys.argv[1]}: epoch {r.get(\"epochs\")} of {c[\"epochs\"]}, test_limit {c[\"test_limit\"]}: not the final row')" \
    "$RUN/results.json"

mkdir -p results/report-nyu/runs/compact
cp "$RUN"/{config.json,history.csv,results.json} results/report-nyu/runs/compact/
"$PY" -m depthutils export --run "$RUN" --name nyu-regnet-unet --overwrite --note "$NOTE"
"$PAPERMILL" -k python3 --cwd notebooks notebooks/08_compare.ipynb "$(mktemp --suffix .ipynb)" \
    -p runs_dir "$ROOT/results/report-nyu/runs" -p figures_dir "$ROOT/figures/report-nyu" \
    -p tables_path "$ROOT/report/generated/report-nyu.md" -p n_examples 6 -p profile report
sed -i "s#$ROOT/#./#g" report/generated/report-nyu.md # the notebook needs absolute paths; the table names them
"$PY" tools/readme_results.py
"$PY" tools/other_cameras.py --frames "$SHARED/rgbd_samples" --weights nyu-regnet-unet \
    --out report/generated/other-cameras-shipped.md --figure figures/report-nyu/other_cameras_shipped.png
git status --short
