"""``mmhvae train --data DATA --out RUN``: train a method; argument parsing only (training/)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from mmhvae.cli.options import add_device, add_overrides, add_overwrite
from mmhvae.config import config_from, load_config, named_configs
from mmhvae.errors import ConfigError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from mmhvae.methods import METHODS

    parser.epilog = (
        f"methods: {', '.join(sorted(METHODS))}\n"
        f"named configs: {', '.join(named_configs())}\n\n"
        "multi-GPU / multi-node: torchrun --nproc-per-node=N -m mmhvae train ...\n"
        "(DDP; train.batch_size is the GLOBAL batch, split evenly across the N processes;\n"
        "the learning rate is not rescaled with N)"
    )
    parser.add_argument("--data", required=True, help="dataset folder or CSV manifest")
    parser.add_argument("--out", required=True, metavar="RUN", help="run folder to write")
    parser.add_argument(
        "--config",
        default=None,
        help="named config or YAML file (default: 'default'; with --resume: RUN/config.yaml)",
    )
    add_overrides(parser, "override a config key, e.g. --set train.lr=1e-3 (repeatable)")
    parser.add_argument(
        "--method",
        default=None,
        help=f"method to train (sugar for --set method=NAME): {', '.join(sorted(METHODS))}",
    )
    parser.add_argument(
        "--init",
        default=None,
        metavar="MODEL",
        help="fine-tune: start from the weights of a run folder, checkpoint or shipped model "
        "(e.g. brats-tiny), with its config (its steps and schedules too; the case cache "
        "is this run's) unless --config is given (sugar for --set train.init_from=MODEL)",
    )
    parser.add_argument("--resume", action="store_true", help="continue RUN's last checkpoint")
    add_overwrite(parser, "the run in RUN (start again)")
    add_device(parser)


def run(args: argparse.Namespace) -> int:
    from mmhvae.training.trainer import fit

    run_dir = Path(args.out)
    base = args.config
    if base is None:
        saved = run_dir / "config.yaml"
        base = str(saved) if args.resume and saved.is_file() else "default"
    overrides = list(args.overrides)
    if args.method:
        overrides.append(f"method={args.method}")
    if args.init and args.resume:
        raise ConfigError(
            "--init starts a new run from a model's weights and --resume continues RUN's own "
            "checkpoint: pass one of them"
        )
    if args.init:
        overrides.append(f"train.init_from={args.init}")
    if args.init and args.config is None:
        # the model's own settings, but the case cache of this run (the model's may name a
        # folder of the machine it was trained on)
        config = config_from(_model_config(args.init), ["data.cache_dir=", *overrides])
    else:
        config = load_config(base, overrides)
    result = fit(
        config,
        args.data,
        run_dir,
        resume=args.resume,
        device=args.device,
        overwrite=args.overwrite,
    )
    if result.checkpoint.is_file():  # only the main rank writes, and reports
        print(
            f"run folder: {result.run_dir} ({result.steps} steps, checkpoint {result.checkpoint})"
        )
        print(_validation_table(result.validation))
    return 0


def _model_config(model: str) -> dict[str, Any]:
    """The config (dict form) a run folder, checkpoint or shipped model was trained with."""
    from mmhvae.config import config_to_dict
    from mmhvae.runs import checkpoint_config, load_checkpoint, resolve_checkpoint

    path = resolve_checkpoint(model)
    return config_to_dict(checkpoint_config(load_checkpoint(path, map_location="cpu"), path))


def _validation_table(values: dict[str, float]) -> str:
    """Final validation numbers, one line per modality: L1 and PSNR per scenario."""
    if not values:
        return "validation: none"
    lines = [f"validation loss (mean L1 in [0, 1] units): {values.get('loss', math.nan):.4f}"]
    modalities = sorted({key.split("/", 1)[1] for key in values if "/" in key})
    for m in modalities:
        cells = []
        for scenario, label in (("loo", "from the others"), ("all", "from all")):
            if f"l1_{scenario}/{m}" in values:
                l1, psnr = values[f"l1_{scenario}/{m}"], values[f"psnr_{scenario}/{m}"]
                cells.append(f"{label}: L1 {l1:.4f} PSNR {psnr:.2f} dB")
        lines.append(f"  {m}: " + "; ".join(cells))
    return "\n".join(lines)
