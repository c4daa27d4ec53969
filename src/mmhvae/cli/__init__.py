"""Command-line interface: argument parsing only, no logic (that lives in the library)."""
