"""``mmhvae compare``: method parsing, one shared config per method, the comparison table."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from mmhvae.errors import ConfigError
from mmhvae.evaluation.summary import all_summaries
from mmhvae.experiments.compare import (
    CompareOptions,
    MethodRecord,
    comparison_rows,
    markdown,
    method_config,
    parse_methods,
    synthesis_seconds,
)
from mmhvae.methods import METHODS


def test_parse_methods_accepts_registered_names_only() -> None:
    assert parse_methods(" mmhvae, mvae ,unet") == ("mmhvae", "mvae", "unet")
    with pytest.raises(ConfigError, match="unknown method 'vae'"):
        parse_methods("mmhvae,vae")
    with pytest.raises(ConfigError, match="named twice"):
        parse_methods("mvae,mvae")
    with pytest.raises(ConfigError, match="at least one"):
        parse_methods(" , ")


def test_every_method_gets_the_same_config_but_its_name() -> None:
    options = CompareOptions(
        methods=tuple(METHODS),
        budget_minutes=2.5,
        steps=7,
        seed=3,
        overrides=("train.lr=1e-4",),
    )
    configs = {m: method_config(options, m) for m in METHODS}
    for name, config in configs.items():
        assert config.method == name
        assert config.train.steps == 7 and config.train.seed == 3
        assert config.train.time_budget_minutes == 2.5 and config.train.lr == 1e-4
        assert config.model == configs["mmhvae"].model and config.data == configs["mmhvae"].data


def _rows() -> list[dict]:
    rows = []
    for model, base in (("mmhvae", 20.0), ("unet", 18.0), ("copy", 15.0)):
        for case, shift in (("a", 0.0), ("b", 2.0)):
            for inputs, target, n, seconds in (
                ("t1", "t2", 1, 1.0),
                ("t1+t2", "flair", 2, 3.0),
                ("t2", "t1", 1, 2.0),
            ):
                rows.append(
                    {
                        "model": model,
                        "case": case,
                        "inputs": inputs,
                        "target": target,
                        "n_inputs": n,
                        "psnr": base + shift + n,
                        "ssim": 0.5,
                        "mae": 0.1,
                        "synthesis_s": seconds,
                    }
                )
    return rows


def test_table_holds_means_over_cases_costs_and_the_copy_reference() -> None:
    rows = _rows()
    records = [
        MethodRecord("mmhvae", Path("r/mmhvae"), 10, 4.0, 1000),
        MethodRecord("unet", Path("r/unet"), 30, 4.0, 500),
    ]
    for record in records:
        record.synthesis_s = synthesis_seconds(rows, record.name)
    assert records[0].synthesis_s == pytest.approx((1.0 + 3.0 + 2.0) / 3)  # per call, not row
    table = comparison_rows(records, all_summaries(rows))
    overall = {r["method"]: r for r in table if r["level"] == "overall" and r["metric"] == "psnr"}
    # case a: mean(21, 22, 21) = 21.333, case b: 23.333 -> mean 22.333, std (ddof 1) sqrt(2)
    assert overall["mmhvae"]["mean"] == pytest.approx(20.0 + 1 + 4 / 3)
    assert overall["mmhvae"]["std"] == pytest.approx(math.sqrt(2.0))
    assert [r["method"] for r in table if r["level"] == "overall" and r["metric"] == "psnr"] == [
        "mmhvae",
        "unet",
        "copy",
    ]
    per_n = {
        (r["method"], r["group"]): r["mean"]
        for r in table
        if r["level"] == "per_n_inputs" and r["metric"] == "psnr"
    }
    assert per_n[("unet", "2")] == pytest.approx(18.0 + 1.0 + 2.0)
    cost = {(r["method"], r["metric"]): r["mean"] for r in table if r["level"] == "cost"}
    assert cost[("unet", "parameters")] == 500 and cost[("mmhvae", "steps")] == 10
    text = markdown(records, table, {"seed": 0})
    assert "| mmhvae | 22.33 ± 1.41 |" in text
    assert "| copy |" in text and "1,000" in text


@pytest.mark.filterwarnings("ignore:.*none held out")
def test_time_budget_stops_cleanly_and_nogan_has_no_discriminators(
    shared_data: Path, tmp_path: Path
) -> None:
    from mmhvae.config import load_config
    from mmhvae.runs import load_checkpoint
    from mmhvae.training.trainer import fit

    manifest = tmp_path / "one.csv"
    lines = (shared_data / "cases.csv").read_text().splitlines()
    keep = [line for line in lines[1:] if line.startswith("brats-met-00110,")]
    manifest.write_text(
        "case,modality,path,kind,note\n"
        + "\n".join(line.replace(",brain", f",{shared_data}/brain", 1) for line in keep)
        + "\n"
    )
    config = load_config(
        "tiny",
        [
            "method=mmhvae-nogan",
            "data.val_cases=0",
            "model.image_size=32",
            "model.channels=[4, 8, 8]",
            "model.latent_channels=[2, 4, 0]",
            "model.top_latent_dim=8",
            "model.topdown_cells=[1, 1, 1]",
            "model.encoder_blocks=[0, 1, 1]",
            "model.fused_skips=[0, 1, 2]",  # tiny's list names its 5 scales
            "train.steps=50",
            "train.batch_size=2",
            "train.val_slices=2",
            "train.time_budget_minutes=1e-6",
        ],
    )
    result = fit(config, manifest, tmp_path / "run", device="cpu")
    assert result.steps == 1  # the budget is spent after the first step
    state = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
    assert state["step"] == 1 and state["disc_state"] == {}
    assert result.validation  # the final validation ran
