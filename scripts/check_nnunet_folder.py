"""Read an `--format nnunet` output with nnU-Net v2's OWN code: its input listing and its
image reader, the two steps of `nnUNetv2_predict` before the network runs.

nnU-Net is not a dependency (its stack pins its own torch); its pure-Python files are enough
for this check. Unpack the wheels beside each other (no install, nothing else changes):

    pip download --no-deps nnunetv2 batchgenerators -d /tmp/nnu
    cd /tmp/nnu && for w in *.whl; do unzip -q -o "$w" -d lib; done
    pip install --target /tmp/nnu/sitk SimpleITK
    python scripts/check_nnunet_folder.py OUT/imagesTs dataset.json --lib /tmp/nnu/lib /tmp/nnu/sitk

It fails (exit 1) when a case lacks a channel of the dataset.json or when nnU-Net's reader
refuses the channels (shape or spacing differ) or warns that their origins or directions
differ (nnU-Net then only warns; mmhvae's outputs must overlay the inputs exactly).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("images", help="the imagesTs folder mmhvae wrote")
    parser.add_argument("dataset_json", help="the dataset.json given to mmhvae")
    parser.add_argument(
        "--lib", nargs="+", default=[], help="folders holding nnunetv2 and SimpleITK"
    )
    args = parser.parse_args()
    sys.path[:0] = args.lib
    from nnunetv2.imageio.reader_writer_registry import (  # noqa: PLC0415
        determine_reader_writer_from_dataset_json,
    )
    from nnunetv2.utilities.utils import (  # noqa: PLC0415
        create_lists_from_splitted_dataset_folder,
    )

    with open(args.dataset_json, encoding="utf-8") as handle:
        dataset = json.load(handle)
    cases = create_lists_from_splitted_dataset_folder(
        args.images, dataset["file_ending"], num_processes=1
    )
    if not cases:
        print(f"{args.images}: nnU-Net finds no case")
        return 1
    reader = determine_reader_writer_from_dataset_json(dataset, cases[0][0])()
    failed = 0
    for files in cases:
        name = files[0].rsplit("/", 1)[-1][: -(len(dataset["file_ending"]) + 5)]
        if len(files) != len(dataset["channel_names"]):
            print(
                f"{name}: {len(files)} channels, dataset.json has {len(dataset['channel_names'])}"
            )
            failed += 1
            continue
        said = io.StringIO()
        try:
            with contextlib.redirect_stdout(said):
                data, properties = reader.read_images(files)
        except RuntimeError:
            print(f"{name}: nnU-Net's reader refused the channels:\n{said.getvalue()}")
            failed += 1
            continue
        if "WARNING" in said.getvalue():
            print(f"{name}: nnU-Net's reader warned:\n{said.getvalue()}")
            failed += 1
            continue
        print(f"{name}: {len(files)} channels read, {data.shape}, spacing {properties['spacing']}")
    print(f"{len(cases) - failed} of {len(cases)} case(s) accepted")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
