"""Statistics helpers against statsmodels / scipy on known data; preset comparison."""
import numpy as np
import pandas as pd
import pytest

from neuroimit.analysis.comparisons import compare_presets
from neuroimit.analysis.kinematics import phase_labels, tracking_errors
from neuroimit.analysis.latent import latent_structure
from neuroimit.analysis.stats import (bootstrap_ci, cohens_dz, holm, mixed_effects,
                                      paired_effect, paired_wilcoxon)
from neuroimit.errors import DataError


def _paired_table(effect=0.1, n=10, seed=0, noise=0.03):
    rng = np.random.default_rng(seed)
    clip_eff = rng.normal(0.5, 0.2, n)
    rows = []
    for c in range(n):
        rows.append({"clip": c, "preset": "none", "r": clip_eff[c] + noise * rng.standard_normal()})
        rows.append({"clip": c, "preset": "energy+control",
                     "r": clip_eff[c] + effect + noise * rng.standard_normal()})
    return pd.DataFrame(rows)


def test_mixed_effects_matches_statsmodels_and_paired_t():
    import statsmodels.api as sm
    from scipy import stats

    df = _paired_table()
    res = mixed_effects(df, "r", condition="preset", group="clip", reference="none")
    row = res["table"].set_index("level").loc["energy+control"]
    # statsmodels through its array interface (design matrix by hand)
    exog = np.c_[np.ones(len(df)), (df["preset"] == "energy+control").to_numpy(float)]
    ref = sm.MixedLM(df["r"].to_numpy(), exog, groups=df["clip"].to_numpy()).fit(reml=True)
    assert row["coef"] == pytest.approx(ref.fe_params[1], abs=1e-8)
    assert row["se"] == pytest.approx(ref.bse[1], rel=1e-4)
    # balanced paired design: the fixed effect equals the mean paired difference, and its
    # standard error the paired t-test's
    wide = df.pivot(index="clip", columns="preset", values="r")
    d = wide["energy+control"] - wide["none"]
    assert row["coef"] == pytest.approx(d.mean(), abs=1e-8)
    assert row["se"] == pytest.approx(d.std(ddof=1) / np.sqrt(len(d)), rel=0.02)
    assert row["p"] < 1e-6 and stats.ttest_rel(wide["energy+control"], wide["none"]).pvalue < 1e-6
    assert res["n_groups"] == 10 and res["converged"]


def test_wilcoxon_exact_and_holm_against_references():
    from statsmodels.stats.multitest import multipletests

    a = np.arange(1.0, 9.0)
    w = paired_wilcoxon(a, np.zeros(8))
    assert w["p"] == pytest.approx(2 / 2 ** 8)      # exact: all 8 differences positive
    assert w["statistic"] == 0.0 and w["n"] == 8
    assert np.isnan(paired_wilcoxon(a, a)["p"])
    p = np.array([0.01, 0.04, 0.03, 0.2, np.nan])
    expected = multipletests(p[:4], method="holm")[1]
    np.testing.assert_allclose(holm(p)[:4], expected)
    assert np.isnan(holm(p)[4])
    with pytest.raises(DataError):
        paired_wilcoxon([1, 2], [1, 2, 3])


def test_effect_sizes_and_bootstrap():
    rng = np.random.default_rng(1)
    d = rng.normal(0.5, 1.0, 200)
    assert cohens_dz(d) == pytest.approx(d.mean() / d.std(ddof=1))
    e = paired_effect(d, np.zeros_like(d), seed=0)
    lo, hi = e["mean_diff_ci"]
    # the bootstrap CI is close to the t-interval on this many pairs
    half = 1.972 * d.std(ddof=1) / np.sqrt(d.size)
    assert lo == pytest.approx(d.mean() - half, abs=0.03)
    assert hi == pytest.approx(d.mean() + half, abs=0.03)
    assert e["dz_ci"][0] < e["dz"] < e["dz_ci"][1]
    assert bootstrap_ci(d, seed=0) == bootstrap_ci(d, seed=0)   # seeded


def test_compare_presets_finds_the_best_and_its_significance():
    cmp = compare_presets(_paired_table(effect=0.1), "r", seed=0)
    assert cmp.best == "energy+control" and cmp.significant
    assert "significantly better" in cmp.statement
    row = cmp.pairwise.iloc[0]
    assert row["other"] == "none" and row["mean_diff"] > 0 and row["p_holm"] < 0.01
    null = compare_presets(_paired_table(effect=0.0, seed=2), "r", seed=0)
    assert not null.significant and "not significant" in null.statement
    # errors: lower is better
    err = _paired_table(effect=-0.1).rename(columns={"r": "err"})
    assert compare_presets(err, "err", higher_is_better=False).best == "energy+control"
    d = cmp.to_dict()
    assert d["best"] == "energy+control" and d["mixed_effects"]["table"]
    with pytest.raises(DataError, match="lacks column"):
        compare_presets(_paired_table(), "vaf")


def test_tracking_errors_known_offsets():
    C, T = 3, 40
    ref_q = np.zeros((C, T, 4))
    pred_q = ref_q + np.deg2rad(2.0)
    ref_k = np.zeros((C, T, 2, 3))
    pred_k = ref_k.copy()
    pred_k[..., 0] = 0.001                  # 1 mm everywhere
    pred_k[2, 20:, 1, 0] = 0.02             # clip 2 loses the paw (20 mm) half way
    k = tracking_errors(pred_q, ref_q, pred_k, ref_k, rate=200.0, keypoint_names=["W", "P"])
    assert k.per_clip["joint_rmse_rad"].to_numpy() == pytest.approx(np.deg2rad(2.0))
    assert k.per_clip["kp_rmse_m"].iloc[0] == pytest.approx(0.001)
    assert list(k.per_clip["tracked"]) == [True, True, False]
    assert k.success_rate == pytest.approx(2 / 3)
    assert k.over_time["time_s"].iloc[-1] == pytest.approx((T - 1) / 200.0)
    # an early termination (NaN tail) is not a tracked clip
    pred_k[0, 30:] = np.nan
    assert not tracking_errors(None, None, pred_k, ref_k).per_clip["tracked"].iloc[0]


def test_phase_labels_and_latent_decoding():
    s = np.clip(np.linspace(-0.4, 1, 60), 0, 1)     # 17 frames of rest, then out and back
    path = np.stack([np.sin(np.pi * s) ** 2, 0 * s, 0 * s], 1)
    lab = phase_labels(path)
    assert lab[0] == 0 and lab[16] == 0 and lab[30] == 1 and lab[-1] == 2
    assert set(np.unique(lab)) == {0, 1, 2}
    rng = np.random.default_rng(0)
    n_clips = 6
    Z, ph, cl, tg = [], [], [], []
    for c in range(n_clips):
        target = rng.normal(size=3)
        z = 0.3 * rng.standard_normal((60, 6))
        z[:, 0] += 2 * lab
        z[:, 1:4] += target
        Z.append(z), ph.append(lab), cl.append(np.full(60, c)), tg.append(np.tile(target, (60, 1)))
    Z, ph, cl, tg = map(np.concatenate, (Z, ph, cl, tg))
    ls = latent_structure(Z, phase=ph, target=tg, clips=cl, seed=0)
    assert ls.decoding["phase"]["balanced_accuracy"] > 0.9
    assert ls.decoding["phase"]["folds"] == "clip"
    assert ls.decoding["target"]["r2"] > 0.5
    shuffled = latent_structure(rng.standard_normal(Z.shape), phase=ph, target=tg, clips=cl)
    assert shuffled.decoding["phase"]["balanced_accuracy"] < 0.6
    assert shuffled.decoding["target"]["r2"] < 0.2
    assert ls.projection.shape == (len(Z), 3)
    assert ls.explained_variance_ratio[0] > ls.explained_variance_ratio[1]
