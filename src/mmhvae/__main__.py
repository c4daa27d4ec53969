"""``python -m mmhvae`` (what ``torchrun -m mmhvae train ...`` runs)."""

from mmhvae.cli.main import main

raise SystemExit(main())
