"""prefix_bench."""
