"""The run report on a tiny fake run directory built from arrays (+ CLI, partial runs)."""
import json
import re

import h5py
import numpy as np
import pandas as pd
import pytest

from neuroimit.analysis.browser import find_chromium, render_check
from neuroimit.analysis.report import build_report
from neuroimit.session import EMG, Session

MUSCLES = ["biceps_long", "triceps_long", "triceps_lateral", "deltoid_anterior"]
RATE, FS, N_CLIPS, T_CLIP = 200.0, 2000.0, 4, 100


def _bumps(t, seed):
    rng = np.random.default_rng(seed)
    out = 0.05 + np.zeros_like(t)
    for c, w in zip(rng.uniform(0.05, 0.45, 3), rng.uniform(0.02, 0.05, 3)):
        out += np.exp(-0.5 * ((t - c) / w) ** 2)
    return out


def make_tiny_run(root, *, emg=True, trained=True, seed=0):
    """A run directory: session.nc, registration.h5, rollouts/<preset>.h5, sweep.csv, peers/."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    n = N_CLIPS * T_CLIP
    t = np.arange(n) / RATE
    # joint angles: one smooth reach per clip
    ph = (t % (T_CLIP / RATE)) / (T_CLIP / RATE)
    reach = np.sin(np.pi * np.clip((ph - 0.2) / 0.6, 0, 1)) ** 2
    qpos = np.stack([0.3 + 0.4 * reach, -0.2 + 0.3 * reach, 0.1 * reach, 0.5 - 0.6 * reach], 1)
    kp = np.stack([np.zeros((n, 3)),
                   np.c_[0.012 * np.cos(qpos[:, 0]), np.zeros(n), -0.012 * np.sin(qpos[:, 0])],
                   np.c_[0.012 + 0.01 * reach, 0.002 * reach, -0.01 + 0.005 * reach]], 1)
    # true activations (pose time base) and EMG leading them by 20 ms
    tf = np.arange(int(n * FS / RATE)) / FS
    act_fine = np.stack([np.concatenate([_bumps(tf[:T_CLIP * 10] , 10 * c + m)
                                         for c in range(N_CLIPS)]) for m in range(4)], 1)
    act = np.stack([np.interp(t - 0.02, tf, act_fine[:, m]) for m in range(4)], 1)
    emg_obj = None
    if emg:
        raw = act_fine[:, :3] * rng.standard_normal((tf.size, 3)) * 1e-3
        emg_obj = EMG(raw, tf, ["Biceps", "TriLong", "TriLat"],
                      muscles=["biceps_long", "triceps_long", "triceps_lateral"])
    trials = pd.DataFrame({"start_time": np.arange(N_CLIPS) * T_CLIP / RATE,
                           "stop_time": (np.arange(N_CLIPS) + 1) * T_CLIP / RATE - 1 / RATE,
                           "outcome": ["success"] * N_CLIPS})
    sess = Session(kp + 2e-4 * rng.standard_normal(kp.shape), t, ["Shoulder", "Elbow", "Paw"],
                   emg=emg_obj, trials=trials, metadata={"session_id": "tiny", "subject": "m0"})
    sess.save(root / "session.nc")
    with h5py.File(root / "registration.h5", "w") as f:
        f["time"] = t
        f["qpos"] = qpos
        f["kp_data"] = sess.keypoints
        f["model_keypoints"] = kp
        f["residuals"] = np.linalg.norm(sess.keypoints - kp, axis=-1)
        f["keypoint_names"] = np.array([b"Shoulder", b"Elbow", b"Paw"])
        f["joint_names"] = np.array([b"shoulder_elevation", b"shoulder_extension",
                                     b"shoulder_rotation", b"elbow_flexion"])
    if trained:
        (root / "rollouts").mkdir(exist_ok=True)
        rows = []
        for preset, noise in (("none", 0.6), ("energy+control", 0.1)):
            r = np.random.default_rng(hash(preset) % 1000)
            C = lambda a: a.reshape((N_CLIPS, T_CLIP) + a.shape[1:])  # noqa: E731
            with h5py.File(root / "rollouts" / f"{preset}.h5", "w") as f:
                f["time"] = C(t)
                f["qpos"] = C(qpos + 0.02 * r.standard_normal(qpos.shape))
                f["ref_qpos"] = C(qpos)
                f["keypoints"] = C(kp + 0.0005 * r.standard_normal(kp.shape))
                f["ref_keypoints"] = C(kp)
                f["activation"] = C(np.clip(act + noise * r.standard_normal(act.shape), 0, None))
                lat = np.c_[reach, np.gradient(reach), r.standard_normal((n, 4))]
                f["latent"] = C(lat)
                f["muscle_names"] = np.array([m.encode() for m in MUSCLES])
                f["joint_names"] = np.array([b"shoulder_elevation", b"shoulder_extension",
                                             b"shoulder_rotation", b"elbow_flexion"])
                f["keypoint_names"] = np.array([b"Shoulder", b"Elbow", b"Paw"])
            for c in range(N_CLIPS):
                rows.append({"preset": preset, "clip": c,
                             "kp_error_mm": 1.5 + r.normal(0, 0.1) + (preset == "none")})
        pd.DataFrame(rows).to_csv(root / "sweep.csv", index=False)
    (root / "peers").mkdir(exist_ok=True)
    pd.DataFrame({"time": t, "Biceps_Long_Head": act[:, 0] + 0.3 * rng.standard_normal(n),
                  "Triceps_Long_Head": act[:, 1], "Triceps_Lat_Head": act[:, 2]}
                 ).to_csv(root / "peers" / "opensim.csv", index=False)
    (root / "peers" / "opensim.json").write_text(json.dumps(
        {"label": "OpenSim", "emg_map": {"Biceps": "Biceps_Long_Head",
                                         "TriLong": "Triceps_Long_Head",
                                         "TriLat": "Triceps_Lat_Head"}}))
    return root


@pytest.fixture(scope="module")
def full_report(tmp_path_factory):
    root = make_tiny_run(tmp_path_factory.mktemp("run") / "tiny")
    # the state-space forecaster (dynamax EM: ~30 s of compilation here) is tested by
    # neuroimit.dynamics; the report's simplex forecasts exercise the same figure and table
    html, js = build_report(root, ccm_samples=5, n_boot=300, ccm_surrogates=19,
                            causal_max_pairs=2, ssm=False)
    return root, html, json.loads(js.read_text()), html.read_text()


def test_full_report_numbers_and_statements(full_report):
    root, html, rep, text = full_report
    assert html == root / "report.html"
    hl = rep["headline"]
    assert hl["best_preset"] == "energy+control"
    assert hl["emg_mean_r[energy+control]"] > hl["emg_mean_r[none]"]
    assert hl["emg_mean_r[energy+control]"] > 0.8
    assert 0.0 < hl["registration_mean_error_mm"] < 0.6
    assert hl["tracking_success_rate"] == 1.0
    emg = rep["sections"]["emg"]["numbers"]["alignment"]
    assert set(emg) == {"none", "energy+control", "peer: OpenSim"}
    ours = {r["channel"]: r for r in emg["energy+control"]["per_muscle"]}
    assert ours["Biceps"]["muscle"] == "biceps_long"
    # the 20 ms lead of EMG over activation is found (5 ms samples)
    assert all(abs(r["lag_s"] - 0.02) <= 0.0051 for r in ours.values())
    pres = rep["sections"]["presets"]
    assert any("energy+control" in s for s in pres["statements"])
    assert rep["sections"]["latent"]["numbers"]["decoding"]["phase"]["balanced_accuracy"] > 0.7
    assert rep["sections"]["data"]["numbers"]["emg"]["channels"] == ["Biceps", "TriLong",
                                                                     "TriLat"]


def test_causal_section_uses_dynamics(full_report):
    from neuroimit.analysis.causal import _Dyn

    if not _Dyn().has("ccm_matrix"):
        pytest.skip("neuroimit.dynamics provides no ccm_matrix in this checkout")
    rep = full_report[2]
    causal = rep["sections"]["causal"]["numbers"]
    names = causal["variables"]
    assert {n.split(":")[0] for n in names} == {"emg", "sim", "joint"}
    rho = np.array(causal["ccm"]["rho_at_max_library"], dtype=float)
    assert rho.shape == (len(names), len(names)) and np.isnan(np.diag(rho)).all()
    # EMG drives the activations it was made from: emg:Biceps is cross-mapped from
    # sim:biceps_long's embedding with high skill
    i, j = names.index("sim:biceps_long"), names.index("emg:Biceps")
    assert rho[i, j] > 0.5
    # the strongest pairs get surrogate tests (19 surrogates: p >= 0.05) and convergence
    p = np.array(causal["ccm"]["surrogate_p"], dtype=float)
    assert np.isfinite(p).sum() >= 2 and np.nanmin(p) == pytest.approx(0.05)
    assert set(causal["embedding_dimension"]) == set(names)
    assert causal["forecast_skill"]["rho"] and causal["granger"]["tests"]
    assert any(k.startswith("simplex") for k in causal["forecast_skill"]["rho"])
    figs = {f["key"] for f in rep["sections"]["causal"]["figures"]}
    assert {"embedding", "ccm_matrix", "ccm_convergence", "forecast"} <= figs


def test_html_is_self_contained_and_every_figure_is_listed(full_report):
    root, html, rep, text = full_report
    srcs = re.findall(r"<img [^>]*src='([^']*)'", text)
    n_figs = sum(len(s["figures"]) for s in rep["sections"].values())
    assert len(srcs) == n_figs >= 8
    assert all(s.startswith("data:image/png;base64,") for s in srcs)
    assert "http://" not in text and "https://" not in text and "<script" not in text
    # numbers shown in tables come from the JSON
    r = rep["headline"]["emg_mean_r[energy+control]"]
    assert rep["sections"]["emg"]["tables"][0]["rows"]
    assert isinstance(r, float)


def test_partial_runs(tmp_path):
    root = make_tiny_run(tmp_path / "noemg", emg=False, trained=True)
    html, js = build_report(root, causal=False, n_boot=200)
    rep = json.loads(js.read_text())
    assert any("EMG absent" in n for n in rep["sections"]["emg"]["notes"])
    assert rep["sections"]["tracking"]["numbers"]       # kinematics still reported
    assert "EMG absent" in html.read_text()
    root = make_tiny_run(tmp_path / "untrained", emg=True, trained=False)
    (root / "peers" / "opensim.csv").unlink()
    html, js = build_report(root, tmp_path / "out" / "r.html", causal=False)
    rep = json.loads(js.read_text())
    assert js == tmp_path / "out" / "r.json"
    assert any("not been trained" in n for n in rep["sections"]["tracking"]["notes"])
    assert rep["headline"]["registration_mean_error_mm"] > 0
    assert rep["sections"]["registration"]["figures"]
    # a broken file is reported, not fatal
    (root / "registration.h5").write_bytes(b"not hdf5")
    html, js = build_report(root, causal=False)
    rep = json.loads(js.read_text())
    assert any("registration.h5" in p for p in rep["problems"])


def test_cli_report(tmp_path):
    from neuroimit.cli import main

    root = make_tiny_run(tmp_path / "run", trained=False)
    out = tmp_path / "cli.html"
    rc = main(["report", str(root), "-o", str(out), "--json", str(tmp_path / "cli.json"),
               "--no-causal"])
    assert rc == 0 and out.exists() and (tmp_path / "cli.json").exists()
    assert main(["report", str(tmp_path / "missing")]) == 1


# ------------------------------------------------------------------ headless Chromium
@pytest.fixture(scope="module")
def browser():
    exe = find_chromium()
    if exe is None:
        pytest.skip("no Chromium browser installed (Debian: apt-get install chromium; CI "
                    "installs it in .ci/run): the rendering check cannot run here")
    return exe


def test_report_renders_in_headless_chromium(browser, full_report):
    res = render_check(full_report[1], chromium=browser)
    assert res["n_images"] >= 8
    assert res["decoded"] == res["n_images"], res["widths"]
    assert min(res["widths"]) > 100
    assert res["errors"] == [] and res["console"] == []


def test_probe_detects_a_broken_figure(browser, tmp_path):
    # the check can fail: a truncated image and a script error are caught
    page = tmp_path / "bad.html"
    page.write_text("<!DOCTYPE html><html><body><img src='data:image/png;base64,iVBORw0KGgo='>"
                    "<script>undefined_function();</script></body></html>")
    res = render_check(page, chromium=browser)
    assert res["n_images"] == 1 and res["decoded"] == 0
    assert res["errors"] and "undefined_function" in res["errors"][0]


def test_imitation_rollout_file_is_placed_on_trials(tmp_path):
    """A neuroimit.imitation.Rollout (clip-relative times, window names, clips of different
    lengths) as the pipeline's evaluate stage writes it."""
    imitation = pytest.importorskip("neuroimit.imitation")
    Rollout = getattr(imitation, "Rollout", None)
    if Rollout is None:
        pytest.skip("neuroimit.imitation has no Rollout in this checkout")
    root = make_tiny_run(tmp_path / "run", trained=False)
    sess = Session.load(root / "session.nc")
    with h5py.File(root / "registration.h5") as f:
        qpos = f["qpos"][()]
        kp = f["model_keypoints"][()]
    # truth activations recomputed as in make_tiny_run, EMG leads them by 20 ms
    t = sess.time
    tf = sess.emg.time
    act_fine = np.stack([np.concatenate([_bumps(tf[:T_CLIP * 10], 10 * c + m)
                                         for c in range(N_CLIPS)]) for m in range(4)], 1)
    act = np.stack([np.interp(t - 0.02, tf, act_fine[:, m]) for m in range(4)], 1)
    lens = [100, 90, 100, 80]        # windows shorter than the trials for two clips
    series = {k: [] for k in ("time", "qpos", "ref_qpos", "keypoints", "ref_keypoints",
                              "excitation", "activation", "force", "latent")}
    for c, L in enumerate(lens):
        sl = slice(c * T_CLIP, c * T_CLIP + L)
        series["time"].append(np.arange(L) / RATE)
        series["qpos"].append(qpos[sl] + 0.01)
        series["ref_qpos"].append(qpos[sl])
        series["keypoints"].append(kp[sl] + 0.0003)
        series["ref_keypoints"].append(kp[sl])
        series["activation"].append(act[sl])
        series["excitation"].append(act[sl])
        series["force"].append(-act[sl])
        series["latent"].append(np.c_[qpos[sl], np.zeros((L, 2))])
    roll = Rollout(clip_names=[f"tiny_w{c:03d}" for c in range(N_CLIPS)],
                   held_out=np.array([False, False, False, True]),
                   qpos_names=["shoulder_elevation", "shoulder_extension", "shoulder_rotation",
                               "elbow_flexion"], muscle_names=MUSCLES,
                   keypoint_names=["Shoulder", "Elbow", "Paw"], **series)
    roll.save(root / "rollout.h5")
    html, js = build_report(root, causal=False, n_boot=200)
    rep = json.loads(js.read_text())
    assert rep["found"]["rollout:run"] == "rollout.h5"
    tr = rep["sections"]["tracking"]["numbers"]["run"]
    assert [r["n_frames"] for r in tr["per_clip"]] == lens
    assert [r["holdout"] for r in tr["per_clip"]] == [False, False, False, True]
    assert tr["success_rate"] == 1.0
    al = {r["channel"]: r for r in
          rep["sections"]["emg"]["numbers"]["alignment"]["run"]["per_muscle"]}
    # clips placed on their trials: the activations match the EMG with its 20 ms lead
    assert all(r["r"] > 0.9 and abs(r["lag_s"] - 0.02) <= 0.0051 for r in al.values())
    assert rep["sections"]["latent"]["numbers"]["n_samples"] == sum(lens)


def test_force_signal_is_aligned_as_tension():
    from neuroimit.analysis.rundir import ClipView

    f = -np.abs(np.sin(np.linspace(0, 3, 50)))[:, None]       # MuJoCo: pulling is negative
    c = ClipView("c", 0.0, 200.0, signals={"force": f, "activation": -f})
    np.testing.assert_allclose(c.signal("force"), -f)
    np.testing.assert_allclose(c.signal("activation"), -f)
    assert c.signal("excitation") is None
