"""EMG processing against analytic signals."""
import numpy as np
import pytest

from neuroimit.analysis.emg import (EMGConfig, bandpass, envelope, normalise, process_emg,
                                    process_emg_array, rectify, resample_to)
from neuroimit.errors import ConfigError
from neuroimit.session import EMG


def test_am_sine_envelope_is_recovered_exactly():
    # x = a(t) sin(2 pi 150 t): mean of |sin| is 2/pi, so the envelope is (2/pi) a(t)
    fs = 4000.0
    t = np.arange(int(2 * fs)) / fs
    a = 1.0 + 0.5 * np.sin(2 * np.pi * 2.0 * t)
    x = a * np.sin(2 * np.pi * 150.0 * t)
    env = process_emg_array(x, fs, EMGConfig(normalise=None))
    mid = slice(int(0.25 * fs), int(1.75 * fs))  # away from the filter edges
    err = np.abs(env[mid] - 2 / np.pi * a[mid])
    assert err.max() < 0.01 * (2 / np.pi)


def test_noise_carrier_envelope_tracks_amplitude():
    fs = 4000.0
    t = np.arange(int(3 * fs)) / fs
    a = 0.2 + np.clip(np.sin(2 * np.pi * 1.0 * t), 0, None)
    x = a * np.random.default_rng(0).standard_normal(t.size)
    env = process_emg_array(x, fs, EMGConfig(envelope_hz=10.0))
    assert env.max() == pytest.approx(1.0)
    r = np.corrcoef(env[400:-400], a[400:-400])[0, 1]
    assert r > 0.97
    # zero phase: the amplitude shifted by +-50 ms matches worse than the unshifted one
    for k in (-200, 200):
        assert np.corrcoef(env[400:-400], np.roll(a, k)[400:-400])[0, 1] < r - 0.01


def test_zero_phase_pulse_keeps_its_peak_time():
    fs = 2000.0
    t = np.arange(2000) / fs
    pulse = np.exp(-0.5 * ((t - 0.5) / 0.03) ** 2)
    y = envelope(pulse, fs, cutoff=30.0)
    assert abs(int(np.argmax(y)) - int(np.argmax(pulse))) <= 1


def test_bandpass_removes_dc_and_out_of_band():
    fs = 2000.0
    t = np.arange(4000) / fs
    x = 3.0 + np.sin(2 * np.pi * 5 * t) + np.sin(2 * np.pi * 100 * t)
    y = bandpass(x, fs, 20, 450)
    core = slice(500, -500)
    # only the 100 Hz component survives (its amplitude, 1, within 2 %)
    assert abs(y[core].mean()) < 0.01
    assert np.sqrt(2 * np.mean(y[core] ** 2)) == pytest.approx(1.0, rel=0.02)


def test_cutoffs_are_validated_against_the_rate():
    x = np.zeros(1000)
    with pytest.raises(ConfigError, match="Nyquist"):
        envelope(x, 100.0, cutoff=60.0)
    with pytest.raises(ConfigError, match="EMGConfig.band"):
        bandpass(x, 500.0, 20, 450)
    with pytest.raises(ConfigError, match="band"):
        process_emg_array(x, 500.0, EMGConfig())
    with pytest.raises(ConfigError):
        EMGConfig(band=(100.0, 50.0))
    with pytest.raises(ConfigError):
        EMGConfig(normalise="zscore")
    # capping the upper edge is allowed when asked for
    assert np.isfinite(process_emg_array(np.random.default_rng(0).standard_normal(1000), 500.0,
                                         EMGConfig(cap_high=True))).all()


def test_envelopes_are_not_filtered_twice():
    fs = 1000.0
    t = np.arange(1000) / fs
    step = np.where(t > 0.5, 2.0, 0.5)[:, None]   # a sharp edge any low-pass would smooth
    e = EMG(step, t, ["Biceps"], unit="a.u.", kind="envelope")
    out = process_emg(e)
    np.testing.assert_allclose(out.data, step / 2.0)
    assert out.kind == "envelope" and out.unit == "a.u."
    # the same data declared raw is filtered (rectified, smoothed): not identical
    raw = process_emg(EMG(step, t, ["Biceps"], kind="raw"))
    assert not np.allclose(raw.data, step / 2.0)


def test_normalisation_max_and_percentile():
    x = np.c_[np.linspace(0, 2, 101), np.linspace(0, 10, 101)]
    y, s = normalise(x, "max")
    np.testing.assert_allclose(s, [2, 10])
    assert y.max(axis=0) == pytest.approx([1, 1])
    y, s = normalise(x, "percentile", 50)
    np.testing.assert_allclose(s, [1, 5])
    z = np.zeros((10, 1))
    assert np.all(normalise(z, "max")[0] == 0)


def test_resample_onto_kinematics_time_base():
    fs = 2000.0
    t = np.arange(2000) / fs
    x = np.sin(2 * np.pi * 1.0 * t)
    new_t = np.arange(-0.1, 1.1, 0.005)
    y = resample_to(t, x, new_t)
    inside = (new_t >= 0) & (new_t <= t[-1])
    np.testing.assert_allclose(y[inside], np.sin(2 * np.pi * new_t[inside]), atol=1e-5)
    assert np.isnan(y[~inside]).all()
    # gaps in the source stay gaps
    xg = x.copy()
    xg[800:1000] = np.nan
    yg = resample_to(t, xg, new_t)
    assert np.isnan(yg[(new_t > 0.41) & (new_t < 0.49)]).all()
    assert np.isfinite(yg[(new_t > 0.1) & (new_t < 0.39)]).all()


def test_process_emg_object_onto_time_base_keeps_channels():
    rng = np.random.default_rng(1)
    fs = 2000.0
    t = np.arange(4000) / fs
    amp = np.c_[1 + np.sin(2 * np.pi * t), 1 + np.cos(2 * np.pi * t)]
    e = EMG(amp * rng.standard_normal((4000, 2)), t, ["Biceps", "TriLong"],
            muscles=["biceps_long", "triceps_long"])
    kin_t = np.arange(0, 2.0, 1 / 200.0)
    out = process_emg(e, EMGConfig(envelope_hz=5.0), time=kin_t)
    assert out.data.shape == (kin_t.size, 2)
    assert out.channels == ("Biceps", "TriLong") and out.muscles == ("biceps_long",
                                                                     "triceps_long")
    core = slice(40, -40)
    for j in range(2):
        assert np.corrcoef(out.data[core, j], amp[::10][core, j])[0, 1] > 0.95


def test_rectify():
    np.testing.assert_array_equal(rectify([-1.0, 2.0, -3.0]), [1.0, 2.0, 3.0])
