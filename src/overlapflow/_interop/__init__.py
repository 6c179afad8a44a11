"""Interoperation with other tools (docs/theory.md §11): networks from files (`networks`) and
tasks from neurogym (`neurogym`). Optional dependencies (torch, neurogym) are imported only
when a function needs them."""
