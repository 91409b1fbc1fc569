"""``python -m wqrc``."""
from wqrc.console import run

run()
