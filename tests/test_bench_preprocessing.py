"""bench/bench_preprocessing.py: the parts a reader trusts without rerunning it.

Its "identical" column must be able to say no (a value, a dtype or a shape that differs),
and its inputs must be the same from run to run, so that two runs measure the same work.
The timings themselves are never asserted (issue 10: ratios in the bench, not in tests).
"""

import numpy as np

from bench import bench_preprocessing as bench


def test_compare_says_identical_only_for_the_same_values_dtypes_and_shapes():
    ours = {"x": np.arange(3, dtype=np.float32), "rows": [np.zeros(2, np.float32), np.ones(3, np.float32)]}
    same = {"x": np.arange(3, dtype=np.float32), "rows": [np.zeros(2, np.float32), np.ones(3, np.float32)]}
    assert bench.compare(ours, same) == {"identical": True, "max_abs_diff": 0.0}

    other_dtype = dict(same, x=np.arange(3, dtype=np.float64))
    assert bench.compare(ours, other_dtype) == {"identical": False, "max_abs_diff": 0.0}

    other_value = dict(same, rows=[np.zeros(2, np.float32), np.array([1, 1, 1.25], np.float32)])
    assert bench.compare(ours, other_value) == {"identical": False, "max_abs_diff": 0.25}

    other_shape = dict(same, rows=[np.zeros(3, np.float32), np.ones(3, np.float32)])
    assert bench.compare(ours, other_shape)["identical"] is False
    assert bench.compare(ours, {"x": same["x"]})["identical"] is False  # a key missing


def test_inputs_are_the_same_from_run_to_run():
    first, second = bench.audio_clips(3, (0.01, 0.05)), bench.audio_clips(3, (0.01, 0.05))
    assert [len(c) for c in first] == [len(c) for c in second] and len({len(c) for c in first}) > 1
    assert all(np.array_equal(a, b) and a.dtype == np.float32 for a, b in zip(first, second))
    images = bench.photos(3, (64, 48))
    assert all(np.array_equal(a, b) for a, b in zip(images, bench.photos(3, (64, 48))))
    assert all(image.dtype == np.uint8 and image.shape[2] == 3 for image in images)
    words = bench.made_up_words(50)
    assert bench.sentences(5, words) == bench.sentences(5, words)
