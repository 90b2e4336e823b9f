"""The command line. `app` (typer) lives in cli/app.py; `cronkit run` starts in cli/run.py without typer."""
