"""Everything `overlapflow inspect` reports about a network, as plain data: visibility, the
conserved forms and their values, the reachable set, the metric, and a learning rule's class
and forms (docs/theory.md §5, §6, §9). Above `invariants` and `rules`, which it combines.
"""

from __future__ import annotations

import numpy as np

from .._model.network import NetworkSpec
from .._model.overlaps import check_sigma, overlap_names, overlap_pairs
from .invariants import (
    conserved_forms,
    independent_invariant_count,
    invariants,
    reachable_dimension,
)
from .metric import metric, metric_structural_zeros
from .rules import rule_conserved_forms
from .visibility import invisible_overlaps, visible_overlaps

__all__ = ["inspect_overlaps"]


def inspect_overlaps(sigma, spec: NetworkSpec, *, rule=None, eta: float | None = None) -> dict:
    """Everything `overlapflow inspect` reports about a network with overlaps Σ, as plain data.

    Args:
        sigma: (P, P) overlaps.
        spec: the architecture.
        rule: a `LearningRule` to report on (`learning_rule` entry, docs/theory.md §9), or
            None (no such entry).
        eta: the learning rate (the forms of momentum / Nesterov depend on it).

    Returns:
        dict with `network` (architecture), `vector_names` (P), `names` (D overlap names in
        `overlap_pairs` order), `values` {name: σ}, `visible` / `invisible` (name lists),
        `sigma` (P×P), `conserved_forms` (k P×P lists), `invariant_values` (k dicts with
        `trace` and `spectrum`), `independent_invariants`, `reachable_dimension`,
        `reachable_dimension_first_order`, `n_overlaps` (D), `metric` (D×D G(Σ)),
        `metric_structural_zeros` (count) and `metric_structural_zero_mask` (D×D bools);
        with `rule`, `learning_rule` (see `_rule_report`).
    """
    sigma = check_sigma(sigma, spec)
    names = overlap_names(spec)
    forms = conserved_forms(spec)
    zero = metric_structural_zeros(spec)
    values = [invariants(sigma, J) for J in forms]
    return {
        "network": {"N": spec.N, "rank": spec.rank, "n_in": spec.n_in, "n_out": spec.n_out,
                    "phi": spec.phi_name, "dt": spec.dt},
        "vector_names": list(spec.vector_names),
        "names": list(names),
        "values": {n: float(sigma[p]) for n, p in zip(names, overlap_pairs(spec))},
        "visible": list(visible_overlaps(spec)),
        "invisible": list(invisible_overlaps(spec)),
        "sigma": sigma.tolist(),
        "conserved_forms": forms.tolist(),
        "invariant_values": [
            {"trace": float(v.trace), "spectrum": v.spectrum.tolist()} for v in values
        ],
        "independent_invariants": independent_invariant_count(spec),
        "reachable_dimension": reachable_dimension(spec),
        "reachable_dimension_first_order": reachable_dimension(spec, first_order=True),
        "n_overlaps": len(names),
        "metric": metric(sigma, spec).tolist(),
        "metric_structural_zeros": int(zero.sum()),
        "metric_structural_zero_mask": zero.tolist(),
        **({} if rule is None else {"learning_rule": _rule_report(sigma, spec, rule, eta)}),
    }


def _rule_report(sigma: np.ndarray, spec: NetworkSpec, rule, eta) -> dict:
    """A rule's class, overlap-state size and its conserved forms with their values at the
    rule's initial state (docs/theory.md §9), as plain data.

    Keys: `rule` (its fields), `class` (one of "exact", "exact in an augmented space",
    "N → ∞ only", "not closed"), `state` ("sigma" (P×P), "gamma" (2P×2P of [X | W]) or None),
    `state_size` (distinct entries, None when not closed), `forms` (k Q×Q lists, None when not
    closed), `forms_kind` ("flow" / "exact map"), `form_values` (k dicts: trace, spectrum).
    """
    out = {"rule": {"optimizer": rule.optimizer, "momentum": rule.momentum,
                    "weight_decay": rule.weight_decay, "lr_scale": dict(rule.lr_scale),
                    "clip_norm": rule.clip_norm, "noise_temperature": rule.noise_temperature},
           "class": rule.classification(), "state_size": rule.state_size(spec),
           "state": None, "forms": None, "forms_kind": None, "form_values": None}
    if out["class"] == "not closed":
        return out
    rf = rule_conserved_forms(rule, spec, eta=eta)
    state = np.asarray(rule.initial_state(sigma))
    vals = [invariants(state, J) for J in rf.forms]
    out.update(state=rf.space, forms=rf.forms.tolist(), forms_kind=rf.kind,
               form_values=[{"trace": float(v.trace), "spectrum": v.spectrum.tolist()}
                            for v in vals])
    return out
