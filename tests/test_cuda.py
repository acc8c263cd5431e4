"""The CUDA path against the CPU path, under numba's CUDA simulator (small inputs)."""

import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tf2eng
from conftest import wide_table
from tf2eng.engine.errors import InputError
from tf2eng.engine.ragged import key_frames_of, scores_of
from tf2eng.kernels import cuda as cuda_kernels
from tf2eng.kernels.cpu import align_tracks
from tf2eng.kernels.layout import Params
from tf2eng.kernels.moments import finalize

pytestmark = pytest.mark.skipif(not cuda_kernels.usable(), reason="neither a GPU nor the CUDA simulator")

SCORE = st.one_of(st.floats(0, 1), st.sampled_from([None, math.nan, 1.5]))


def _moments(acc):
    size = acc.shape[0] * acc.shape[2]
    count, mean, std = np.zeros(size, np.int64), np.zeros(size), np.zeros(size)
    finalize(acc, count, mean, std)
    return count, mean, std


@settings(max_examples=15)
@given(
    tracks=st.lists(st.one_of(st.none(), st.lists(SCORE, max_size=30)), min_size=1, max_size=12),
    keys=st.lists(st.one_of(st.none(), st.integers(-1, 30)), min_size=12, max_size=12),
    use_keys=st.booleans(),
    lam=st.floats(0.1, 3.0),
    K=st.integers(1, 12),
    mean=st.booleans(),
    minmax=st.booleans(),
    float32=st.booleans(),
)
def test_cuda_matches_cpu(tracks, keys, use_keys, lam, K, mean, minmax, float32):
    n = len(tracks)
    table = wide_table(tracks, keys[:n] if use_keys else None, dtype=pa.float32() if float32 else pa.float64())
    scores = scores_of(table.column("scores").combine_chunks())
    key = key_frames_of(table.column("key_frame").combine_chunks() if use_keys else None)
    params = Params(lam=lam, reduce_mean=mean, minmax=minmax, step=0.05)
    M = int(round((2 * K - 1) / (K * 0.05))) + 1
    group = (np.arange(n) % 2).astype(np.int32)
    cpu = align_tracks(scores, key, params, group, 2, K, M, np.zeros(n, np.uint8), 4)
    gpu = cuda_kernels.align_tracks_cuda(scores, key, params, group, 2, K, M, np.zeros(n, np.uint8))
    np.testing.assert_array_equal(gpu[0].reason, cpu[0].reason)
    ok = cpu[0].reason == 0
    np.testing.assert_array_equal(gpu[0].key_frame[ok], cpu[0].key_frame[ok])
    np.testing.assert_array_equal(gpu[0].pos_key[ok], cpu[0].pos_key[ok])
    np.testing.assert_array_equal(gpu[0].stage_counts[ok], cpu[0].stage_counts[ok])
    np.testing.assert_allclose(gpu[0].stage_scores[ok], cpu[0].stage_scores[ok], rtol=1e-12, atol=1e-14)
    for a, b in ((cpu[1], gpu[1]), (cpu[2], gpu[2])):
        (ca, ma, sa), (cb, mb, sb) = _moments(a), _moments(b)
        np.testing.assert_array_equal(ca, cb)
        np.testing.assert_allclose(mb, ma, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(sb, sa, rtol=1e-9, atol=1e-12)


def test_run_on_cuda_matches_cpu(tmp_path):
    from tf2eng.engine.synth import write_synthetic

    write_synthetic(tmp_path / "s.parquet", 40, seed=4)
    cpu = tf2eng.run(tmp_path / "s.parquet", tmp_path / "cpu", plot=False, by=["category"])
    gpu = tf2eng.run(tmp_path / "s.parquet", tmp_path / "gpu", plot=False, by=["category"], device="cuda")
    assert gpu.summary["device"] == "cuda"
    assert gpu.summary["rows"] == cpu.summary["rows"]
    for a, b in ((cpu.stage_means, gpu.stage_means), (cpu.curve, gpu.curve)):
        assert a["count"].equals(b["count"])
        np.testing.assert_allclose(b["mean"].fill_null(0).to_numpy(), a["mean"].fill_null(0).to_numpy(), rtol=1e-12)


def test_auto_never_picks_the_simulator():
    from tf2eng.engine.api import resolve_device

    if cuda_kernels.SIMULATOR:
        assert resolve_device("auto") == "cpu"
    assert resolve_device("cpu") == "cpu"


def test_cuda_without_a_gpu_is_exit_2(tmp_path, monkeypatch):
    monkeypatch.setattr(cuda_kernels, "usable", lambda: False)
    pq.write_table(wide_table([[0.5, 0.2]], [0]), tmp_path / "d.parquet")
    with pytest.raises(InputError, match="--device cuda: no usable CUDA GPU"):
        tf2eng.run(tmp_path / "d.parquet", tmp_path / "out", device="cuda")
