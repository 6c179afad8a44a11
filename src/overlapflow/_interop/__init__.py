"""Interoperation with other tools (docs/theory.md §11): networks from files (`networks`,
`sources`, `network_file`), checked against the user's own outputs (`probe`) and written back
(`export`), and tasks from neurogym (`neurogym`). Optional dependencies (torch, neurogym) are
imported only when a function needs them."""
