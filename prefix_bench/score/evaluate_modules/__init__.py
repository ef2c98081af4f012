"""HF `evaluate` metric modules (one folder each); packages only so that wheels ship them."""
