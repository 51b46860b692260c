"""Dense per-pixel features: gray patch, DAISY and FCN semantics, and the descriptor that joins them."""
