"""A small stand-in for vtrial.design_sim in the design-power tests.

Normal changes with known moments, so that the power and error rates of the
tests have closed-form references: man m of arm a at scan v has % change
``mu_a * month_v / endpoint + e_mv``, ``e`` a random walk over the scans
scaled to SD ``sd`` at the endpoint, the spine and hip walks correlated
``rho`` increment by increment (so the endpoint changes are correlated
``rho``); baseline BMD N(1.15, 0.14) independent of the change; dropout
monotone, at a uniformly chosen scan, with the arm's probability.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vtrial import design as design_mod


@dataclass(frozen=True)
class FakeArrays:
    design: object
    arm: np.ndarray
    scan_months: tuple
    bmd: dict
    covariates: dict = field(default_factory=dict)

    def change(self, endpoint, scale):
        b = self.bmd[endpoint]
        d = b[:, :, 1:] - b[:, :, :1]
        return 100.0 * d / b[:, :, :1] if scale == "pct" else d


def simulate(cfg, reps, *, rng, sd=(3.0, 2.0), rho=0.0):
    d = design_mod.design_of(cfg)
    scans = np.array(d.dxa_months[1:], dtype=float)
    e = list(d.dxa_months[1:]).index(d.endpoint_month)
    arm = np.repeat(np.arange(len(d.arms)), d.sizes)
    n, k = arm.size, scans.size
    arms = np.broadcast_to(arm, (reps, n))
    # Increment variances proportional to the months between scans: Var(e_v) = sd^2 month_v / endpoint.
    step = np.diff(np.concatenate([[0.0], scans])) / scans[e]
    z1 = rng.standard_normal((reps, n, k))
    z2 = rho * z1 + np.sqrt(1 - rho**2) * rng.standard_normal((reps, n, k))
    drop = np.array([a.dropout for a in d.arms])[arm]
    last = np.where(rng.random((reps, n)) < drop, rng.integers(0, k, (reps, n)), k)
    seen = np.arange(k) < last[:, :, None]
    bmd = {}
    for j, (ep, z) in enumerate(zip(("spine", "hip"), (z1, z2), strict=True)):
        if ep not in d.endpoints:
            continue
        mu = np.array([a.difference_pct if ep == "spine" else a.hip_difference_pct for a in d.arms])[arm]
        y = mu[:, None] * scans / scans[e] + sd[j] * np.cumsum(z * np.sqrt(step), axis=2)
        b0 = rng.normal(1.15, 0.14, (reps, n))
        b = b0[:, :, None] * (1 + np.where(seen, y, np.nan) / 100)
        bmd[ep] = np.concatenate([b0[:, :, None], b], axis=2)
    return FakeArrays(d, arms, tuple(d.dxa_months[1:]), bmd)


def truths(cfg, design):
    return {
        (ep, label): (d_t - d_r)
        for ep in design.endpoints
        for (t, r), label in zip(design.comparisons, design.labels, strict=True)
        for d_t, d_r in [
            (
                (design.arms[t].difference_pct, design.arms[r].difference_pct)
                if ep == "spine"
                else (design.arms[t].hip_difference_pct, design.arms[r].hip_difference_pct)
            )
        ]
    }
