"""Synthetic sessions as NWB: nwbinspector, pynwb round trip of pose/EMG/trials/truth, CLI."""
from __future__ import annotations

import json

import numpy as np
import pytest

from neuroimit import DataError, Session
from neuroimit.cli import main
from neuroimit.synth import SynthConfig, make_session, write_synthetic_nwb

CFG = SynthConfig(duration=1.5, seed=2, offset_sd_m=5e-4, scale_sd=0.05)


@pytest.fixture(scope="module")
def nwb_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("synth") / "synth.nwb"
    return write_synthetic_nwb(path, CFG), make_session(CFG)


def test_nwbinspector_no_critical(nwb_file):
    from nwbinspector import Importance, inspect_nwbfile

    path, _ = nwb_file
    msgs = list(inspect_nwbfile(nwbfile_path=str(path)))
    bad = [m for m in msgs if m.importance in (Importance.CRITICAL, Importance.ERROR)]
    assert not bad, [(m.check_function_name, m.object_name, m.message) for m in bad]


def test_pynwb_reads_back_everything(nwb_file):
    from pynwb import NWBHDF5IO

    path, sess = nwb_file
    with NWBHDF5IO(str(path), "r", load_namespaces=True) as io:
        nwb = io.read()
        assert nwb.subject.species == "Mus musculus"
        pe = nwb.processing["behavior"]["PoseEstimation"]
        for k, name in enumerate(sess.keypoint_names):
            ser = pe.pose_estimation_series[name]
            assert ser.unit == "meters"
            np.testing.assert_array_equal(ser.data[:], sess.keypoints[:, k])
            np.testing.assert_array_equal(ser.confidence[:], sess.confidence[:, k])
            np.testing.assert_allclose(ser.get_timestamps(), sess.time, atol=1e-12)
        es = nwb.acquisition["EMG"]
        np.testing.assert_array_equal(es.data[:], sess.emg.data)
        assert es.rate == 2000.0
        el = es.electrodes.to_dataframe()
        assert list(el["channel"]) == list(sess.emg.channels)
        assert list(el["muscle"]) == list(sess.emg.muscles)
        tr = nwb.trials.to_dataframe().reset_index(drop=True)
        for col in ("start_time", "stop_time", "target_x", "target_y", "target_z"):
            np.testing.assert_allclose(tr[col].to_numpy(), sess.trials[col].to_numpy())
        assert list(tr["outcome"]) == list(sess.trials["outcome"])
        gt = nwb.processing["ground_truth"]
        assert "GROUND TRUTH" in gt.description
        for var in ("qpos", "qvel", "excitation", "activation", "keypoints_true"):
            ts = gt[var]
            np.testing.assert_array_equal(ts.data[:], sess.truth[var].values)
            np.testing.assert_allclose(ts.get_timestamps(), sess.time, atol=1e-12)
            meta = json.loads(ts.comments)
            assert meta["dims"] == list(sess.truth[var].dims)
        assert json.loads(gt["qpos"].comments)["coords"]["joint"]["values"] == \
            list(sess.truth["joint"].values)
        assert gt["qpos"].unit == "radians"
        off = gt["offsets"].to_dataframe()
        np.testing.assert_array_equal(np.stack(off["value"].to_numpy()),
                                      sess.truth["offsets"].values)
        sc = gt["segment_scale"].to_dataframe()
        assert list(sc["segment"]) == ["humerus", "forearm", "paw"]
        np.testing.assert_array_equal(sc["value"].to_numpy(), sess.truth["segment_scale"].values)
        attrs = gt["dataset_attrs"].to_dataframe()
        attrs = dict(zip(attrs["key"], map(json.loads, attrs["value_json"])))
        assert attrs["substeps"] == 4 and attrs["body_xml"] == sess.truth.attrs["body_xml"]


def test_write_refuses_existing(nwb_file):
    path, _ = nwb_file
    with pytest.raises(DataError, match="already exists"):
        write_synthetic_nwb(path, CFG)


def test_cli_writes_nwb_and_session(tmp_path):
    from pynwb import NWBHDF5IO

    out = tmp_path / "s.nwb"
    assert main(["synth", "-o", str(out), "--duration", "0.5", "--seed", "0", "--quiet"]) == 0
    with NWBHDF5IO(str(out), "r", load_namespaces=True) as io:
        nwb = io.read()
        assert nwb.processing["ground_truth"]["qpos"].data.shape == (100, 4)
    assert main(["synth", "-o", str(out), "--duration", "0.5", "--quiet"]) == 1  # exists
    nc = tmp_path / "s.nc"
    assert main(["synth", "-o", str(nc), "--duration", "0.5", "--seed", "0", "--quiet"]) == 0
    s = Session.load(nc)
    assert s.n_frames == 100 and s.truth is not None
    assert main(["synth", "-o", str(tmp_path / "x.nwb"), "--duration", "-1"]) == 1


def test_loaders_rebuild_the_session(nwb_file):
    """The loaders' reader rebuilds pose, EMG, trials and the ground truth from the layout
    documented in docs/synth.md."""
    import xarray as xr

    loaders = pytest.importorskip("neuroimit.loaders")
    if not hasattr(loaders, "load_session"):
        pytest.skip("neuroimit.loaders.load_session is not available")
    path, sess = nwb_file
    back = loaders.load_session(str(path))
    np.testing.assert_array_equal(back.keypoints, sess.keypoints)
    np.testing.assert_allclose(back.time, sess.time, atol=1e-12)
    np.testing.assert_array_equal(back.emg.data, sess.emg.data)
    assert back.emg.channels == sess.emg.channels and back.emg.muscles == sess.emg.muscles
    assert list(back.trials["outcome"]) == list(sess.trials["outcome"])
    for var in sess.truth.data_vars:
        xr.testing.assert_allclose(back.truth[var], sess.truth[var])
    assert back.truth.attrs["body_xml"] == sess.truth.attrs["body_xml"]
