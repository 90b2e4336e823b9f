"""Settings and their checks: command-line options > environment > cronkit.toml > defaults."""
