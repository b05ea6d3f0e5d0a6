"""A tiny Django app that exists only for perfaudit's benchmarks."""
