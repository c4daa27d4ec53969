"""Synthetic MR + ultrasound brains with tumours, written in the BraTS 2021 layout."""

from mmhvae.phantom.generate import make_phantom_dataset
from mmhvae.phantom.montage import phantom_montage

__all__ = ["make_phantom_dataset", "phantom_montage"]
