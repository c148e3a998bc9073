"""Generate the thin notebooks in notebooks/ (run once after editing; then execute them with smoke defaults).

    python tools/make_notebooks.py && for nb in notebooks/*.ipynb; do
        papermill -k python3 --cwd notebooks "$nb" "$nb"; done

The parameters cells' defaults are the `smoke` settings, so the committed notebooks carry smoke outputs that
nbval re-checks in CI; the pipeline overrides them through papermill.
"""
from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

NB = Path(__file__).resolve().parents[1] / "notebooks"
CHECK = "# NBVAL_CHECK_OUTPUT\n"

TRAIN_PARAMS = '''# Parameters: literals only. Defaults = the tiny `smoke` settings that nbval re-checks;
# `python -m depthutils pipeline --profile cpu|full` overrides them through papermill.
model: str = "{model}"  # registry name (fixed for this notebook)
row_title: str = "{title}"  # the row of the report's table
data: str = "synthetic"  # synthetic, a .mat file or an RGB-D folder (empty: $DEPTHUTILS_DATA, else synthetic)
run_dir: str = "../runs/nbval/{run}"  # checkpoints, history.csv and results.json go here
figures_dir: str = "../runs/nbval/figures"  # where this notebook's PNGs go
loss: str = "l1"  # l1, berhu, ssim_l1, gradient, silog, or a sum such as silog+0.5*gradient
epochs: int = 1  # the report: {epochs}
image_size: int = 64  # model input, square, multiple of 32 (the report: 128)
batch_size: int = 4  # the report: 64
lr: float = 1e-4  # Adam learning rate
limit: int = 8  # first N training images (0: all)
test_limit: int = 4  # first N test images (0: all)
split: str = "report"  # report (1111/338) or official (795/654)
pretrained: str = "false"  # true, false or auto (ImageNet if cached or downloadable, else scratch)
seed: int = 0  # model init, split and augmentation
synth_count: int = 24  # synthetic scenes (synthetic data only)
synth_w: int = 96  # synthetic render width
synth_h: int = 64  # synthetic render height
profile: str = "smoke"  # recorded with the results'''

TRAIN_CELLS = [
    ("md", "# {title}\n\n{doc}\n\nThin notebook: the model, losses, data and loop live in `depthutils`; this notebook "
           "builds, fits, evaluates and plots."),
    ("code", "{params}"),
    ("code", "from pathlib import Path\n\nimport depthutils as du\nfrom depthutils import plots\nfrom depthutils.config import TrainConfig\n"
             "from depthutils.data import load_dataset\nfrom depthutils.train import fit, load_checkpoint, model_from_checkpoint, predict_samples\n\n"
             "cfg = TrainConfig(model=model, data=data or None, epochs=epochs, batch_size=batch_size, lr=lr, loss=loss,\n"
             "                  image_size=image_size, seed=seed, split=split, limit=limit or None, test_limit=test_limit or None,\n"
             "                  pretrained=pretrained, synth_count=synth_count, synth_size=(synth_w, synth_h),\n"
             "                  extra={{'profile': profile, 'row': row_title}})\n"
             "cfg.data = str(cfg.data) if cfg.data else du.data.resolve_data(None)\n"
             "run_dir, figures_dir = Path(run_dir), Path(figures_dir)"),
    ("code", CHECK + "ds = load_dataset(cfg.data, split=cfg.split, split_seed=cfg.seed, limit=cfg.limit, test_limit=cfg.test_limit,\n"
             "                  synth_count=cfg.synth_count, synth_size=cfg.synth_size)\n"
             "print(f\"{{ds.identity['name']}} ({{ds.identity['kind']}}): {{len(ds.train)}} train / {{len(ds.test)}} test pairs, \"\n"
             "      f\"stored at {{ds.rgb.shape[2]}}x{{ds.rgb.shape[1]}}; model input {{cfg.image_size}}; {{cfg.epochs}} epoch(s)\")"),
    ("code", "results = fit(cfg, run_dir, data=ds, overwrite=True, progress=False)\n"
             "print(f\"device: {{results['device']}}; encoder: {{results['pretrained']['used']}}; \"\n"
             "      f\"training time {{results['train_time_s']:.0f}} s\")"),
    ("md", "## Learning curves"),
    ("code", "fig = plots.learning_curves(run_dir / 'history.csv', title=f\"{{row_title}} ({{ds.identity['kind']}} data)\")\n"
             "plots.save(fig, figures_dir / f\"{{run_dir.name}}_curves.png\");"),
    ("md", "## Sample test predictions (one colour scale per row)"),
    ("code", "model = model_from_checkpoint(load_checkpoint(run_dir / 'last.pt'))\n"
             "rgb, gt, pred = predict_samples(model, ds, ds.test[:3], image_size=cfg.image_size, max_depth=cfg.max_depth)\n"
             "fig = plots.prediction_grid(rgb, gt, {{row_title: pred}})\n"
             "plots.save(fig, figures_dir / f\"{{run_dir.name}}_samples.png\");"),
    ("md", "## Test metrics of the last epoch"),
    ("code", CHECK + "m = results['metrics']\nprint(sorted(k for k in m if not k.startswith('eigen_')))"),
    ("code", "{{k: round(v, 4) for k, v in m.items() if isinstance(v, float)}}"),
]

ARCH = {
    "02_resnete_decoder_v1": ("resnete_decoder_v1", "ResNetE Decoder v1", "resnete_decoder_v1", 50),
    "03_resnete_decoder_v2": ("resnete_decoder_v2", "ResNetE Decoder v2", "resnete_decoder_v2", 25),
    "04_resnete_decoder_v3": ("resnete_decoder_v3", "ResNetE Decoder v3", "resnete_decoder_v3", 50),
    "05_resnet_unet": ("resnet_unet", "ResNet UNet, L1 loss", "resnet_unet", 50),
    "06_de_noskip": ("de_noskip", "DE NoSkip", "de_noskip", 50),
    "07_densenet_unet": ("densenet_unet", "DenseNet UNet", "densenet_unet", 100),
}


def _nb(cells: list[tuple[str, str]]) -> nbformat.NotebookNode:
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for kind, src in cells:
        cell = new_markdown_cell(src) if kind == "md" else new_code_cell(src)
        if kind == "code" and src.lstrip().startswith("# Parameters"):
            cell.metadata["tags"] = ["parameters"]
        nb.cells.append(cell)
    return nb


def training_notebook(name: str) -> nbformat.NotebookNode:
    from depthutils.models import get_spec

    model, title, run, epochs = ARCH[name]
    doc = " ".join(get_spec(model).builder.__doc__.split())
    if model == "resnet_unet":
        doc += (" The pipeline runs this notebook three times, with `loss` = `l1`, `berhu` and `ssim_l1` "
                "(the report's three ResNet UNet rows).")
    params = TRAIN_PARAMS.format(model=model, title=title, run=run, epochs=epochs)
    return _nb([(k, s.format(title=title, doc=doc, params=params)) for k, s in TRAIN_CELLS])


DATA_CELLS = [
    ("md", "# 01 Data exploration\n\nCounts and splits, depth statistics, scene types (where the file has them), "
           "sample pairs and the report's augmentation."),
    ("code", '''# Parameters: literals only (defaults = smoke settings)
data: str = "synthetic"  # synthetic, a .mat file or an RGB-D folder (empty: $DEPTHUTILS_DATA, else synthetic)
figures_dir: str = "../runs/nbval/figures"  # where the PNGs go
image_size: int = 64  # augmentation output size, square
synth_count: int = 24  # synthetic scenes (synthetic data only)
synth_w: int = 96  # synthetic render width
synth_h: int = 64  # synthetic render height
profile: str = "smoke"  # recorded in the figure titles'''),
    ("code", "from pathlib import Path\n\nimport numpy as np\n\nfrom depthutils import plots\n"
             "from depthutils.data import DataError, load_dataset, read_nyu_scene_types, resolve_data\n\n"
             "data = resolve_data(data or None)\nfigures_dir = Path(figures_dir)\n"
             "ds = load_dataset(data, split='report', synth_count=synth_count, synth_size=(synth_w, synth_h))\n"
             "kind = ds.identity['kind']"),
    ("md", "## Counts and splits"),
    ("code", CHECK + "print(f\"{ds.identity['name']} ({kind}): {len(ds.rgb)} pairs at {ds.rgb.shape[2]}x{ds.rgb.shape[1]}\")\n"
             "print(f\"report split (seed 0): {len(ds.train)} train / {len(ds.test)} test\")\n"
             "try:\n    off = load_dataset(data, split='official', limit=0, test_limit=0, synth_count=synth_count,\n"
             "                       synth_size=(synth_w, synth_h)).identity\n"
             "    print(f\"official split: {len(off['train_indices']) if off['n_train'] else 'n/a'} / \"\n"
             "          f\"{off['n_pairs_in_source']} pairs listed in splits.mat\")\n"
             "except DataError as e:\n    print('official split: not available:', e)"),
    ("md", "## Depth histogram and valid-pixel ratio"),
    ("code", CHECK + "valid = ds.depth > 0\nprint(f'valid-pixel ratio: mean {valid.mean():.3f}')\n"
             "print(f'depth range of valid pixels: {ds.depth[valid].min():.2f} to {ds.depth[valid].max():.2f} m')"),
    ("code", "fig = plots.depth_histogram(ds.depth, title=f'{kind} data')\nplots.save(fig, figures_dir / 'data_histogram.png');"),
    ("md", "## Scene types\n\nThe official `.mat` stores `sceneTypes`; RGB-D folders and the synthetic rooms have none."),
    ("code", "types = read_nyu_scene_types(data) if str(data).endswith('.mat') and data != 'synthetic' else None\n"
             "if types:\n    names, counts = np.unique(types, return_counts=True)\n"
             "    print(dict(sorted(zip(names, counts.tolist()), key=lambda t: -t[1])[:15]))\n"
             "else:\n    print('scene types: not recorded in this data')"),
    ("md", "## Sample pairs"),
    ("code", "fig = plots.sample_pairs(ds.rgb, ds.depth, list(range(min(4, len(ds.rgb)))))\n"
             "plots.save(fig, figures_dir / 'data_samples.png');"),
    ("md", "## Augmentation: the same geometry for RGB and depth\n\nRotation ±5°, a random square crop of the short "
           "side (480×480 of 640×480), flip p = 0.5, brightness ×[0.8, 1.2]; depth resampled by nearest neighbour."),
    ("code", "fig = plots.augmentation_examples(ds.rgb[0], ds.depth[0], out_size=(image_size, image_size))\n"
             "plots.save(fig, figures_dir / 'data_augmentation.png');"),
]

COMPARE_CELLS = [
    ("md", "# 08 Comparison: the report's table (Figure 2), standard metrics and Figure 3"),
    ("code", '''# Parameters: literals only (defaults = smoke settings)
runs_dir: str = "../runs/nbval"  # one sub-folder per table row, written by notebooks 02 to 07
figures_dir: str = "../runs/nbval/figures"  # where the PNGs go
tables_path: str = "../runs/nbval/tables.md"  # the generated Markdown tables for report/
n_examples: int = 2  # test images in the prediction figure
profile: str = "smoke"  # recorded with the tables'''),
    ("code", "from pathlib import Path\n\nfrom IPython.display import Markdown, display\n\nfrom depthutils import plots\n"
             "from depthutils.compare import collect_results, provenance, report_table, standard_table, to_markdown, write_report_tables\n"
             "from depthutils.config import TrainConfig\nfrom depthutils.data import load_dataset\n"
             "from depthutils.train import load_checkpoint, model_from_checkpoint, predict_samples\n\n"
             "figures_dir = Path(figures_dir)\nrows = collect_results(runs_dir, extra_rows=['improved'])\n"
             "done = [r for r in rows if r['results']]"),
    ("code", CHECK + "print([r['row'] for r in rows])\nprint(f'{len(done)} of {len(rows)} rows have results')"),
    ("md", "## Figure 2 rebuilt\n\nThe report does not say how it normalised depth. We show both readings: "
           "**global** (÷ 10 m, the fixed maximum used for training) and **per image** (min–max of each ground truth). "
           "The global reading is the one set beside the report's printed values: the report describes depth "
           "normalised to [0, 1] for training with one fixed range, and a per-image min–max stretch inflates the "
           "same errors by the ratio computed below, which puts per-image values far from the printed ones."),
    ("code", CHECK + "head, body = report_table(rows)\nprint(head)"),
    ("code", "display(Markdown(to_markdown(head, body)))\n"
             "ratios = [r['results']['metrics']['l1_per_image'] / r['results']['metrics']['l1_global'] for r in done]\n"
             "if ratios:\n    print(f'per-image L1 / global L1: median {sorted(ratios)[len(ratios) // 2]:.2f} over {len(ratios)} rows')"),
    ("md", "## Standard metrics (metres, Eigen crop), edge sharpness, parameters, training time"),
    ("code", CHECK + "head2, body2 = standard_table(rows)\nprint(head2)"),
    ("code", "display(Markdown(to_markdown(head2, body2)))\nprovenance(rows)"),
    ("md", "## Figure 3: the same test images through every model"),
    ("code", "first = TrainConfig.from_dict(done[0]['results']['config'])\n"
             "ds = load_dataset(first.data, split=first.split, split_seed=first.seed, limit=0, test_limit=n_examples,\n"
             "                  synth_count=first.synth_count, synth_size=first.synth_size)\npreds = {}\n"
             "for r in done:\n    model = model_from_checkpoint(load_checkpoint(r['results']['checkpoint']))\n"
             "    rgb, gt, preds[r['row']] = predict_samples(model, ds, ds.test, image_size=first.image_size,\n"
             "                                               max_depth=first.max_depth)\n"
             "fig = plots.prediction_grid(rgb, gt, preds, title=f\"{ds.identity['name']} ({ds.identity['kind']}), profile {profile}\")\n"
             "plots.save(fig, figures_dir / 'figure3_predictions.png');"),
    ("code", "curves = {r['row']: figures_dir / f\"{Path(r['results']['checkpoint']).parent.name}_curves.png\" for r in done}\n"
             "figs = {'Figure 3: predictions': figures_dir / 'figure3_predictions.png',\n"
             "        'Data: depth histogram': figures_dir / 'data_histogram.png',\n"
             "        'Data: augmentation': figures_dir / 'data_augmentation.png',\n"
             "        **{f'Learning curves: {k}': v for k, v in curves.items() if v.exists()}}\n"
             "write_report_tables(rows, tables_path, {k: v for k, v in figs.items() if Path(v).exists()})"),
]


def main() -> None:
    NB.mkdir(exist_ok=True)
    nbformat.write(_nb(DATA_CELLS), NB / "01_data_exploration.ipynb")
    for name in ARCH:
        nbformat.write(training_notebook(name), NB / f"{name}.ipynb")
    nbformat.write(_nb(COMPARE_CELLS), NB / "08_compare.ipynb")
    print("wrote", sorted(p.name for p in NB.glob("*.ipynb")))


if __name__ == "__main__":
    main()
