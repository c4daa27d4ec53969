"""Experiment drivers on top of the pipeline: ``compare`` (train and score several methods
alike), ``demo`` (the main job end to end on the phantom) and ``benchmark`` (speed as
BENCHMARKING.md measures it). They sit above evaluation and below the CLI."""
