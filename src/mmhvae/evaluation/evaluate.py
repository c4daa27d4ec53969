"""The evaluation pipeline of EVALUATION.md (protocol v1): models x cases x scenarios -> reports.

For each case: load it once; normalise every available modality on the ORIGINAL grid (the
ground truth of the protocol) and prepare it once per model geometry. For each model, run
the model once per input subset S (every target of S comes out of the same call), map the
output to [0, 1], put it back on the original grid and score it against the ground truth.
Volumes are reoriented to RAS voxel order (an exact permutation and flips) before scoring,
so the axial axis is the last one, as evaluation/metrics.py expects.

The ``copy`` reference (evaluation/copy_reference.py) is scored in the same table: its
correlation table comes first (from --copy-from, the run's recorded training data, or a first
pass over the evaluated cases, flagged), then scenario (S, t) copies the input of S most
correlated with t; each (input, target) pair is scored once per case.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from nibabel import orientations
from tqdm import tqdm

from mmhvae.config import Config
from mmhvae.data.case import Case, load_case
from mmhvae.data.layouts import CaseFiles, Split, discover_cases
from mmhvae.data.preprocess import Prepared, normalised_volumes, prepare_case
from mmhvae.errors import (
    ConfigError,
    DataError,
    OutputExistsError,
    WeightsMissingError,
    failure_message,
)
from mmhvae.evaluation import metrics
from mmhvae.evaluation.copy_reference import (
    CorrelationTable,
    case_correlations,
    correlation_table,
)
from mmhvae.evaluation.scenarios import ScenarioMode, scenarios
from mmhvae.evaluation.summary import (
    OUTPUT_NAMES,
    PROTOCOL_VERSION,
    Row,
    TargetView,
    all_summaries,
    write_montages,
    write_outputs,
)
from mmhvae.evaluation.threads import scoring_pool
from mmhvae.methods.base import Method
from mmhvae.methods.sampling import SamplingOptions
from mmhvae.runs import RunFolder, load_method
from mmhvae.synthesis.case import back_to_case_grid, model_inputs
from mmhvae.synthesis.dataset import default_batch_size, default_device
from mmhvae.synthesis.slices import brain_slices, synthesize_slices_patterns

log = logging.getLogger(__name__)

COPY_NAME = "copy"


@dataclass(frozen=True)
class EvaluationOptions:
    """Settings of one evaluation (the CLI's options)."""

    scenarios: str = "all"
    # None: the run's own sampling config (``config.sampling``)
    temperature: float | None = None
    samples: int | None = None
    seed: int | None = None
    device: str | None = None
    batch_size: int | None = None
    cases: tuple[str, ...] | None = None
    copy: bool = True
    copy_from: str | None = None
    lpips: bool = True
    lpips_weights: str | None = None
    layout: str | None = None
    split: str | None = None  # nnU-Net: tr or ts; None: imagesTs when present, else imagesTr
    overwrite: bool = False
    montages: bool = True
    progress: bool = True


@dataclass
class EvaluationResult:
    rows: list[Row]
    summaries: dict[str, list[Row]]
    metadata: dict[str, Any]
    notes: list[str]
    paths: dict[str, Path] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)  # case id -> why it was not scored


@dataclass
class LoadedModel:
    """A model to score: its table name, the method, its run config and where it came from."""

    name: str
    method: Method
    config: Config
    path: str | Path


def model_name(path: str | Path) -> str:
    """A run folder's name; for RUN/checkpoints/x.pt also RUN's name; else the file's stem."""
    path = Path(path)
    if path.is_dir() or not path.suffix:
        return path.resolve().name
    if path.parent.name == RunFolder.checkpoint_dir:
        return path.parent.parent.resolve().name
    return path.stem


def parse_model_specs(specs: Sequence[str | Path]) -> list[tuple[str, Path]]:
    """``path`` or ``name=path`` -> (name, path); names must be unique and not ``copy``."""
    parsed: list[tuple[str, Path]] = []
    for spec in specs:
        name, sep, path = str(spec).partition("=")
        if not sep or not name or "/" in name:
            name, path = model_name(spec), str(spec)
        parsed.append((name.strip(), Path(path)))
    names = [n for n, _ in parsed]
    for name in names:
        if name == COPY_NAME or names.count(name) > 1:
            raise ConfigError(
                f"--model: the name {name!r} is "
                + ("reserved for the copy reference" if name == COPY_NAME else "used twice")
                + " (name models with --model NAME=PATH)"
            )
    return parsed


def load_models(specs: Sequence[str | Path], device: str) -> list[LoadedModel]:
    """Load every ``path`` / ``name=path`` run or checkpoint (CheckpointError if one fails)."""
    loaded = []
    for name, path in parse_model_specs(specs):
        method, config, _ = load_method(path, device)
        loaded.append(LoadedModel(name, method, config, path))
    return loaded


def recorded_training_data(path: str | Path) -> str | None:
    """The training data a run recorded in its run record, or None."""
    return RunFolder.of(path).training_data()


@dataclass
class _Scored:
    """Ground truth of one case in RAS voxel order: normalised volumes, mask, tumour labels,
    and per target the truth prepared once for every prediction scored against it."""

    truth: dict[str, np.ndarray]
    mask: np.ndarray
    tumour: np.ndarray | None
    ornt: np.ndarray  # original voxel axes -> RAS
    brain: np.ndarray  # the mask in the original voxel order
    references: dict[str, metrics.Reference] = field(default_factory=dict)
    # the scoring threads (evaluation/threads.py) ask for references: each is built once
    _building: threading.Lock = field(default_factory=threading.Lock)

    def ras(self, volume: np.ndarray) -> np.ndarray:
        return orientations.apply_orientation(volume, self.ornt)

    def reference(self, target: str) -> metrics.Reference:
        with self._building:
            if target not in self.references:
                self.references[target] = metrics.Reference.of(
                    self.truth[target], self.mask, self.tumour
                )
            return self.references[target]


def evaluate(
    models: Sequence[str | Path],
    data: str | Path,
    out: str | Path,
    options: EvaluationOptions = EvaluationOptions(),
) -> EvaluationResult:
    """Evaluate runs (``path`` or ``name=path``) on ``data`` and write the reports to ``out``."""
    device = options.device or default_device()
    return evaluate_models(load_models(models, device), data, out, options)


def evaluate_models(
    models: Sequence[LoadedModel],
    data: str | Path,
    out: str | Path,
    options: EvaluationOptions = EvaluationOptions(),
) -> EvaluationResult:
    """The pipeline on already loaded models (used by ``mmhvae compare``)."""
    if not models and not options.copy:
        raise ConfigError("nothing to evaluate: no --model and the copy reference is off")
    if options.samples is not None and options.samples < 1:
        raise ConfigError(f"--samples {options.samples}: must be at least 1")
    if options.temperature is not None and not options.temperature >= 0:
        raise ConfigError(f"--temperature {options.temperature}: must be at least 0")
    mode = ScenarioMode(options.scenarios)
    out = Path(out)
    _refuse_existing(out, options.overwrite)
    files = _select_cases(discover_cases(data, options.layout, split=options.split), options.cases)
    device = options.device or default_device()
    notes: list[str] = []
    lpips_model = _lpips_model(options, device, notes)
    union = tuple(dict.fromkeys(m for model in models for m in model.method.modalities))
    if not union:
        union = tuple(dict.fromkeys(m for f in files for m in f.modalities))
    resample = models[0].config.data.resample if models else True

    metadata = _metadata(models, data, mode, options, files)
    table = None
    if options.copy:
        table = _copy_table(models, options, files, union, resample, notes)
        metadata["copy reference"] = f"correlations from {table.source}"
        metadata["copy correlations"] = table.r

    rows: list[Row] = []
    montages: list[tuple[str, Path]] = []
    failed: dict[str, str] = {}
    for case_files in tqdm(files, desc="evaluation", unit="case", disable=not options.progress):
        try:
            case_rows, case_montages = _evaluate_case(
                case_files,
                models,
                union,
                resample,
                table,
                mode,
                options,
                device,
                lpips_model,
                out,
                notes,
            )
        except Exception as error:  # one bad case is that case's failure, never the run's
            failed[case_files.case_id] = failure_message(error)
            log.warning("case %s failed: %s", case_files.case_id, failed[case_files.case_id])
            continue
        rows += case_rows
        montages += case_montages
    if failed:
        metadata["failed cases"] = failed
    if not rows and files:
        why = "; ".join(failed.values()) or "no case has two of the models' modalities"
        raise DataError(f"{data}: no case could be evaluated ({why})")

    result = EvaluationResult(rows, all_summaries(rows), metadata, notes, failed=failed)
    result.paths = write_outputs(out, result.rows, result.summaries, metadata, notes, montages)
    return result


def _evaluate_case(
    case_files: CaseFiles,
    models: Sequence[LoadedModel],
    union: tuple[str, ...],
    resample: bool,
    table: CorrelationTable | None,
    mode: ScenarioMode,
    options: EvaluationOptions,
    device: str,
    lpips_model: Any,
    out: Path,
    notes: list[str],
) -> tuple[list[Row], list[tuple[str, Path]]]:
    """Every row (and montage) of one case: each model's, then the copy reference's."""
    case = load_case(case_files, union, resample=resample)
    notes += case.warnings
    normalised, mask = normalised_volumes(case, union)
    if not mask.any():
        raise DataError(f"case {case.case_id}: empty brain mask")
    scored = _ground_truth(case, normalised, mask)
    prepared_cache: dict[tuple[Any, ...], Prepared] = {}
    rows: list[Row] = []
    montages: list[tuple[str, Path]] = []
    for model in models:
        prepared, mapped = model_inputs(  # every present modality is an input of a scenario
            model.method, case, _prepared(case, model, mask, prepared_cache), list(case.images)
        )
        notes += [f"{model.name}: {note}" for note in mapped]
        new_rows, shown = _score_model(
            model, case, prepared, scored, mode, options, device, lpips_model, out, table
        )
        rows += new_rows
        montages += shown
    if table is not None:
        rows += _copy_rows(case.case_id, normalised, scored, table, union, mode, lpips_model)
    return rows, montages


def _refuse_existing(out: Path, overwrite: bool) -> None:
    existing = [out / name for name in OUTPUT_NAMES if (out / name).exists()]
    if existing and not overwrite:
        raise OutputExistsError(f"{existing[0]}: exists (use --overwrite to replace the report)")


def _select_cases(files: list[CaseFiles], wanted: Sequence[str] | None) -> list[CaseFiles]:
    if not wanted:
        return files
    by_id = {f.case_id: f for f in files}
    unknown = [c for c in wanted if c not in by_id]
    if unknown:
        raise DataError(f"--cases {unknown[0]!r}: no such case (cases: {', '.join(sorted(by_id))})")
    return [by_id[c] for c in wanted]


def _lpips_model(options: EvaluationOptions, device: str, notes: list[str]) -> Any:
    if not options.lpips:
        notes.append("LPIPS not computed (--no-lpips).")
        return None
    from mmhvae.evaluation.lpips import load_lpips

    try:
        return load_lpips(options.lpips_weights, device=device)
    except WeightsMissingError as error:
        notes.append(f"LPIPS skipped: {error}")
        return None


def _ground_truth(case: Case, normalised: dict[str, np.ndarray], mask: np.ndarray) -> _Scored:
    ornt = orientations.ornt_transform(
        orientations.io_orientation(case.affine), orientations.axcodes2ornt(("R", "A", "S"))
    )
    scored = _Scored({}, np.zeros(0, bool), None, ornt, mask)
    scored.truth = {m: scored.ras(v) for m, v in normalised.items()}
    scored.mask = scored.ras(mask).astype(bool)
    scored.tumour = None if case.seg is None else scored.ras(case.seg) > 0
    return scored


def _prepared(
    case: Case, model: LoadedModel, brain: np.ndarray, cache: dict[tuple[Any, ...], Prepared]
) -> Prepared:
    config: Config = model.config
    key = (model.method.modalities, config.model.image_size, config.data.spacing)
    if key not in cache:
        cache[key] = prepare_case(
            case, model.method.modalities, config.model.image_size, config.data.spacing, brain
        )
    return cache[key]


def _score(pred: np.ndarray, scored: _Scored, target: str, lpips_model: Any) -> Row:
    """Every protocol metric of ``pred`` (RAS, [0, 1]) against the ground truth of ``target``
    (``metrics.volume_metrics``, from the truth prepared once per case)."""
    reference = scored.reference(target)
    row: Row = dict(reference.score(pred))
    if lpips_model is not None:
        from mmhvae.evaluation.lpips import lpips_slices

        row["lpips"] = lpips_slices(lpips_model, pred, scored.truth[target], reference.slices)
    return row


def _score_model(
    model: LoadedModel,
    case: Case,
    prepared: Prepared,
    scored: _Scored,
    mode: ScenarioMode,
    options: EvaluationOptions,
    device: str,
    lpips_model: Any,
    out: Path,
    copy_table: CorrelationTable | None = None,
) -> tuple[list[Row], list[tuple[str, Path]]]:
    """The rows of one model on one case (one synthesis call for all input subsets, each
    target of a subset from the same draw) and its montages: one per target, from the
    largest input subset scored for that target."""
    sampling = sampling_options(model, options, device)
    modalities = tuple(model.method.modalities)
    available = [m for m in modalities if m in scored.truth]
    pairs = scenarios(available, mode)
    if not pairs:  # one modality: nothing to synthesise it from, nothing to score
        return [], []
    subsets = list(dict.fromkeys(p.inputs for p in pairs))
    rows: list[Row] = []
    brain = scored.brain
    shown: dict[str, tuple[str, ...]] = {}  # target -> the inputs of its montage
    for pair in pairs:
        if len(pair.inputs) > len(shown.get(pair.target, ())):
            shown[pair.target] = pair.inputs
    views: dict[str, TargetView] = {}
    presents = [np.array([m in subset for m in modalities], dtype=bool) for subset in subsets]
    start = time.perf_counter()
    with tqdm(
        total=int(brain_slices(prepared.mask).size),
        desc=f"{case.case_id}: {model.name}, {len(subsets)} input subsets",
        unit="slice",
        leave=False,
        disable=not options.progress,
    ) as bar:
        results = synthesize_slices_patterns(
            model.method, prepared.images, presents, prepared.mask, sampling, bar.update
        )
    # One call serves every subset (the encoders run once per case): each gets its share.
    seconds = (time.perf_counter() - start) / max(1, len(subsets))
    scoring = tqdm(
        total=len(pairs),
        desc=f"{case.case_id}: {model.name}, scoring",
        unit="scenario",
        leave=False,
        disable=not options.progress,
    )
    jobs = [
        (subset, result, pair)
        for subset, result in zip(subsets, results, strict=True)
        for pair in pairs
        if pair.inputs == subset
    ]

    def score_job(job: tuple[tuple[str, ...], Any, Any]) -> tuple[Row, np.ndarray | None]:
        subset, result, pair = job
        index = modalities.index(pair.target)
        pred = scored.ras(back_to_case_grid(prepared.grid, result.mean[index], brain))
        keep = options.montages and shown[pair.target] == subset
        return _score(pred, scored, pair.target, lpips_model), pred if keep else None

    with scoring_pool() as pool:
        for (subset, result, pair), (scores, pred) in zip(
            jobs, pool.map(score_job, jobs), strict=True
        ):
            scoring.update()
            row: Row = {
                "model": model.name,
                "case": case.case_id,
                "inputs": "+".join(subset),
                "target": pair.target,
                "n_inputs": len(subset),
                "synthesis_s": seconds,
            }
            row.update(scores)
            rows.append(row)
            if pred is not None:
                index = modalities.index(pair.target)
                std = None
                if result.std is not None:
                    std = scored.ras(back_to_case_grid(prepared.grid, result.std[index], brain))
                source = copy_table.best_source(pair.target, subset) if copy_table else None
                views[pair.target] = TargetView(pair.target, subset, pred, std, source)
    scoring.close()
    if not views:
        return rows, []
    ordered = [views[t] for t in available if t in views]
    montages = write_montages(
        out,
        model.name,
        case.case_id,
        ordered,
        scored.truth,
        scored.mask,
        scored.tumour,
        sampling.samples,
    )
    return rows, montages


def _copy_table(
    models: Sequence[LoadedModel],
    options: EvaluationOptions,
    files: Sequence[CaseFiles],
    union: Sequence[str],
    resample: bool,
    notes: list[str],
) -> CorrelationTable:
    """Correlations from --copy-from, else the run's recorded training data, else the
    evaluated cases themselves (flagged in the notes: the reference then saw the test data)."""
    source = options.copy_from
    if source is None and models:
        source = recorded_training_data(models[0].path)
    if source is not None and not Path(source).exists():
        notes.append(f"copy reference: training data {source} not found.")
        source = None
    if source is None:
        notes.append(
            "copy reference: no training data known (no --copy-from, none recorded in the "
            "run): its correlation table was computed from the EVALUATED cases themselves."
        )
    # the copy reference's table comes from TRAINING data: its imagesTr half (nnU-Net)
    cases = discover_cases(source, split=Split.TR) if source is not None else files

    def per_case() -> Iterator[dict[tuple[str, str], float]]:
        for case_files in cases:
            try:
                case = load_case(case_files, union, resample=resample)
            except DataError:
                continue  # a case the data layer refuses carries no correlation
            yield case_correlations(*normalised_volumes(case, union))

    label = str(source) if source is not None else "the evaluated cases (not the training data)"
    return correlation_table(per_case(), source=label)


def _copy_rows(
    case_id: str,
    normalised: dict[str, np.ndarray],
    scored: _Scored,
    table: CorrelationTable,
    union: Sequence[str],
    mode: ScenarioMode,
    lpips_model: Any,
) -> list[Row]:
    """The copy reference's rows of one case; each (source, target) pair is scored once."""
    available = [m for m in union if m in normalised]
    chosen = [
        (pair, table.best_source(pair.target, pair.inputs)) for pair in scenarios(available, mode)
    ]
    unique = list(dict.fromkeys((source, pair.target) for pair, source in chosen))

    def score_pair(key: tuple[str, str]) -> Row:
        source, target = key
        return _score(scored.ras(normalised[source]), scored, target, lpips_model)

    with scoring_pool() as pool:
        scores = dict(zip(unique, pool.map(score_pair, unique), strict=True))
    rows: list[Row] = []
    for pair, source in chosen:
        row: Row = {
            "model": COPY_NAME,
            "case": case_id,
            "inputs": "+".join(pair.inputs),
            "target": pair.target,
            "n_inputs": len(pair.inputs),
            "copied_from": source,
        }
        row.update(scores[(source, pair.target)])
        rows.append(row)
    return rows


def sampling_options(
    model: LoadedModel, options: EvaluationOptions, device: str
) -> SamplingOptions:
    """The run's sampling config with the evaluation's explicit choices on top."""
    return SamplingOptions.from_config(
        model.config.sampling,
        temperature=options.temperature,
        samples=options.samples,
        seed=options.seed,
        batch_size=options.batch_size or default_batch_size(device, model.config.model.image_size),
        device=device,
    )


def _metadata(
    models: Sequence[LoadedModel],
    data: str | Path,
    mode: ScenarioMode,
    options: EvaluationOptions,
    files: Sequence[CaseFiles],
) -> dict[str, Any]:
    sampling = [sampling_options(m, options, "cpu") for m in models] or [SamplingOptions()]
    return {
        "protocol": PROTOCOL_VERSION,
        "data": str(data),
        "models": {m.name: str(m.path) for m in models},
        "scenarios": mode.value,
        "temperature": sampling[0].temperature,
        "samples": sampling[0].samples,
        "seed": sampling[0].seed,
        "cases": [f.case_id for f in files],
        "torch": torch.__version__,
    }
