"""Alignment metrics: lag recovery, ground truth beats shuffled, ridge read-out, peers."""
import numpy as np
import pandas as pd
import pytest

from conftest import shared_path
from neuroimit.analysis.alignment import (align, best_lag, default_mapping, pearson,
                                          ridge_readout, vaf)
from neuroimit.analysis.emg import EMGConfig, process_emg
from neuroimit.errors import ConfigError, DataError
from neuroimit.session import EMG


def _smooth_drive(t, seed, n_bumps=6, span=(0.0, 1.0)):
    rng = np.random.default_rng(seed)
    out = np.zeros_like(t)
    for c, w, h in zip(rng.uniform(*span, n_bumps), rng.uniform(0.02, 0.06, n_bumps),
                       rng.uniform(0.3, 1.0, n_bumps)):
        out += h * np.exp(-0.5 * ((t - c) / w) ** 2)
    return out


@pytest.mark.parametrize("lag_s", [0.0, 0.0123, 0.023, 0.041])
def test_known_lag_recovered_within_one_sample(lag_s):
    rate = 200.0
    t = np.arange(0, 2.0, 1 / rate)
    emg = _smooth_drive(t, 0, span=(0.1, 1.9))
    sim = _smooth_drive(t - lag_s, 0, span=(0.1, 1.9))   # the simulation lags the EMG
    k, r, curve = best_lag(sim, emg, rate, max_lag_s=0.05)
    assert abs(k - lag_s * rate) <= 1.0
    assert r > 0.95 and curve.size == 11


def test_lag_search_respects_clip_boundaries():
    rate = 100.0
    t = np.arange(0, 1.0, 1 / rate)
    clips = np.repeat([0, 1, 2], t.size)
    emg = np.concatenate([_smooth_drive(t, s) for s in (1, 2, 3)])
    sim = np.concatenate([_smooth_drive(t - 0.03, s) for s in (1, 2, 3)])
    a = align(pd.DataFrame({"biceps_long": sim}), pd.DataFrame({"Biceps": emg}), rate=rate,
              clips=clips)
    row = a.per_muscle.iloc[0]
    assert row["muscle"] == "biceps_long" and row["lag_samples"] == 3
    assert row["r"] > 0.99 and row["vaf"] > 0.95
    assert len(a.per_clip) == 3 and (a.per_clip["r"] > 0.99).all()


def _activation_driven_session(seed=0, n_clips=6):
    """EMG generated from known activations: raw = activation(t - delay) x noise carrier."""
    rng = np.random.default_rng(seed)
    rate, fs, dur = 200.0, 2000.0, 1.0
    muscles = ["biceps_long", "triceps_long", "triceps_lateral", "deltoid_anterior"]
    acts, emgs, clips = [], [], []
    for c in range(n_clips):
        tf = np.arange(0, dur, 1 / fs)
        A = np.stack([_smooth_drive(tf, 100 * seed + 10 * c + m) + 0.05
                      for m in range(len(muscles))], 1)
        raw = A * rng.standard_normal(A.shape)
        emgs.append(raw)
        acts.append(np.stack([np.interp(np.arange(0, dur, 1 / rate) - 0.02, tf, A[:, m])
                              for m in range(len(muscles))], 1))   # activation lags 20 ms
        clips.append(np.full(int(dur * rate), c))
    raw = np.concatenate(emgs)
    t_emg = np.arange(len(raw)) / fs
    emg = EMG(raw[:, :3], t_emg, ["Biceps", "TriLong", "TriLat"])
    t_kin = np.arange(len(np.concatenate(clips))) / rate
    env = process_emg(emg, EMGConfig(envelope_hz=20.0), time=t_kin)
    return (pd.DataFrame(np.concatenate(acts), columns=muscles),
            pd.DataFrame(env.data, columns=list(env.channels)), np.concatenate(clips), rate)


def test_ground_truth_activations_score_higher_than_shuffled():
    act, env, clips, rate = _activation_driven_session()
    true = align(act, env, rate=rate, clips=clips)
    assert dict(zip(true.per_muscle.channel, true.per_muscle.muscle)) == {
        "Biceps": "biceps_long", "TriLong": "triceps_long", "TriLat": "triceps_lateral"}
    # shuffled control: each clip's activations paired with another clip's EMG
    order = np.roll(np.arange(6), 1)
    shuf = pd.concat([act[clips == o] for o in order], ignore_index=True)
    sh = align(shuf, env, rate=rate, clips=clips)
    for metric in ("r", "r2", "vaf", "readout_r2"):
        assert (true.per_muscle[metric].to_numpy() > sh.per_muscle[metric].to_numpy()
                + 0.2).all(), metric
    assert (true.per_muscle["r"] > 0.8).all()
    assert (true.per_muscle["readout_r2"] > 0.6).all()
    # the 20 ms electromechanical delay is found (within one 5 ms sample)
    assert np.all(np.abs(true.per_muscle["lag_s"] - 0.02) <= 0.005 + 1e-12)


def test_ridge_readout_clipwise_folds():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((400, 5))
    y = X @ np.array([1.0, -0.5, 0.0, 0.2, 0.0]) + 0.1 * rng.standard_normal(400)
    clips = np.repeat(np.arange(8), 50)
    good = ridge_readout(X, y, clips)
    assert good["folds"] == "clip" and good["n_folds"] == 5 and good["r2"] > 0.95
    bad = ridge_readout(rng.permutation(X), y, clips)
    assert bad["r2"] < 0.1
    single = ridge_readout(X, y, None)
    assert single["folds"] == "block" and single["r2"] > 0.95


def test_metrics_and_errors():
    x = np.linspace(0, 1, 50)
    assert pearson(x, 2 * x + 1) == pytest.approx(1.0)
    assert vaf(x, 3 * x) == pytest.approx(1.0)
    assert vaf(x, -x) == pytest.approx(0.0)       # negative gain is not allowed
    assert np.isnan(pearson(np.ones(10), x[:10]))
    with pytest.raises(DataError, match="same time base"):
        align(np.zeros((10, 1)), np.zeros((11, 1)), rate=100.0)
    with pytest.raises(DataError, match="mapping"):
        align(np.zeros((10, 1)), np.zeros((10, 1)), rate=100.0, mapping={"emg0": "nope"})
    with pytest.raises(ConfigError):
        best_lag(x, x, 100.0, max_lag_s=-1)
    assert default_mapping(["TriLong", "Deltoid"], ["triceps_long", "deltoid_anterior",
                                                    "deltoid_medial"]) == {
        "TriLong": "triceps_long", "Deltoid": "deltoid_anterior"}


def test_external_peer_predictions_scored_by_the_same_code():
    """Gilmer et al.'s OpenSim activations vs the real EMG: the published zero-lag r."""
    folder = shared_path("mouse_reach_emg_150hz")
    from neuroimit.analysis.peers import GILMER_EMG_MAP, load_gilmer_reach

    g = load_gilmer_reach(folder, 1)
    t = g.activation.index.to_numpy()
    env = process_emg(g.session.emg, EMGConfig(normalise=None), time=t)
    a = align(g.activation, pd.DataFrame(env.data, columns=list(env.channels)),
              rate=1 / np.median(np.diff(t)), mapping=GILMER_EMG_MAP, readout=False)
    r0 = dict(zip(a.per_muscle.channel, a.per_muscle.r_zero_lag))
    # data README: reach 1 biceps 0.13-0.19, triceps long 0.80, triceps lateral 0.57
    assert r0["TriLong"] == pytest.approx(0.80, abs=0.01)
    assert r0["TriLat"] == pytest.approx(0.57, abs=0.01)
    assert 0.12 <= r0["Biceps"] <= 0.20
    assert g.solver_status == "Maximum_Iterations_Exceeded"


def test_synthetic_session_truth_beats_shifted_activations():
    """neuroimit.synth: EMG generated from known activations (15 ms delay)."""
    synth = pytest.importorskip("neuroimit.synth")
    s = synth.make_session(synth.SynthConfig(duration=3.0, seed=0))
    t = s.truth["time"].values
    env = process_emg(s.emg, time=t)
    E = pd.DataFrame(env.data, columns=list(env.channels))
    act = s.truth["activation"].to_pandas().reset_index(drop=True)
    mapping = dict(zip(env.channels, env.muscles))
    true = align(act, E, rate=s.rate, mapping=mapping).per_muscle.set_index("channel")
    shifted = pd.DataFrame(np.roll(act.to_numpy(), int(s.rate), axis=0), columns=act.columns)
    ctrl = align(shifted, E, rate=s.rate, mapping=mapping).per_muscle.set_index("channel")
    active = true.index[np.isfinite(true["r"])]       # a muscle silent all session has no r
    assert len(active) >= 3
    delay = float(s.truth.attrs["emg_delay_s"])
    for ch in active:
        assert true.loc[ch, "r"] > 0.8 and true.loc[ch, "r"] > ctrl.loc[ch, "r"] + 0.3
        assert true.loc[ch, "vaf"] > ctrl.loc[ch, "vaf"]
        assert abs(true.loc[ch, "lag_s"] - delay) <= 1.0 / s.rate + 1e-9


@pytest.mark.parametrize("noise", [0.1, 3.0])
def test_ridge_penalty_choice_matches_scikit_learn(noise):
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from neuroimit.analysis.alignment import _ridge_loo_fit_predict

    rng = np.random.default_rng(4)
    X = rng.random((200, 6))
    y = X @ rng.standard_normal(6) + noise * rng.standard_normal(200)
    Xt = rng.random((40, 6))
    alphas = [1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1e3, 1e4]
    ref = make_pipeline(StandardScaler(), RidgeCV(alphas=alphas)).fit(X, y)
    np.testing.assert_allclose(_ridge_loo_fit_predict(X, y, Xt, alphas), ref.predict(Xt),
                               atol=1e-10)


def test_read_sto_errors_and_columns(tmp_path):
    import io

    from neuroimit.analysis.peers import read_sto, sto_activations

    with pytest.raises(DataError, match="endheader"):
        read_sto(io.StringIO("time\ta\n0\t1\n"))
    with pytest.raises(DataError, match="time"):
        read_sto(io.StringIO("endheader\nt\ta\n0\t1\n"))
    df, meta = read_sto(io.StringIO("status=ok\nendheader\ntime\t/forceset/A/activation\t"
                                    "/forceset/A\t/jointset/j/q/value\n0\t0.1\t0.2\t1\n"))
    assert meta == {"status": "ok"}
    assert list(sto_activations(df).columns) == ["A"]
    assert sto_activations(df, suffix="")["A"].iloc[0] == 0.2
    with pytest.raises(DataError, match="does not exist"):
        from neuroimit.analysis.peers import load_gilmer_reach
        load_gilmer_reach(tmp_path, 1)
