"""Remote sources on 127.0.0.1 only: Range streaming, downloads, faults, the DANDI stand-in,
tokens, unsafe paths, offline mode, and how few bytes one trial costs."""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
import pytest
import requests

from dandi_standin import DandiStandin, assert_same_session, make_session
from http_range_server import RangeServer
from neuroimit.errors import DataError, NetworkError
from neuroimit.loaders import HTTPConfig, RemoteFile, download, fetch, list_sessions, \
    load_session
from neuroimit.loaders.dandi import ResolvedAsset, dandi_cache_path, parse_dandi
from neuroimit.loaders.nwb_write import write_nwb

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
FAST = HTTPConfig(timeout=5.0, retries=3, backoff=0.01, max_backoff=0.05)
PUB = "0.240101.0001"


@pytest.fixture(autouse=True)
def _no_et(monkeypatch):
    monkeypatch.setenv("DANDI_NO_ET", "1")
    monkeypatch.delenv("DANDI_API_KEY", raising=False)
    monkeypatch.delenv("NEUROIMIT_CACHE", raising=False)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A small synthetic NWB (with truth) and the session it holds."""
    d = tmp_path_factory.mktemp("small")
    s = make_session(n=400)
    p = write_nwb(s, d / "small.nwb")
    return s, p


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """A few-MB NWB with many short trials (for the streaming-economy test)."""
    d = tmp_path_factory.mktemp("big")
    s = make_session(n=12000, n_trials=40, trial_len=0.4, truth=True, seed=3)
    p = write_nwb(s, d / "big.nwb")
    return s, p


@pytest.fixture(scope="module")
def api(small, big):
    srv = DandiStandin().start()
    srv.add_dandiset("000001", published=PUB)
    srv.add_asset("000001", "sub-M1/sub-M1_ses-s1_behavior+emg.nwb", small[1].read_bytes())
    srv.add_asset("000001", "sub-M1/sub-M1_ses-big_behavior+emg.nwb", big[1].read_bytes())
    srv.add_asset("000001", "README.txt", b"not a session")
    srv.add_dandiset("000002", embargoed=True)
    srv.add_asset("000002", "sub-E/sub-E_ses-1.nwb", small[1].read_bytes())
    srv.add_dandiset("000003")
    srv.add_asset("000003", "../../escape.nwb", b"x" * 100, metadata={"path": "../../escape.nwb"})
    yield srv
    srv.stop()


# ---------------------------------------------------------------------------- the server
def test_range_server_semantics():
    data = bytes(range(256)) * 4
    with RangeServer({"/f": data}) as srv:
        u = srv.url("/f")
        r = requests.get(u, headers={"Range": "bytes=10-19"})
        assert r.status_code == 206 and r.content == data[10:20]
        assert r.headers["Content-Range"] == f"bytes 10-19/{len(data)}"
        assert requests.get(u, headers={"Range": "bytes=1000-"}).content == data[1000:]
        assert requests.get(u, headers={"Range": "bytes=-5"}).content == data[-5:]
        assert requests.get(u, headers={"Range": "bytes=5000-6000"}).status_code == 416
        assert requests.get(u).content == data
        assert srv.bytes_served("/f") == 10 + 24 + 5 + len(data)


def test_remote_file_reads_and_caches(tmp_path):
    data = os.urandom(300_000)
    with RangeServer({"/f": data}) as srv:
        with RemoteFile(srv.url("/f"), cache_dir=tmp_path, cfg=FAST) as fh:
            fh.seek(100_000)
            assert fh.read(50_000) == data[100_000:150_000]
            fh.seek(-10, 2)
            assert fh.read() == data[-10:]
        served = srv.bytes_served()
        # whole 64 KiB blocks: the first (size probe), blocks 1-2, and the short last one
        assert served == 3 * 65536 + (len(data) - 4 * 65536)
        with RemoteFile(srv.url("/f"), cache_dir=tmp_path, cfg=FAST) as fh:
            fh.seek(100_000)
            assert fh.read(50_000) == data[100_000:150_000]
        assert srv.bytes_served() == served and len(srv.requests) > 0
        n_req = len(srv.requests)
        with RemoteFile(srv.url("/f"), cache_dir=tmp_path, offline=True) as fh:
            fh.seek(100_010)
            assert fh.read(10) == data[100_010:100_020]
            fh.seek(0)
            with pytest.raises(NetworkError, match="offline"):
                fh.read(len(data))
        assert len(srv.requests) == n_req


# ---------------------------------------------------------------------------- faults
@pytest.mark.parametrize("kind,kw", [("drop", {}), ("status", {"status": 503}),
                                     ("status", {"status": 500}), ("truncate", {}),
                                     ("slow", {"delay": 1.6})])
def test_stream_recovers_from_faults(small, tmp_path, kind, kw):
    s, p = small
    # the slow case times out twice (0.8 s limit), then the third answer comes in time
    cfg = HTTPConfig(timeout=0.8, retries=4, backoff=0.01) if kind == "slow" else FAST
    with RangeServer({"/s.nwb": p.read_bytes()}) as srv:
        srv.fault("/s.nwb", kind, times=2, **kw)
        got = load_session(srv.url("/s.nwb"), cache_dir=tmp_path, http=cfg)
        assert_same_session(s, got)
        assert srv.faults["/s.nwb"] == [] or srv.faults["/s.nwb"][0].times == 0


def test_download_resumes_after_drop(small, tmp_path):
    s, p = small
    data = p.read_bytes()
    with RangeServer({"/s.nwb": data}) as srv:
        srv.fault("/s.nwb", "drop", times=1)
        dest = download(srv.url("/s.nwb"), tmp_path / "c" / "s.nwb", size=len(data), cfg=FAST)
        assert dest.read_bytes() == data
        ranges = [r["headers"].get("Range") for r in srv.requests]
        assert ranges[0] is None and ranges[1] and ranges[1].startswith("bytes=")
        # resumed: not the whole file twice
        assert srv.bytes_served() < 1.6 * len(data)


def test_interrupted_download_leaves_nothing_and_next_call_recovers(small, tmp_path):
    s, p = small
    data = p.read_bytes()
    cache = tmp_path / "cache"
    with RangeServer({"/s.nwb": data}) as srv:
        srv.fault("/s.nwb", "drop", times=FAST.retries + 1)
        with pytest.raises(NetworkError) as ei:
            fetch(srv.url("/s.nwb"), cache_dir=cache, http=FAST)
        assert "\n" not in str(ei.value) and "download failed" in str(ei.value)
        left = [f for f in cache.rglob("*") if f.is_file()]
        assert left == [], left
        srv.fault("/s.nwb", "status", times=2, status=503)
        dest = fetch(srv.url("/s.nwb"), cache_dir=cache, http=FAST)
        assert dest.read_bytes() == data
        assert [f.name for f in cache.rglob("*") if f.is_file()] == ["s.nwb"]


def test_stream_gives_up_cleanly(small, tmp_path):
    s, p = small
    with RangeServer({"/s.nwb": p.read_bytes()}) as srv:
        srv.fault("/s.nwb", "status", times=100, status=503)
        with pytest.raises(NetworkError, match="gave up after 4 attempts") as ei:
            load_session(srv.url("/s.nwb") + "?sig=abc", cache_dir=tmp_path, http=FAST)
        assert "sig=abc" not in str(ei.value)


def test_digest_mismatch_is_refused(small, tmp_path):
    data = small[1].read_bytes()
    with RangeServer({"/s.nwb": data}) as srv:
        with pytest.raises(NetworkError, match="sha2-256 digest mismatch"):
            download(srv.url("/s.nwb"), tmp_path / "s.nwb", size=len(data),
                     digest={"dandi:sha2-256": "0" * 64}, cfg=FAST)
        assert not list(tmp_path.iterdir())


# ---------------------------------------------------------------------------- DANDI
def test_dandi_stream_download_disk_identical(api, small, tmp_path):
    s, p = small
    uri = "dandi://000001/sub-M1/sub-M1_ses-s1_behavior+emg.nwb"
    disk = load_session(p)
    streamed = load_session(uri, api_url=api.api_url, cache_dir=tmp_path / "a")
    downloaded = load_session(uri, api_url=api.api_url, cache_dir=tmp_path / "b", stream=False)
    for got in (streamed, downloaded, disk):
        assert_same_session(s, got)
    assert streamed.metadata["source"] == uri
    files = [f for f in (tmp_path / "b").rglob("*.nwb")]
    assert len(files) == 1 and files[0].read_bytes() == p.read_bytes()
    assert "sub-M1" in str(files[0].relative_to(tmp_path / "b"))


def test_dandi_api_url_forms(api, small, tmp_path):
    ds = api.dandisets["000001"]
    aid = ds.assets[0].asset_id
    url = f"{api.api_url}/dandisets/000001/versions/draft/assets/{aid}/download/"
    got = load_session(url, cache_dir=tmp_path)
    assert_same_session(small[0], got)
    ref = parse_dandi("https://dandiarchive.org/dandiset/000123/0.230101.0001/files"
                      "?location=sub-1%2Fsub-1_ses-2.nwb")
    assert (ref.dandiset, ref.version) == ("000123", "0.230101.0001")
    ref = parse_dandi("dandi://DANDI/000123@draft/sub-1/a.nwb")
    assert (ref.dandiset, ref.version, ref.path) == ("000123", "draft", "sub-1/a.nwb")


def test_one_trial_streams_under_10_percent_and_then_hits_cache(api, big, tmp_path):
    s, p = big
    size = p.stat().st_size
    assert size > 2_000_000
    uri = f"dandi://000001@{PUB}/sub-M1/sub-M1_ses-big_behavior+emg.nwb"
    api.files.reset_counts()
    api.api.reset_counts()
    # blocks scaled to the small file (7 MB here vs 200 MB in benchmarks/loaders_bench.py,
    # which uses the default 64 KiB blocks): the test checks that only touched blocks move
    cfg = HTTPConfig(block_size=16 * 1024)
    got = load_session(uri, api_url=api.api_url, cache_dir=tmp_path, trial=7, http=cfg)
    want = s.select_trial(7)
    np.testing.assert_array_equal(got.keypoints, want.keypoints)
    np.testing.assert_array_equal(got.emg.data, want.emg.data)
    assert got.truth.sizes["time"] == want.n_frames
    first = api.files.bytes_served()
    assert 0 < first < 0.10 * size, (first, size)
    n_api, n_files = len(api.api.requests), len(api.files.requests)
    again = load_session(uri, api_url=api.api_url, cache_dir=tmp_path, trial=7, http=cfg)
    assert_same_session(got, again)
    assert api.files.bytes_served() == first
    assert (len(api.api.requests), len(api.files.requests)) == (n_api, n_files)


def test_offline_mode(api, small, tmp_path):
    uri = "dandi://000001/sub-M1/sub-M1_ses-s1_behavior+emg.nwb"
    with pytest.raises(NetworkError, match="offline"):
        load_session(uri, api_url=api.api_url, cache_dir=tmp_path, offline=True)
    load_session(uri, api_url=api.api_url, cache_dir=tmp_path, stream=False)
    n = len(api.api.requests) + len(api.files.requests)
    got = load_session(uri, api_url=api.api_url, cache_dir=tmp_path, stream=False,
                       offline=True)
    assert_same_session(small[0], got)
    assert len(api.api.requests) + len(api.files.requests) == n
    # after a download, an offline load with the default (streaming) mode uses the file too
    got = load_session(uri, api_url=api.api_url, cache_dir=tmp_path, offline=True)
    assert_same_session(small[0], got)
    assert len(api.api.requests) + len(api.files.requests) == n


def test_cache_dir_from_environment(api, tmp_path, monkeypatch):
    monkeypatch.setenv("NEUROIMIT_CACHE", str(tmp_path / "env"))
    p = fetch("dandi://000001/sub-M1/sub-M1_ses-s1_behavior+emg.nwb", api_url=api.api_url)
    assert (tmp_path / "env") in p.parents


def test_unsafe_asset_paths_are_refused(api, tmp_path):
    with pytest.raises(DataError, match="unsafe asset path"):
        load_session("dandi://000001/../../etc/passwd.nwb", api_url=api.api_url,
                     cache_dir=tmp_path)
    aid = api.dandisets["000003"].assets[0].asset_id
    url = f"{api.api_url}/dandisets/000003/versions/draft/assets/{aid}/"
    with pytest.raises(DataError, match="unsafe asset path"):
        fetch(url, cache_dir=tmp_path)
    bad = ResolvedAsset("000003", "draft", "a/../../x.nwb", "id", 1)
    with pytest.raises(DataError, match="unsafe"):
        dandi_cache_path(tmp_path, bad)
    assert not list(tmp_path.parent.glob("escape.nwb"))


def test_embargoed_token_used_and_never_leaked(api, small, tmp_path, caplog, monkeypatch):
    token = api.token
    uri = "dandi://000002/sub-E/sub-E_ses-1.nwb"
    caplog.set_level(logging.DEBUG)
    with pytest.raises(NetworkError) as ei:
        load_session(uri, api_url=api.api_url, cache_dir=tmp_path)
    assert "token" in str(ei.value)
    with pytest.raises(NetworkError) as ei2:
        load_session(uri, api_url=api.api_url, cache_dir=tmp_path, token="wrong-token-123")
    assert "wrong-token-123" not in str(ei2.value)
    got = load_session(uri, api_url=api.api_url, cache_dir=tmp_path, token=token)
    assert_same_session(small[0], got)
    monkeypatch.setenv("DANDI_API_KEY", token)
    got2 = load_session(uri, api_url=api.api_url, cache_dir=tmp_path / "d", stream=False)
    assert_same_session(small[0], got2)
    # the token went to the API host only, never to the blob store
    assert any(r["headers"].get("Authorization") == f"token {token}"
               for r in api.api.requests)
    assert not any("Authorization" in r["headers"] for r in api.files.requests)
    # and it appears nowhere: logs, errors, outputs, cache names or cache contents
    assert token not in caplog.text
    assert token not in json.dumps(got.metadata) + repr(got) + json.dumps(got2.metadata)
    for f in tmp_path.rglob("*"):
        assert token not in str(f)
        if f.is_file() and f.suffix in (".json", "") and f.stat().st_size < 1_000_000:
            assert token.encode() not in f.read_bytes()


def test_list_sessions_from_metadata(api, tmp_path):
    df = list_sessions("dandi://000001", api_url=api.api_url)
    assert list(df["path"]) == ["sub-M1/sub-M1_ses-big_behavior+emg.nwb",
                                "sub-M1/sub-M1_ses-s1_behavior+emg.nwb"]
    assert set(df["subject"]) == {"M1"} and set(df["session"]) == {"s1"}
    sizes = {a.path: len(a.data) for a in api.dandisets["000001"].assets}
    assert list(df["size"]) == [sizes[p] for p in df["path"]]
    assert df["emg"].tolist() == [True, True]        # "emg" in the asset path
    assert df["pose"].tolist() == [True, True]       # PoseEstimation in variableMeasured
    assert df["trials"].tolist() == [True, True]     # TimeIntervals in variableMeasured
    n_blob = len(api.files.requests)
    list_sessions("000001", api_url=api.api_url)
    assert len(api.files.requests) == n_blob        # metadata only: no file bytes
    exact = list_sessions("dandi://000001", api_url=api.api_url, probe=True, cache_dir=tmp_path)
    assert exact[["pose", "emg", "trials"]].values.all()


def test_cli_ls_and_fetch(api, tmp_path, capsys):
    from neuroimit.cli import main

    assert main(["ls", "dandi://000001", "--api-url", api.api_url, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["path"] for r in rows] == ["sub-M1/sub-M1_ses-big_behavior+emg.nwb",
                                         "sub-M1/sub-M1_ses-s1_behavior+emg.nwb"]
    assert main(["list", "dandi://000001", "--api-url", api.api_url]) == 0
    assert "sub-M1_ses-s1" in capsys.readouterr().out
    uri = "dandi://000001/sub-M1/sub-M1_ses-s1_behavior+emg.nwb"
    assert main(["fetch", uri, "--api-url", api.api_url, "--cache-dir", str(tmp_path)]) == 0
    path = Path(capsys.readouterr().out.strip())
    assert path.exists() and tmp_path in path.parents
    assert main(["fetch", "dandi://000001/../x.nwb", "--api-url", api.api_url]) == 1
    assert "unsafe asset path" in capsys.readouterr().err


def test_real_synthetic_session_identical_by_stream_download_disk(api, tmp_path):
    """The project's own generator (neuroimit.synth), written by write_nwb, served by the
    stand-in: the three ways of loading agree exactly, and match the generated session."""
    import xarray as xr

    synth = pytest.importorskip("neuroimit.synth")
    s = synth.make_session(synth.SynthConfig(duration=1.0, seed=1))
    p = write_nwb(s, tmp_path / "synth.nwb")
    api.add_asset("000004", "sub-synth/sub-synth_ses-1_behavior+emg.nwb", p.read_bytes())
    uri = "dandi://000004/sub-synth/sub-synth_ses-1_behavior+emg.nwb"
    streamed = load_session(uri, api_url=api.api_url, cache_dir=tmp_path / "a")
    downloaded = load_session(uri, api_url=api.api_url, cache_dir=tmp_path / "b",
                              stream=False)
    disk = load_session(p)
    assert_same_session(disk, streamed)
    assert_same_session(disk, downloaded)
    # against the generated session: data exact; times rebuilt from starting_time + rate
    np.testing.assert_array_equal(disk.keypoints, s.keypoints)
    np.testing.assert_allclose(disk.time, s.time, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(disk.emg.data, s.emg.data)
    assert disk.emg.channels == s.emg.channels and disk.emg.muscles == s.emg.muscles
    assert disk.keypoint_names == s.keypoint_names
    xr.testing.assert_allclose(disk.truth, s.truth, rtol=0, atol=1e-12)
    assert disk.truth.attrs == s.truth.attrs


def test_expired_url_is_refreshed_once(tmp_path):
    data = os.urandom(200_000)
    with RangeServer({"/old": data, "/new": data}) as srv:
        srv.fault("/old", "status", times=100, status=403)
        with RemoteFile(srv.url("/old"), size=len(data), cache_dir=tmp_path, cfg=FAST,
                        refresh=lambda: srv.url("/new")) as fh:
            fh.seek(150_000)
            assert fh.read(1000) == data[150_000:151_000]
        with RemoteFile(srv.url("/old"), size=len(data), cache_dir=tmp_path / "b",
                        cfg=FAST) as fh:
            with pytest.raises(NetworkError, match="access denied"):
                fh.read(10)
