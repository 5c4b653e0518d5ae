"""Report: bench/results.md from the measurements, the charts, and the splice of one part."""
