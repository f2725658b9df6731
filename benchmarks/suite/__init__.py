"""The benchmark harness behind ``benchmarks/run.py``.

One job per module: ``settings`` (how long to measure), ``peers`` (the programs compared),
``procs`` (starting and always killing them), ``workloads`` (the registry of what is
measured), ``runner`` (the side-by-side loop), ``targets`` (the goals of issue 3) and
``report`` (tables, Markdown, JSON).
"""
