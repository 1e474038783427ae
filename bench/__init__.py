"""Benchmarks (`python -m bench`) and the fault suite (`python -m bench.chaos`) on a local sandbox host.

Both drive a sandbox host made by app/sandbox through its Python API, load it from this machine with wrk
and Python clients (only the sandbox's address is contacted), and record their figures in
bench/results/latest.json, latest.md and latency.png. This machine is shared and noisy, so the headline
figures are ratios between runs made in the same invocation.
"""
