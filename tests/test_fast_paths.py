"""The fast paths give the values of the slow ones they replace.

* binomial and hypergeometric pmfs without ``scipy.stats`` against ``scipy.stats``;
* the vectorised analytic ANCOVA power against the per-pair formula with
  ``scipy.special.roots_jacobi`` and ``nctdtr`` (the implementation it replaced),
  its Gauss-Jacobi rules against closed-form Beta moments;
* the light method registry against the method modules;
* ``engine.run_blocks`` against one ``engine.run_block`` per block;
* significance by a critical value per distinct df against ``p < alpha`` with
  ``scipy.special.stdtr``, and the tabulated t quantiles against ``stdtrit``;
* what a command imports at start-up (numpy, pandas, scipy.stats, statsmodels).
"""

from __future__ import annotations

import importlib
import math
import subprocess
import sys

import numpy as np
import pytest
from scipy import special, stats

from vtrial import analytic, engine, model, power, samplers
from vtrial.config import load_config

# --------------------------------------------------------------------------- pmfs


@pytest.mark.parametrize(
    ("n", "p"), [(1, 0.3), (44, 0.75), (88, 0.5), (200, 0.82), (5000, 0.01), (200_000, 0.6)]
)
def test_binom_pmf_equals_scipy_stats(n, p):
    k = np.arange(n + 1)
    ref = stats.binom.pmf(k, n, p)
    got = samplers.binom_pmf(k, n, p)
    big = ref > 1e-300
    assert np.all(np.abs(got[big] - ref[big]) <= 1e-15 * ref[big])
    assert np.all(got[~big] <= 1e-300)


@pytest.mark.parametrize(("total", "marked", "drawn"), [(4, 2, 3), (6, 3, 5), (8, 4, 7), (12, 9, 5)])
def test_hypergeom_pmf_equals_scipy_stats(total, marked, drawn):
    k = np.arange(drawn + 1)
    ref = stats.hypergeom.pmf(k, total, marked, drawn)
    got = samplers.hypergeom_pmf(k, total, marked, drawn)
    assert np.allclose(got, ref, rtol=1e-15, atol=0)


def test_permuted_block_law_sums_to_one_with_a_cut_block():
    # 45 men in blocks of 4 or 6: the last block is cut short (hypergeometric part)
    cfg = load_config(overrides=["trial.n_per_arm=45", "trial.block_sizes=[4,6]"])
    law = samplers.arm_size_law(cfg["trial"])
    assert math.isclose(law.sum(), 1.0, rel_tol=1e-14)
    assert law.argmax() in (44, 45, 46)


# --------------------------------------------------------------------------- analytic ANCOVA


def _ancova_per_pair(n0, n1, delta, sd_e, alpha):
    """The formula one pair at a time with scipy's Gauss-Jacobi rule (the replaced implementation)."""
    out = []
    for a, b in zip(n0, n1, strict=True):
        x, w = special.roots_jacobi(32, (a + b - 4) / 2, -0.5)
        r, w = (1 + x) / 2, w / w.sum()
        df = a + b - 3
        crit = special.stdtrit(df, 1 - alpha / 2)
        ncp = delta * np.sqrt(1 - r) / (sd_e * math.sqrt(1 / a + 1 / b))
        pw = special.nctdtr(df, ncp, -crit) + 1 - special.nctdtr(df, ncp, crit)
        out.append(float(w @ pw))
    return np.array(out)


def _law_and_moments(cfg):
    law = analytic.completer_law(cfg)
    n0 = np.array([x[0] for x in law], dtype=float)
    n1 = np.array([x[1] for x in law], dtype=float)
    p = np.array([x[2] for x in law])
    ok = (n0 >= 2) & (n1 >= 2) & (n0 + n1 >= 4)
    mo = model.moments(cfg)
    delta = float(mo.mean_pct[1] - mo.mean_pct[0])
    sd_e = math.sqrt(mo.cov[1, 1] - mo.cov[0, 1] ** 2 / mo.cov[0, 0])
    return n0[ok], n1[ok], p[ok], delta, sd_e


@pytest.mark.parametrize(
    "overrides",
    [
        [],
        ["trial.randomization=simple", "trial.n_per_arm=12"],
        ["dropout.anastrozole=0.5", "trial.n_per_arm=60"],
        ["effects.difference_pct=-0.4"],
        ["effects.difference_pct=-6", "analysis.alpha=0.01"],
    ],
)
def test_vectorised_ancova_power_equals_per_pair_formula(overrides):
    cfg = load_config(overrides=overrides)
    n0, n1, p, delta, sd_e = _law_and_moments(cfg)
    alpha = float(cfg["analysis"]["alpha"])
    ref = _ancova_per_pair(n0, n1, delta, sd_e, alpha)
    got = analytic._ancova_conditional(n0, n1, delta, sd_e, alpha)
    assert np.max(np.abs(got - ref)) < 1e-12
    assert abs(power.analytic_power(cfg, "ancova") - float(p @ ref)) < 1e-12


@pytest.mark.parametrize("a", [0.0, 0.5, 3.0, 40.0, 400.0])
def test_jacobi_rule_integrates_beta_moments(a):
    # R ~ Beta(1/2, a + 1): E[R^m] = B(1/2 + m, a + 1) / B(1/2, a + 1), exact for m < 2k
    r, w = analytic._jacobi(16, [a])
    for m in range(0, 12):
        exact = math.exp(special.betaln(0.5 + m, a + 1) - special.betaln(0.5, a + 1))
        assert math.isclose(float(w[0] @ r[0] ** m), exact, rel_tol=1e-11)


def test_power_curve_interpolation_matches_direct_values():
    ncp = np.linspace(0.0, 7.0, 4000)
    crit = special.stdtrit(57.0, 0.975)
    got = analytic._power_nct_curve(57.0, ncp, crit)
    assert np.max(np.abs(got - analytic._power_nct(57.0, ncp, crit))) < 1e-12


# --------------------------------------------------------------------------- method registry


def test_registry_matches_method_modules():
    from vtrial import method_registry as reg
    from vtrial.analysis import ALLOWED_MISSING, METHODS, list_methods
    from vtrial.analysis.missing import STRATEGIES

    assert reg.STRATEGIES == STRATEGIES
    assert list(METHODS) == [name for name, _ in list_methods()]
    for name, (module, function, description) in reg._REGISTRY.items():
        mod = importlib.import_module(f"vtrial.analysis.{module}")
        assert METHODS[name] == (getattr(mod, function), description)
        assert ALLOWED_MISSING[name] == mod.ALLOWED_MISSING
    assert "ancova" in METHODS and "nope" not in METHODS and len(METHODS) == 8
    with pytest.raises(KeyError):
        METHODS["nope"]


# --------------------------------------------------------------------------- run_blocks


@pytest.mark.parametrize(
    ("overrides", "methods"),
    [
        ([], ["ancova", "welch_t"]),  # exact only, MCAR dropout
        (["dropout.anastrozole=0", "dropout.placebo=0"], ["student_t", "ancova"]),
        (["dropout.mechanism=MNAR"], ["ancova"]),  # no exact method: per_man_y
        ([], ["ancova", "mann_whitney"]),  # exact and per-man in one block
    ],
)
def test_run_blocks_equals_run_block_per_block(overrides, methods):
    cfg = load_config(overrides=overrides)
    blocks = [(8, 1000), (9, 1000), (10, 1000), (11, 300)]  # crosses a group boundary, short last block
    many = list(engine.run_blocks(cfg, "0123456789", blocks, methods))
    assert len(many) == len(blocks)
    for (index, reps), got in zip(blocks, many, strict=True):
        ref = engine.run_block(cfg, "0123456789", index, reps, methods)
        for m in methods:
            a, b = got[m], ref[m]
            for field in ("estimate", "se", "p_value", "df", "n_placebo", "n_anastrozole"):
                assert np.array_equal(getattr(a, field), getattr(b, field), equal_nan=True), (m, field)
            assert np.array_equal(a.covers(-2.46), b.covers(-2.46))
            assert np.array_equal(a.ci_low, b.ci_low, equal_nan=True)


@pytest.mark.parametrize(
    ("overrides", "blocks"),
    [
        (["dropout.anastrozole=0", "dropout.placebo=0"], [(k, 1000) for k in range(3, 17)]),  # whole blocks
        (["trial.n_per_arm=3", "dropout.placebo=0.5"], [(k, 1000) for k in range(10)]),  # failed fits
        ([], [(8, 1000), (9, 1000), (10, 1000), (11, 300)]),  # a short last block
    ],
)
def test_group_sums_equal_block_sums(overrides, blocks):
    cfg = load_config(overrides=overrides)
    methods = ["ancova", "student_t", "welch_t"]
    tv, alpha = power.truth(cfg), 0.05
    got = power._run_blocks(cfg, "0123456789", blocks, methods, tv, alpha)
    ref = [
        {
            m: power.block_sums(engine.run_block(cfg, "0123456789", i, r, methods)[m], tv, alpha)
            for m in methods
        }
        for i, r in blocks
    ]
    for g, r in zip(got, ref, strict=True):
        for m in methods:
            assert np.array_equal(g[m], r[m]), m


# --------------------------------------------------------------------------- critical values


@pytest.mark.parametrize("alpha", [0.05, 0.01, 0.2])
def test_significance_by_critical_value_equals_p_below_alpha(alpha):
    from vtrial.analysis.result import Replicates

    rng = np.random.default_rng(11)
    reps = 200_000
    df = rng.integers(1, 300, reps).astype(float)
    df[rng.random(reps) < 0.01] = np.nan  # failed fits
    crit = special.stdtrit(df, 1 - alpha / 2)
    # Half the t statistics 1e-13 to 1e-6 (relative) on either side of the critical
    # value, half spread out. Within a few ulps (1e-16) the two routines' last
    # bits decide; a simulated t lands there with probability of order 1e-15.
    near = crit * (1 + rng.choice([-1.0, 1.0], reps) * 10.0 ** rng.uniform(-13, -6, reps))
    t = np.where(rng.random(reps) < 0.5, near, rng.normal(0, 4, reps))
    se = rng.uniform(0.5, 2.0, reps)
    est = np.where(np.isnan(df), np.nan, t * se * rng.choice([-1.0, 1.0], reps))
    fast = Replicates(est, se, None, df, df, df, alpha).significant(alpha)
    ref = 2.0 * special.stdtr(df, -np.abs(est / se)) < alpha
    assert np.array_equal(fast, ref)
    assert 0.2 < fast.mean() < 0.8


def test_tabulated_t_quantiles_equal_stdtrit():
    from vtrial.analysis.result import t_quantile

    df = np.r_[np.arange(2.0, 60.0), np.full(1000, 45.0), np.nan, 3.0]
    assert np.array_equal(t_quantile(df, 0.975), special.stdtrit(df, 0.975), equal_nan=True)
    welch = np.linspace(2.5, 80.0, 500)  # not integers: one quantile each
    assert np.array_equal(t_quantile(welch, 0.975), special.stdtrit(welch, 0.975))


# --------------------------------------------------------------------------- start-up imports


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys; print(' '.join(sys.modules))"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    return set(out.split())


def test_cli_and_method_list_import_no_numpy_or_pandas():
    loaded = _modules_after(
        "import vtrial.cli\nfrom vtrial.cli import main\nfrom vtrial.method_registry import list_methods\n"
        "list_methods()"
    )
    assert not {"numpy", "pandas", "scipy"} & loaded


def test_small_power_run_imports_no_scipy_stats_or_statsmodels():
    loaded = _modules_after(
        "from vtrial.config import load_config\nfrom vtrial import power\n"
        "cfg = load_config(overrides=['analysis.methods=[ancova,welch_t]', 'trial.randomization=simple'])\n"
        "power.run_power(cfg, reps=1000)"
    )
    assert "vtrial.power" in loaded
    assert not {"scipy.stats", "statsmodels", "scipy.linalg"} & loaded


def test_workflow_modules_import_no_scipy_stats():
    # The Snakefile and the job scripts import these; scipy.stats (0.5 s) and
    # scipy.interpolate are loaded only by the functions that use them.
    loaded = _modules_after(
        "import vtrial.pipeline, vtrial.report, vtrial.design_power, vtrial.assurance, vtrial.calibration\n"
        "from vtrial.config import load_config\n"
        "vtrial.pipeline.sample_size_title(vtrial.pipeline.check_config(load_config()))"
    )
    assert "vtrial.design_power" in loaded
    assert not {"scipy.stats", "scipy.interpolate", "statsmodels"} & loaded


def _top_level_imports() -> dict[str, set[str]]:
    """Module -> the vtrial modules it imports at its top level (imports inside functions are lazy)."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "src"
    files = {".".join(p.relative_to(root).with_suffix("").parts).removesuffix(".__init__"): p
             for p in (root / "vtrial").rglob("*.py")}  # fmt: skip
    graph: dict[str, set[str]] = {m: set() for m in files}
    for mod, path in files.items():
        package = mod.split(".") if path.name == "__init__.py" else mod.split(".")[:-1]
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
                names = [base, *(f"{base}.{a.name}" for a in node.names)]
            else:
                continue
            graph[mod] |= {n for n in names if n in files and n != mod}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` (module -> modules it imports), or None."""
    done: set[str] = set()

    def visit(mod: str, path: list[str]) -> list[str] | None:
        if mod in path:
            return [*path[path.index(mod) :], mod]
        if mod in done:
            return None
        for dep in sorted(graph[mod]):
            found = visit(dep, [*path, mod])
            if found:
                return found
        done.add(mod)
        return None

    return next((c for c in (visit(m, []) for m in sorted(graph)) if c), None)


def test_no_import_cycle_in_the_package():
    graph = _top_level_imports()
    assert "vtrial.engine" in graph["vtrial.power"]  # the walk sees real imports
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert _cycle({**graph, "vtrial.streams": graph["vtrial.streams"] | {"vtrial.power"}}) is not None
    assert _cycle(graph) is None
