"""Evaluation harness and benchmarks; front ends that use only the public PaperBot API."""
