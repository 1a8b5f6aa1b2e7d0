"""Benchmarks that drive CCR through its own code (issue 12). `python -m bench.seed` is the
seeder the shared peers harness (../shared/peers, its README) calls before a CCR run."""
