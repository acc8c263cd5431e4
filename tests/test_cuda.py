"""The CUDA path against the CPU path, under numba's CUDA simulator (small inputs)."""

import itertools
import math

import numba
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tf2eng
from conftest import scores_array, wide_table
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
    # The memory kept between batches is given back when the run ends.
    assert cuda_kernels._BUFFERS.device is None and cuda_kernels._BUFFERS.pinned is None


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


def _mixed_scores(n, keys, dtype=pa.float64(), large=False, seed=1):
    """n tracks of 0 to 30 scores with null lists, null and NaN scores, out-of-range
    and missing key frames, sliced so that offsets and validity bits start mid-byte."""
    rng = np.random.default_rng(seed)
    tracks, frames = [], []
    for i in range(n + 3):
        T = int(rng.integers(0, 30))
        s = [float(x) for x in rng.random(T)]
        if T and i % 13 == 7:
            s[T // 2] = None
        if T and i % 17 == 3:
            s[0] = math.nan
        tracks.append(None if i % 11 == 5 else s)
        frames.append(None if i % 19 == 4 else int(rng.integers(-1, T + 1)))
    arr = (pa.array(tracks, pa.large_list(dtype) if large else pa.list_(dtype))).slice(3)
    return scores_of(arr), key_frames_of(pa.array(frames, pa.int64()).slice(3) if keys else None)


@pytest.mark.parametrize("keys", [False, True], ids=["argmax", "given-keys"])
def test_passes_within_a_small_budget_give_the_same_bits(keys, monkeypatch):
    """A budget that holds one slab forces a pass per slab; the results are the
    same bits as one pass (and match the CPU path)."""
    monkeypatch.setattr(cuda_kernels, "TRACKS_PER_SLAB", 8)
    n, K, M = 40, 6, int(round((2 * 6 - 1) / (6 * 0.05))) + 1
    scores, key = _mixed_scores(n, keys)
    params = Params(lam=0.7, reduce_mean=False, minmax=False, step=0.05)
    group = (np.arange(n) % 3).astype(np.int32)
    dims = cuda_kernels.Dims(3, K, M, scores.values.dtype, keys, True, True)
    per_slab = cuda_kernels.tracks_per_slab(3, K, M)
    assert per_slab == 8
    assert cuda_kernels.plan_passes(scores.offsets, dims, per_slab, 1) == [0, 8, 16, 24, 32, 40]
    assert cuda_kernels.plan_passes(scores.offsets, dims, per_slab, cuda_kernels.DEVICE_BUDGET_BYTES) == [0, 40]

    cuda_kernels.release_buffers()
    small = cuda_kernels.align_tracks_cuda(scores, key, params, group, 3, K, M, np.zeros(n, np.uint8), budget=1)
    assert cuda_kernels._BUFFERS.device.shape[0] == max(
        cuda_kernels.pass_bytes(dims, scores.offsets, a, a + 8, per_slab) for a in range(0, n, 8))
    one = cuda_kernels.align_tracks_cuda(scores, key, params, group, 3, K, M, np.zeros(n, np.uint8))
    assert cuda_kernels._BUFFERS.device.shape[0] == cuda_kernels.pass_bytes(dims, scores.offsets, 0, n, per_slab)
    for a, b in zip(small[0], one[0]):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(small[1], one[1])
    np.testing.assert_array_equal(small[2], one[2])
    assert 0 < (one[0].reason == 0).sum() < n  # some tracks of every kind

    cpu = align_tracks(scores, key, params, group, 3, K, M, np.zeros(n, np.uint8), 4)
    np.testing.assert_array_equal(one[0].reason, cpu[0].reason)
    np.testing.assert_array_equal(one[0].key_frame, cpu[0].key_frame)
    np.testing.assert_array_equal(one[0].stage_counts, cpu[0].stage_counts)
    np.testing.assert_allclose(one[0].stage_scores, cpu[0].stage_scores, rtol=1e-12, atol=1e-14)
    for a, b in ((cpu[1], one[1]), (cpu[2], one[2])):
        (ca, ma, _), (cb, mb, _) = _moments(a), _moments(b)
        np.testing.assert_array_equal(ca, cb)
        np.testing.assert_allclose(mb, ma, rtol=1e-12, atol=1e-14)


def test_device_and_pinned_memory_are_allocated_once_and_grown(monkeypatch):
    calls = {"device": 0, "pinned": 0}
    device_array, pinned_array = cuda_kernels.cuda.device_array, cuda_kernels.cuda.pinned_array

    def counting(kind, allocate):
        def allocate_counted(shape, dtype=np.float64, *args, **kwargs):
            calls[kind] += int(np.prod(shape)) > 0  # empty arrays allocate nothing
            return allocate(shape, dtype, *args, **kwargs)
        return allocate_counted

    monkeypatch.setattr(cuda_kernels.cuda, "device_array", counting("device", device_array))
    monkeypatch.setattr(cuda_kernels.cuda, "pinned_array", counting("pinned", pinned_array))
    cuda_kernels.release_buffers()
    params = Params(lam=0.7, reduce_mean=False, minmax=False, step=0.05)
    K, M = 4, int(round((2 * 4 - 1) / (4 * 0.05))) + 1
    for n, seed in ((12, 1), (12, 2), (12, 3)):
        scores, key = _mixed_scores(n, False, seed=seed)
        cuda_kernels.align_tracks_cuda(scores, key, params, np.zeros(n, np.int32), 1, K, M, np.zeros(n, np.uint8))
    assert calls == {"device": 1, "pinned": 1}
    scores, key = _mixed_scores(30, False, seed=4)
    cuda_kernels.align_tracks_cuda(scores, key, params, np.zeros(30, np.int32), 1, K, M, np.zeros(30, np.uint8))
    assert calls == {"device": 2, "pinned": 2}


def test_a_batch_with_many_groups_fits_the_budget():
    """65,536 tracks in 10,000 groups (whose slabs took about 20 GB), and a grid of
    a million points, fit the default budget."""
    n, groups, K = 65_536, 10_000, 10
    M = int(round((2 * K - 1) / (K * 0.01))) + 1
    offsets = np.arange(n + 1, dtype=np.int64) * 300
    budget = cuda_kernels.DEVICE_BUDGET_BYTES
    for dims in (cuda_kernels.Dims(groups, K, M, np.dtype(np.float32), True, True, True),
                 cuda_kernels.Dims(1, K, 1_000_001, np.dtype(np.float64), False, False, False)):
        per_slab = cuda_kernels.tracks_per_slab(dims.groups, dims.stages, dims.grid)
        bounds = cuda_kernels.plan_passes(offsets, dims, per_slab, budget)
        assert bounds[0] == 0 and bounds[-1] == n
        assert all(b % per_slab == 0 for b in bounds[:-1])
        assert max(cuda_kernels.pass_bytes(dims, offsets, a, b, per_slab)
                   for a, b in zip(bounds[:-1], bounds[1:])) <= budget
    assert len(bounds) - 1 > 100  # a million grid points: 8 MB per track, tens of tracks per pass


class _Recorder:
    """Stands in for a kernel: records the numba types of its arguments, then launches it."""

    def __init__(self, name, kernel, seen):
        self.name, self.kernel, self.seen = name, kernel, seen

    def __getitem__(self, launch):
        run = self.kernel[launch]

        def call(*args):
            self.seen.add((self.name, tuple(_launch_type(a) for a in args)))
            return run(*args)

        return call


def _launch_type(arg):
    """The type numba gives a launch argument; a simulator array types like a device array."""
    array = getattr(arg, "_ary", None)
    if array is None:
        return numba.typeof(arg)
    return numba.types.Array(numba.from_dtype(array.dtype), array.ndim, "C" if array.flags.c_contiguous else "A")


def test_kernels_are_launched_only_with_the_signatures_compiled_to_ptx(monkeypatch):
    """Every combination of inputs the engine passes reaches the kernels with one of
    the signatures tests/test_ptx.py compiles for the GPU, and each of those is reached."""
    from test_ptx import SIGNATURES

    seen = set()
    for name in SIGNATURES:
        monkeypatch.setattr(cuda_kernels, name, _Recorder(name, getattr(cuda_kernels, name), seen))
    K, M = 3, int(round((2 * 3 - 1) / (3 * 0.1))) + 1
    for dtype, large, nulls, keys, mean, minmax in itertools.product(
            (pa.float32(), pa.float64()), (False, True), (False, True), (False, True), (False, True), (False, True)):
        if (mean, minmax) != (nulls, keys):  # the flags are plain bools: two combinations of them suffice
            continue
        if nulls:
            scores, key = _mixed_scores(6, keys, dtype, large)
        else:
            arr = scores_array([[0.2, 0.9, 0.4], [0.5], [0.1, 0.3]], dtype, large)
            scores = scores_of(arr)
            key = key_frames_of(pa.array([0, 0, 1], pa.int64()) if keys else None)
        n = scores.offsets.size - 1
        params = Params(lam=1.5, reduce_mean=mean, minmax=minmax, step=0.1)
        cuda_kernels.align_tracks_cuda(scores, key, params, np.zeros(n, np.int32), 1, K, M, np.zeros(n, np.uint8))
    expected = {(name, tuple(sig)) for name, signatures in SIGNATURES.items() for sig in signatures}
    assert seen == expected
