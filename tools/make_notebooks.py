"""Generate the thin notebooks in notebooks/ (run once after editing; then execute them with smoke defaults).

    python tools/make_notebooks.py && for nb in notebooks/*.ipynb; do
        papermill -k python3 --cwd notebooks "$nb" "$nb"; done

Only notebooks whose cells changed are rewritten; executing all of them (as above) is always safe, executing only
the rewritten ones is enough when 02–07 have left their smoke runs in runs/nbval.

The parameters cells' defaults are the `smoke` settings, so the committed notebooks carry smoke outputs that
nbval re-checks in CI; the pipeline overrides them through papermill. Cell sources are plain Python; the only
substitution is ``__NAME__`` placeholders.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

NB = Path(__file__).resolve().parents[1] / "notebooks"
# Cell kinds: "md", "code", "check" (code whose output nbval compares: tagged, shown) and "probe" (a check for
# the tests only: tagged, and its source and output hidden from the reader).
CHECK = "check"
PROBE = "probe"

TRAIN_PARAMS = """# Parameters: literals only. Names from `model` on are TrainConfig fields (`depthutils train --help`).
# Defaults = the tiny `smoke` settings that nbval re-checks; `python -m depthutils pipeline` overrides them.
row_title: str = "__TITLE__"  # the row of the report's table
run_dir: str = "../runs/nbval/__RUN__"  # checkpoints, history.csv and results.json go here
figures_dir: str = "../runs/nbval/figures"  # where this notebook's PNGs go
resume: bool = False  # True: continue the run in run_dir (the pipeline); False: start it afresh
profile: str = "smoke"  # recorded with the results
model: str = "__MODEL__"  # registry name (fixed for this notebook)
data: str = "synthetic"  # synthetic, a .mat file or an RGB-D folder
gt_data: "Optional[str]" = None  # full-resolution ground truth for the standard protocol (None: the data itself)
loss: str = "l1"  # l1, berhu, ssim_l1, gradient, silog, or a sum such as silog+0.5*gradient
epochs: int = 1  # the report: __EPOCHS__
image_size: str = "64"  # model input, N or HxW, multiples of 32 (the report: 128)
batch_size: int = 4  # the report: 64
limit: "Optional[int]" = 8  # first N training images (None: all)
test_limit: "Optional[int]" = 4  # first N test images (None: all)
split: str = "report"  # report (seeded random 1111/338) or official (795/654)
pretrained: str = "false"  # true, false or auto (ImageNet if cached or downloadable, else scratch)
precision: str = "auto"  # auto (bf16 on CUDA and on CPUs with native bf16), bf16 or fp32
synth_count: int = 24  # synthetic scenes (synthetic data only)
synth_size: str = "64x96"  # HxW of the synthetic renders"""

TRAIN_CELLS = [
    (
        "md",
        "# __TITLE__\n\n__DOC__\n\nThin notebook: the model, losses, data and loop live in `depthutils`; this "
        "notebook builds the run's configuration, trains (or resumes) it, and shows what it learnt.",
    ),
    ("code", "__PARAMS__"),
    (
        "code",
        """from pathlib import Path

from IPython.display import Markdown, display

from depthutils import plots
from depthutils.baselines import baselines_for_run
from depthutils.compare import baseline_rows, standard_table, to_markdown
from depthutils.config import TrainConfig
from depthutils.models import build_model, summary_markdown
from depthutils.run_folder import load_checkpoint, model_from_checkpoint
from depthutils.train import fit, load_data, predict_samples

# The parameters above that are TrainConfig fields make the run's configuration; the rest say where it goes.
cfg = TrainConfig.from_dict({**globals(), "data": data or None, "extra": {"profile": profile, "row": row_title}})
run_dir, figures_dir = Path(run_dir), Path(figures_dir)
cfg""",
    ),
    (
        CHECK,
        """ds = load_data(cfg)
print(f"{ds.identity['name']} ({ds.identity['kind']}): {len(ds.train)} train / {len(ds.val)} validation / "
      f"{len(ds.test)} test pairs, stored at {ds.rgb.shape[1]}x{ds.rgb.shape[2]} (HxW); input {cfg.image_size}")""",
    ),
    ("md", "## The model\n\nEncoder, decoder and head, block by block, for one image of the input size."),
    ("code", """display(Markdown(summary_markdown(build_model(cfg.model, head=cfg.head), cfg.image_size)))"""),
    (
        "md",
        "## Training\n\n"
        "- **Data on the device**: the training images stay there as uint8; each step draws a batch of "
        "`batch_size` and augments it there: rotation θ ∈ [−5°, 5°], a random crop of the output's aspect ratio "
        "(the report's 480×480 of 640×480 for a square input), a horizontal flip with p = ½ and brightness "
        "× c, c ∈ [0.8, 1.2]; depth is resampled by nearest neighbour, so invalid pixels never blend in.\n"
        "- **Target**: depth d ÷ 10 m, so ŷ and y lie in [0, 1]; M is the set of valid pixels.\n"
        "- **Loss** (`loss`): L1 = mean over M of |ŷ − y|; BerHu = |r| for |r| ≤ c, (r² + c²) / 2c above, "
        "c = 0.2 · max |r| in the batch; SSIM+L1 = (1 − SSIM(ŷ, y)) / 2 + L1.\n"
        "- **Optimiser**: Adam (β = 0.9, 0.999), learning rate η_e = η · ½ (1 + cos(π e / E)) in epoch e of E "
        "(cosine), η = 1e-3 unless set otherwise (`docs/CHOICES.md` gives the sweep).\n"
        "- **Evaluation**: validation and test every few epochs at the model's resolution; `best.pt` is chosen "
        "on validation only, and the results are the last epoch's.",
    ),
    (
        "code",
        """results = fit(cfg, run_dir, data=ds, resume=resume, overwrite=not resume, progress=False)
print(f"device: {results['device']}; precision: {results['precision']}; encoder: {results['pretrained']['used']}; "
      f"training time {results['train_time_s'] / 60:.1f} min")""",
    ),
    ("md", "## Learning curves"),
    (
        "code",
        """fig = plots.learning_curves(run_dir / "history.csv", title=f"{row_title} ({ds.identity['kind']} data)")
plots.save(fig, figures_dir / f"{run_dir.name}_curves.png");""",
    ),
    (
        "md",
        "## Against the image-blind baselines\n\nStandard protocol (ground truth at full resolution, Eigen crop, "
        "flip TTA), with 95% bootstrap intervals over the test images.",
    ),
    (
        "code",
        """base = baselines_for_run(results, run_dir.parent / "baselines.json")
this = {"row": row_title, "results": results, "kind": "model"}
display(Markdown(to_markdown(*standard_table([this, *baseline_rows(base)]))))""",
    ),
    ("md", "## Sample test predictions (one colour scale per row)"),
    (
        "code",
        """model = model_from_checkpoint(load_checkpoint(run_dir / "last.pt"))
rgb, gt, pred = predict_samples(model, ds, ds.test[:3], image_size=cfg.image_size, max_depth=cfg.max_depth)
fig = plots.prediction_grid(rgb, gt, {row_title: pred})
plots.save(fig, figures_dir / f"{run_dir.name}_samples.png");""",
    ),
    (PROBE, """print(sorted(results["protocols"]), sorted(results["protocols"]["standard"]["ci"]))"""),
    (
        "md",
        "## What to read here\n\n- **Curves**: a training loss that keeps falling while the validation and test "
        "L1 flatten or rise is over-fitting the 795 images; a test L1 that stays at the baselines' level means the "
        "model learnt the average room, not depth from the image.\n- **Table**: the row has learnt depth from the "
        "image only where its interval lies clear of both baselines' intervals.\n- **Pictures**: a model at "
        "baseline level paints the same floor-to-wall gradient into every image; one that learnt shows the "
        "objects' outlines.",
    ),
]

ARCH = {
    "02_resnete_decoder_v1": ("resnete_decoder_v1", "ResNetE Decoder v1", "resnete_decoder_v1"),
    "03_resnete_decoder_v2": ("resnete_decoder_v2", "ResNetE Decoder v2", "resnete_decoder_v2"),
    "04_resnete_decoder_v3": ("resnete_decoder_v3", "ResNetE Decoder v3", "resnete_decoder_v3"),
    "05_resnet_unet": ("resnet_unet", "ResNet UNet, L1 loss", "resnet_unet"),
    "06_de_noskip": ("de_noskip", "DE NoSkip", "de_noskip"),
    "07_densenet_unet": ("densenet_unet", "DenseNet UNet", "densenet_unet"),
}


def _sub(text: str, values: dict[str, str]) -> str:
    for k, v in values.items():
        text = text.replace(f"__{k}__", v)
    return text


def _nb(cells: list[tuple[str, str]]) -> nbformat.NotebookNode:
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for kind, src in cells:
        cell = new_markdown_cell(src) if kind == "md" else new_code_cell(src)
        if kind == "code" and src.lstrip().startswith("# Parameters"):
            cell.metadata["tags"] = ["parameters"]
        if kind in (CHECK, PROBE):
            cell.metadata["tags"] = ["nbval-check-output"]
        if kind == PROBE:
            cell.metadata["jupyter"] = {"source_hidden": True, "outputs_hidden": True}
        nb.cells.append(cell)
    return nb


def training_notebook(name: str) -> nbformat.NotebookNode:
    from depthutils.config import REPORT_EPOCHS
    from depthutils.models import get_spec

    model, title, run = ARCH[name]
    doc = " ".join(get_spec(model).builder.__doc__.split())
    if model == "resnet_unet":
        doc += (
            " The pipeline runs this notebook four times: with `loss` = `l1`, `berhu` and `ssim_l1` (the "
            "report's three ResNet UNet rows), and with `l1` on the report's random split."
        )
    values = {"MODEL": model, "TITLE": title, "RUN": run, "EPOCHS": str(REPORT_EPOCHS[model]), "DOC": doc}
    params = _sub(TRAIN_PARAMS, values)
    return _nb([(k, _sub(s, {**values, "PARAMS": params})) for k, s in TRAIN_CELLS])


DATA_CELLS = [
    (
        "md",
        "# 01 Data exploration\n\nCounts and splits, depth statistics, scene types (where the file has them), "
        "sample pairs and the augmentation the models train with.",
    ),
    (
        "code",
        """# Parameters: literals only (defaults = smoke settings)
data: str = "synthetic"  # synthetic, a .mat file or an RGB-D folder (empty: $DEPTHUTILS_DATA, else synthetic)
figures_dir: str = "../runs/nbval/figures"  # where the PNGs go
image_size: str = "64"  # augmentation output size, N or HxW
synth_count: int = 24  # synthetic scenes (synthetic data only)
synth_size: str = "64x96"  # HxW of the synthetic renders
profile: str = "smoke"  # recorded in the figure titles""",
    ),
    (
        "code",
        """from pathlib import Path

import numpy as np

from depthutils import plots
from depthutils.config import parse_size
from depthutils.data import DataError, load_dataset, read_nyu_scene_types, resolve_data

data = resolve_data(data or None)
figures_dir = Path(figures_dir)
synth = dict(synth_count=synth_count, synth_size=parse_size(synth_size))
ds = load_dataset(data, split="report", **synth)
kind = ds.identity["kind"]""",
    ),
    ("md", "## Counts and splits"),
    (
        CHECK,
        """h, w = ds.rgb.shape[1:3]
print(f"{ds.identity['name']} ({kind}): {len(ds.rgb)} pairs at {h}x{w} (HxW)")
print(f"report split (seed 0): {len(ds.train)} train / {len(ds.test)} test")
try:
    off = load_dataset(data, split="official", val_fraction=0.1, limit=1, test_limit=1, **synth).identity["split_sizes"]
    print(f"official split: {off['train'] + off['val']} train (of which {off['val']} are held out for validation "
          f"in contiguous blocks) / {off['test']} test")
except DataError as e:
    print("official split: not available:", e)""",
    ),
    ("md", "## Depth histogram and valid-pixel ratio"),
    (
        CHECK,
        """valid = ds.depth > 0
print(f"valid-pixel ratio: mean {valid.mean():.3f}")
print(f"depth range of valid pixels: {ds.depth[valid].min():.2f} to {ds.depth[valid].max():.2f} m")""",
    ),
    (
        "code",
        """fig = plots.depth_histogram(ds.depth, title=f"{kind} data")
plots.save(fig, figures_dir / "data_histogram.png");""",
    ),
    (
        "md",
        "## Scene types\n\nThe official `.mat` stores `sceneTypes`; RGB-D folders and the synthetic rooms have none.",
    ),
    (
        "code",
        """types = read_nyu_scene_types(data) if str(data).endswith(".mat") and data != "synthetic" else None
if types:
    names, counts = np.unique(types, return_counts=True)
    print(dict(sorted(zip(names, counts.tolist()), key=lambda t: -t[1])[:15]))
else:
    print("scene types: not recorded in this data")""",
    ),
    ("md", "## Sample pairs"),
    (
        "code",
        """fig = plots.sample_pairs(ds.rgb, ds.depth, list(range(min(4, len(ds.rgb)))))
plots.save(fig, figures_dir / "data_samples.png");""",
    ),
    (
        "md",
        "## Augmentation: the same geometry for RGB and depth\n\nRotation ±5°, a random crop of the output's "
        "aspect ratio (for a square output the report's 480×480 of 640×480), flip p = 0.5, brightness "
        "×[0.8, 1.2]; depth resampled by nearest neighbour, so no invalid pixel is blended into a valid one.",
    ),
    (
        "code",
        """fig = plots.augmentation_examples(ds.rgb[0], ds.depth[0], out_size=parse_size(image_size))
plots.save(fig, figures_dir / "data_augmentation.png");""",
    ),
    (
        "md",
        "## What to read here\n\nThe histogram says which depths the models must cover (NYU: mostly 1–5 m); "
        "the augmentation pictures show that RGB and depth move together and that the rotated-in corners "
        "are invalid (white), never zero-depth targets.",
    ),
]

COMPARE_CELLS = [
    ("md", "# 08 Comparison: the report's table (Figure 2), standard metrics with baselines, and Figure 3"),
    (
        "code",
        """# Parameters: literals only (defaults = smoke settings)
runs_dir: str = "../runs/nbval"  # one sub-folder per table row, written by notebooks 02 to 07
figures_dir: str = "../runs/nbval/figures"  # where the PNGs go
tables_path: str = "../runs/nbval/tables.md"  # the generated Markdown tables for report/
n_examples: int = 2  # test images in the prediction figure
profile: str = "smoke"  # recorded with the tables""",
    ),
    (
        "code",
        """from pathlib import Path

from IPython.display import Markdown, display

from depthutils import plots
from depthutils.baselines import baselines_for_run
from depthutils.compare import (baseline_rows, baseline_verdicts, collect_results, pairwise_table,
                                printed_against_baseline, provenance, question_table, report_table, standard_table,
                                to_markdown, write_report_tables)
from depthutils.config import TrainConfig
from depthutils.run_folder import load_checkpoint, model_from_checkpoint, read_history
from depthutils.train import load_data, predict_samples

figures_dir, runs_dir = Path(figures_dir), Path(runs_dir)
rows = collect_results(runs_dir)
done = [r for r in rows if r["results"]]
official = [r for r in done if r["results"]["dataset"]["split"] == "official"] or done
base = baselines_for_run(official[0]["results"], runs_dir / "baselines.json") if done else None
table = rows + baseline_rows(base)
# a row on another split (the report's random one) is judged against the baselines of its own test images
for split in sorted({r["results"]["dataset"]["split"] for r in done} - {official[0]["results"]["dataset"]["split"]}):
    first = next(r["results"] for r in done if r["results"]["dataset"]["split"] == split)
    table += baseline_rows(baselines_for_run(first, runs_dir / f"baselines_{split}.json"), f"{split} split")""",
    ),
    (
        CHECK,
        """print([r["row"] for r in table])
print(f"{len(done)} of {len(rows)} rows have results")""",
    ),
    (
        "md",
        "## Figure 2 rebuilt, with the baselines\n\nThe report does not say how it normalised depth for its L1 and "
        "MSE. Both readings are shown: **÷ 10 m** (both maps divided by the fixed 10 m maximum) and **per image** "
        "(both maps mapped by the ground truth's own min–max). The baselines' rows say what each reading's "
        "numbers mean: a printed value is evidence of learnt depth only if it is clearly below the baselines' "
        "value under the same reading.",
    ),
    (
        "code",
        """display(Markdown(to_markdown(*report_table(table))))
if base:
    for r in base["rows"].values():
        m = r["protocols"]["report"]
        print(f"{r['title']}: L1 ÷10 m {m['l1_global']:.4f}, per image {m['l1_per_image']:.4f}; "
              f"MSE ÷10 m {m['mse_global']:.4f}, per image {m['mse_per_image']:.4f}")""",
    ),
    (
        "md",
        "What the report's printed numbers would mean: under each reading, how many of its printed L1 and "
        "MSE values lie below the mean-map baseline computed here (the same test protocol, this data and split). "
        "A printed value above the baseline would be no better than the average room under that reading.",
    ),
    (
        "code",
        """for line in printed_against_baseline(table):
    print(line)""",
    ),
    ("md", "## Standard metrics, with 95% intervals and the baselines"),
    (
        "code",
        """display(Markdown(to_markdown(*standard_table(table))))
provenance(table)""",
    ),
    (
        "md",
        "## Against the baselines, and which differences are resolved\n\nThe study's target: every trained row "
        "beats both image-blind baselines on δ1 and AbsRel with its interval clear of theirs. Then, for every pair of "
        "rows scored on the same test images, the paired per-image difference of δ1 (line − column): a ✓ marks "
        "a difference whose 95% bootstrap interval excludes zero.",
    ),
    (
        "code",
        """display(Markdown(to_markdown(*baseline_verdicts(table))))
display(Markdown(to_markdown(*pairwise_table(table, "delta1"))))""",
    ),
    (
        "md",
        "The report's design questions (which loss, which skips, which encoder) are pairs of its rows. Each "
        "difference b − a below has its paired 95% interval; the question names what else differs between the two "
        "networks, since the report's rows often change more than one thing at a time.",
    ),
    ("code", """display(Markdown(to_markdown(*question_table(table))))"""),
    ("md", "## Figure 3: the same test images through every model"),
    (
        "code",
        """if done:
    first = TrainConfig.from_dict(official[0]["results"]["config"])
    ds = load_data(TrainConfig.from_dict({**first.to_dict(), "limit": 2, "test_limit": n_examples}))
    preds = {}
    for r in [r for r in done if r in official]:
        model = model_from_checkpoint(load_checkpoint(runs_dir / r["run"] / r["results"]["checkpoint"]))
        cfg = TrainConfig.from_dict(r["results"]["config"])
        rgb, gt, preds[r["row"]] = predict_samples(model, ds, ds.test, image_size=cfg.image_size,
                                                   max_depth=cfg.max_depth)
    fig = plots.prediction_grid(rgb, gt, preds, title=f"{ds.identity['name']} ({ds.identity['kind']}), "
                                f"profile {profile}, {first.split} split, the first test images")
    plots.save(fig, figures_dir / "figure3_predictions.png");""",
    ),
    (
        "md",
        "## Learning curves of every row\n\nThe evaluated epochs of every row on the primary split, at the model's "
        "resolution: the validation L1 that chose `best.pt`, and the test δ1. The dashed line is the mean depth "
        "map under the same protocol on the test images.",
    ),
    (
        "code",
        """histories = {r["row"]: read_history(runs_dir / r["run"] / "history.csv") for r in done if r in official}
mean_map = base["rows"]["mean_map"]["protocols"]["report"] if base else None
fig = plots.curves_overview(histories, mean_map, title=f"profile {profile}: every row's evaluated epochs")
plots.save(fig, figures_dir / "learning_curves.png");""",
    ),
    (
        "code",
        """curves = {r["row"]: figures_dir / f"{r['run']}_curves.png" for r in done}
figs = {"Figure 3: predictions": figures_dir / "figure3_predictions.png",
        "Learning curves of every row": figures_dir / "learning_curves.png",
        "Data: depth histogram": figures_dir / "data_histogram.png",
        "Data: augmentation": figures_dir / "data_augmentation.png",
        **{f"Learning curves: {k}": v for k, v in curves.items()}}
write_report_tables(table, tables_path, {k: v for k, v in figs.items() if Path(v).exists()})""",
    ),
    (
        "md",
        "## What to read here\n\n- Rank two rows only where the test set separates them: their intervals in "
        "the standard table do not overlap (the strict reading), or their paired difference has a ✓ (the same "
        "images, so image difficulty cancels); otherwise the test set cannot tell them apart.\n- A row whose "
        "intervals touch the baselines' "
        "has not learnt much beyond the average room; its learning curve shows whether it was still improving "
        "when its schedule ended.\n- In Figure 3, each image row has one colour scale (its ground truth's range), "
        "so the columns compare directly.",
    ),
]


def _source(nb: nbformat.NotebookNode) -> list:
    """What a notebook is made of, without outputs: each cell's type, tags and source."""
    return [(c.cell_type, c.metadata.get("tags", []), c.source) for c in nb.cells]


def main() -> None:
    """Write the notebooks whose cells changed; the others keep their executed outputs (re-run a written one with
    papermill in place, see docs/ARCHITECTURE.md)."""
    NB.mkdir(exist_ok=True)
    notebooks = {
        "01_data_exploration.ipynb": _nb(DATA_CELLS),
        **{f"{name}.ipynb": training_notebook(name) for name in ARCH},
        "08_compare.ipynb": _nb(COMPARE_CELLS),
    }
    with tempfile.TemporaryDirectory() as tmp:
        for name, nb in notebooks.items():
            nbformat.write(nb, Path(tmp) / name)
        # the cells as ruff formats them, so that the lint in CI reads the generated notebooks as it reads the code
        subprocess.run([sys.executable, "-m", "ruff", "format", "--quiet", tmp], check=True)
        written = []
        for name in notebooks:
            new, old = Path(tmp) / name, NB / name
            if old.exists() and _source(nbformat.read(new, 4)) == _source(nbformat.read(old, 4)):
                continue
            shutil.copyfile(new, old.with_suffix(".tmp"))
            old.with_suffix(".tmp").replace(old)
            written.append(name)
    print("wrote", written or "nothing (every notebook's cells are unchanged)")


if __name__ == "__main__":
    main()
