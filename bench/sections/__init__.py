"""Bench sections: one module per measurement, each run by ``python -m bench --only NAME``."""
