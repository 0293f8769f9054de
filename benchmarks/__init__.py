"""Benchmarks, the load run and the pieces the fault-tolerance tests share."""
