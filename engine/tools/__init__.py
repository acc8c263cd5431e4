"""Commands beside the pipeline: ``tf2eng bench`` (benchmark.py) and ``tf2eng steps`` (steps.py)."""
