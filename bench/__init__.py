"""Benchmarks side by side with peers (fping, blackbox_exporter) on loopback; ``python -m bench`` runs them all."""
