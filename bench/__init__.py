"""rillet's benchmark suite: each scenario runs rillet and the raw SDK doing the same work
on the local simulator, side by side in the same process run, and reports medians and
ratios. Run it with `make bench`, `rillet bench` or `python -m bench` (add `--quick` for the
short CI run). Results go to bench/results/<UTC date>.json.
"""
