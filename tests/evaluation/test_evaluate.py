"""The evaluation pipeline: summaries (closed forms), the copy reference, model naming,
refusals, and `mmhvae evaluate` end to end on the three complete real cases."""

from __future__ import annotations

import csv
import json
import math
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from tests.synthesis.tiny_run import COMPLETE, tiny_run, write_manifest

from mmhvae.cli.main import main
from mmhvae.errors import ConfigError, DataError, OutputExistsError
from mmhvae.evaluation import evaluate as evaluate_module
from mmhvae.evaluation import threads
from mmhvae.evaluation.copy_reference import (
    correlation_table,
    modality_correlations,
    pearson_in_mask,
)
from mmhvae.evaluation.evaluate import EvaluationOptions, evaluate, model_name, parse_model_specs
from mmhvae.evaluation.scenarios import scenarios
from mmhvae.evaluation.summary import mean_std_over_cases, rows_to_csv, summarise, summary_json


def test_summary_weighs_cases_equally_and_skips_nan() -> None:
    rows = [
        {"model": "m", "case": "a", "target": "t2", "psnr": 10.0, "ssim": float("nan")},
        {"model": "m", "case": "a", "target": "t2", "psnr": 20.0, "ssim": 0.5},
        {"model": "m", "case": "b", "target": "t2", "psnr": 30.0, "ssim": float("nan")},
    ]
    mean, std, n = mean_std_over_cases(rows, "psnr")
    assert (mean, n) == (22.5, 2) and std == pytest.approx(np.std([15.0, 30.0], ddof=1))
    assert mean_std_over_cases(rows, "ssim") == (0.5, 0.0, 1)
    (summary,) = summarise(rows, ["target"])
    assert summary["cases"] == 2 and summary["psnr_mean"] == 22.5 and "mae_mean" not in summary


def test_csv_and_json_keep_every_value() -> None:
    rows = [
        {
            "model": "m",
            "case": "a",
            "inputs": "t1",
            "target": "t2",
            "n_inputs": 1,
            "psnr": math.inf,
            "mae": 0.125,
            "ssim": float("nan"),
        }
    ]
    (parsed,) = list(csv.DictReader(rows_to_csv(rows).splitlines()))
    assert parsed["psnr"] == "inf" and parsed["mae"] == "0.125" and parsed["ssim"] == "nan"
    data = json.loads(summary_json({"rows": rows}, {"protocol": "v1"}))
    assert (
        data["summary"]["rows"][0]["psnr"] == "inf" and data["summary"]["rows"][0]["ssim"] is None
    )


def test_pearson_and_the_correlation_table() -> None:
    rng = np.random.default_rng(0)
    a = rng.random((6, 7, 5))
    mask = a > 0.2
    assert pearson_in_mask(a, 3 * a + 1, mask) == pytest.approx(1.0)
    b = rng.random(a.shape)
    assert pearson_in_mask(a, b, mask) == pytest.approx(np.corrcoef(a[mask], b[mask])[0, 1])
    assert math.isnan(pearson_in_mask(a, np.ones_like(a), mask))
    cases = [({"t1": a, "t2": -a, "flair": 2 * a + b * 0.1}, mask), ({"t1": a, "t2": b}, mask)]
    table = modality_correlations(cases, source="here")
    r_ab = np.corrcoef(a[mask], b[mask])[0, 1]
    assert table.r["t1"]["t2"] == table.r["t2"]["t1"] == pytest.approx((-1 + r_ab) / 2)
    assert table.count["t1"]["flair"] == 1 and table.count["t1"]["t2"] == 2
    assert table.best_source("t1", ["t2", "flair"]) == "flair"
    assert table.best_source("flair", ["us", "t1"]) == "t1"  # never-seen pairs rank last
    assert correlation_table([{("t1", "t2"): float("nan")}]).r == {}


def test_model_names_and_specs(tmp_path: Path) -> None:
    run = tmp_path / "run-a"
    (run / "checkpoints").mkdir(parents=True)
    assert model_name(run) == "run-a"
    assert model_name(run / "checkpoints" / "best.pt") == "run-a"
    assert parse_model_specs([f"mine={run}", str(run)]) == [("mine", run), ("run-a", run)]
    with pytest.raises(ConfigError, match="used twice"):
        parse_model_specs([run, run])
    with pytest.raises(ConfigError, match="reserved"):
        parse_model_specs([f"copy={run}"])


@pytest.fixture(scope="module")
def complete_cases(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_manifest(shared_data, COMPLETE, tmp_path_factory.mktemp("eval") / "cases.csv")


@pytest.fixture(scope="module")
def report(
    shared_data: Path, complete_cases: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """Two names for the tiny run plus the copy reference, single-missing, three cases."""
    run = tiny_run(shared_data, tmp_path_factory)
    out = tmp_path_factory.mktemp("report")
    argv = [
        "evaluate",
        "--model",
        f"a={run}",
        "--model",
        f"b={run}",
        "--data",
        str(complete_cases),
        "--out",
        str(out),
        "--scenarios",
        "single-missing",
        "--no-lpips",
        "--device",
        "cpu",
        "--overwrite",
    ]
    assert main(argv) == 0
    return out


def test_every_model_case_and_scenario_has_a_row(report: Path) -> None:
    with (report / "per_case.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    expected = {
        (model, case, "+".join(s.inputs), s.target)
        for model in ("a", "b", "copy")
        for case in COMPLETE
        for s in scenarios(("t1", "t1ce", "t2", "flair"), "single-missing")
    }
    assert {(r["model"], r["case"], r["inputs"], r["target"]) for r in rows} == expected
    assert len(rows) == 3 * 3 * 4
    for row in rows:
        assert 0 < float(row["ssim"]) <= 1 and float(row["mae"]) > 0 and float(row["psnr"]) > 0
        assert row["lpips"] == ""  # --no-lpips
        assert float(row["psnr_tumour"]) > 0 and float(row["ssim_healthy"]) > 0  # all have seg
    same = {(r["case"], r["target"]): r["psnr"] for r in rows if r["model"] == "a"}
    assert same == {(r["case"], r["target"]): r["psnr"] for r in rows if r["model"] == "b"}
    copies = [r for r in rows if r["model"] == "copy"]
    assert all(r["copied_from"] in r["inputs"].split("+") for r in copies)


def test_summaries_name_the_settings(report: Path) -> None:
    data = json.loads((report / "summary.json").read_text())
    assert data["protocol"] == "v1" and data["temperature"] == 0.7 and data["samples"] == 1
    assert data["seed"] == 0 and set(data["models"]) == {"a", "b"}
    # the run recorded its training data (RUN/run.yaml): the copy table comes from there
    assert "EVALUATED cases" not in " ".join(data["notes"])
    assert data["copy reference"].endswith("train.csv")
    overall = {r["model"]: r for r in data["summary"]["overall"]}
    assert set(overall) == {"a", "b", "copy"} and overall["a"]["cases"] == 3
    per = data["summary"]["per_target_and_n_inputs"]
    assert {(r["model"], r["target"], r["n_inputs"]) for r in per} == {
        (m, t, 3) for m in ("a", "b", "copy") for t in ("t1", "t1ce", "t2", "flair")
    }
    markdown = (report / "summary.md").read_text()
    assert "protocol v1" in markdown and "**temperature**: 0.7" in markdown
    assert "LPIPS not computed" in markdown


def test_html_report_parses_and_shows_montages(report: Path) -> None:
    images: list[str] = []

    class Collect(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag == "img":
                images.append(dict(attrs)["src"] or "")

    page = (report / "report.html").read_text()
    Collect().feed(page)
    # one montage per model x case x target: 2 x 3 x 4
    assert len(images) == 24 and all(src.startswith("data:image/png;base64,") for src in images)
    names = sorted(p.name for p in (report / "montages").glob("*.png"))
    assert len(names) == 24 and "a_tcga-fg-6692_flair.png" in names
    assert page.count("<h1>") == 1 and "<li>" in page
    assert "tcga-fg-6692 · t1ce from t1+t2+flair" in page  # each target from the other three


def test_an_existing_report_is_not_replaced(report: Path, complete_cases: Path) -> None:
    with pytest.raises(OutputExistsError, match="per_case.csv"):
        evaluate([], complete_cases, report, EvaluationOptions(lpips=False))


def test_unknown_cases_and_nothing_to_evaluate_are_refused(
    complete_cases: Path, tmp_path: Path
) -> None:
    with pytest.raises(DataError, match="no-such-case"):
        evaluate([], complete_cases, tmp_path, EvaluationOptions(cases=("no-such-case",)))
    with pytest.raises(ConfigError, match="nothing to evaluate"):
        evaluate([], complete_cases, tmp_path, EvaluationOptions(copy=False))


def test_the_fast_path_gives_the_numbers_of_the_plain_protocol(
    shared_data: Path, complete_cases: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The evaluator shares work (one synthesis call for all input subsets, the truth
    prepared once per target, separable resampling); each row must equal, to 1e-6, the
    plain protocol: one synthesize_slices call per subset, back to the grid through scipy's
    resampling, and metrics.volume_metrics, at temperature 0.7 with two samples. The
    evaluator scores with three threads here (evaluation/threads.py): rows in the order of
    their scenarios, each from its own prediction."""
    from nibabel import orientations
    from scipy import ndimage

    from mmhvae.data import preprocess
    from mmhvae.data.case import load_case
    from mmhvae.data.layouts import discover_cases
    from mmhvae.data.preprocess import brain_mask, normalised_volumes, prepare_case
    from mmhvae.evaluation.metrics import volume_metrics
    from mmhvae.methods.sampling import SamplingOptions
    from mmhvae.runs import load_method
    from mmhvae.synthesis.dataset import default_batch_size
    from mmhvae.synthesis.slices import synthesize_slices

    run = tiny_run(shared_data, tmp_path_factory)
    case_id = COMPLETE[0]
    options = EvaluationOptions(
        temperature=0.7, samples=2, seed=3, cases=(case_id,), copy=False, lpips=False,
        montages=False, progress=False, device="cpu",
    )  # fmt: skip
    out = tmp_path_factory.mktemp("fast")
    with pytest.MonkeyPatch.context() as patch:  # three scoring threads, whatever the machine
        patch.setattr(evaluate_module, "scoring_pool", lambda: threads.scoring_pool(3))
        rows = evaluate([run], complete_cases, out, options).rows
    assert len(rows) == 28

    def scipy_resize(volume: np.ndarray, out_hw: tuple[int, int], order: int) -> np.ndarray:
        s, h, w = volume.shape
        if (h, w) == tuple(out_hw):
            return volume
        scale = np.array([1.0, h / out_hw[0], w / out_hw[1]])
        offset = 0.5 * scale - 0.5
        offset[0] = 0.0
        return ndimage.affine_transform(
            volume.astype(np.float32), scale, offset=offset, output_shape=(s, *out_hw),
            order=order, mode="nearest",
        )  # fmt: skip

    method, config, _ = load_method(run, "cpu")
    modalities = tuple(method.modalities)
    files = next(f for f in discover_cases(complete_cases) if f.case_id == case_id)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(preprocess, "_resize_inplane", scipy_resize)
        case = load_case(files, modalities)
        prepared = prepare_case(case, modalities, config.model.image_size, config.data.spacing)
        normalised, mask = normalised_volumes(case, modalities)
        ornt = orientations.ornt_transform(
            orientations.io_orientation(case.affine), orientations.axcodes2ornt(("R", "A", "S"))
        )

        def ras(v: np.ndarray) -> np.ndarray:
            return orientations.apply_orientation(v, ornt)

        batch = default_batch_size("cpu", config.model.image_size)  # what the evaluator uses
        sampling = SamplingOptions(temperature=0.7, samples=2, seed=3, batch_size=batch)
        for row in rows:
            subset = row["inputs"].split("+")
            present = np.array([m in subset for m in modalities])
            result = synthesize_slices(method, prepared.images, present, prepared.mask, sampling)
            slices = result.mean[modalities.index(row["target"])]
            volume = preprocess.to_original_grid(prepared.grid, slices)
            pred = ras(np.where(brain_mask(case), volume, 0.0).astype(np.float32))
            plain = volume_metrics(
                pred, ras(normalised[row["target"]]), ras(mask).astype(bool), ras(case.seg) > 0
            )
            for key, value in plain.items():
                assert row[key] == pytest.approx(value, abs=1e-6), (row["inputs"], key)


def test_evaluation_reads_one_nnunet_split(tmp_path: Path) -> None:
    """The copy reference alone (no model) on an nnU-Net raw dataset: imagesTs by default."""
    from tests.synthesis.test_formats import nnunet_raw

    data = nnunet_raw(tmp_path / "raw", train=("a", "b"), test=("z",))
    options = dict(lpips=False, montages=False, progress=False)

    def cases(out: str, **more: object) -> set[str]:
        result = evaluate([], data, tmp_path / out, EvaluationOptions(**options, **more))
        return {str(row["case"]) for row in result.rows}

    assert cases("default") == {"z"}
    assert cases("tr", split="tr") == {"a", "b"}
