"""``python -m neuroimit`` runs the CLI."""
from .cli import run

run()
