"""_inference: learning read backwards — initial overlaps from observed learning (docs/theory.md §10)."""
