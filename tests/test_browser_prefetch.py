"""The prediction browser's background prefetch: after a picture is shown the caches fill with the
neighbouring image and the other models, what they hold equals computing on demand, and the caches are
safe to share between the prefetch thread and the UI."""

from __future__ import annotations

import threading
import time

import numpy as np

from cellseg_nb.viz.browser import PredictionBrowser
from cellseg_nb.viz.browser_data import BrowserCache, LruCache, prefetch_jobs
from test_browser_widget import browser  # noqa: F401  (the fixture: 3 images, models m1 m2 m3)


def test_prefetch_jobs_neighbour_first_then_other_models():
    ids, models = [3, 1, 2], ["m2", "m1", "m3", "m4", "m5"]
    assert prefetch_jobs(ids, 1, ["m2"], models) == [(2, "m2"), (1, "m1"), (1, "m3"), (1, "m4")]
    # stepping back (p): the previous image; the list wraps around; compared models come along
    assert prefetch_jobs(ids, 3, ["m2", "m3"], models, direction=-1, max_models=1) == [
        (2, "m2"), (2, "m3"), (3, "m1")]
    assert prefetch_jobs([1], 1, ["m1"], ["m1"]) == []  # one image, one model: nothing to do


def test_prefetch_fills_the_caches_with_what_on_demand_computes(browser: PredictionBrowser,  # noqa: F811
                                                                 monkeypatch):
    browser.image.value, browser.model.value = 1, "m1"
    assert browser.cache.wait_prefetch(timeout=30)
    views = browser.cache._views
    # the next image (id 2) with the shown model, and the other models on this image
    assert {(2, "m1"), (1, "m2"), (1, "m3")} <= set(views)
    assert (2, "m1", 0.5) in browser.cache._scores and (2, None) in browser.cache._outlines
    fresh = BrowserCache(browser.data)  # nothing prefetched: computed on demand
    for image_id, model in ((2, "m1"), (1, "m2"), (1, "m3")):
        ahead, now = browser.cache.score(image_id, model, 0.5), fresh.score(image_id, model, 0.5)
        np.testing.assert_equal(ahead.row, now.row)  # NaN where undefined on both sides
        for name in ("pred_index", "pred_class", "pred_iou", "cell_class", "cell_iou", "cell_partner"):
            assert np.array_equal(getattr(ahead.matching, name), getattr(now.matching, name))
        assert np.array_equal(views[(image_id, model)].labels, fresh.model_view(image_id, model).labels)
        assert np.array_equal(browser.cache.outline(image_id, model), fresh.outline(image_id, model))

    # a model switch and a step now find their data: no overlaps are computed for them
    import cellseg_nb.eval.per_image as per_image

    computed = []
    original = per_image.image_overlaps_of
    browser.prefetch = False  # nothing more in the background while counting
    monkeypatch.setattr(per_image, "image_overlaps_of", lambda *a, **k: computed.append(1) or original(*a, **k))
    browser.model.value = "m3"
    browser.model.value = "m1"
    browser.step(1)
    assert browser.image.value == 2 and computed == []
    browser.model.value = "m2"  # not prefetched for image 2
    assert computed == [1]


def test_without_prefetch_nothing_is_computed_ahead(browser: PredictionBrowser):  # noqa: F811
    quiet = PredictionBrowser(browser.data, prefetch=False)
    assert quiet.cache.wait_prefetch(timeout=0)
    assert set(quiet.cache._views) == {(quiet.image.value, quiet.model.value)}


def test_a_failing_job_is_skipped_and_a_later_prefetch_supersedes(browser: PredictionBrowser):  # noqa: F811
    cache = BrowserCache(browser.data)
    done = cache.prefetch([("no such image", "m1"), (1, "m2")], 0.5).result(timeout=30)
    assert done == 1 and (1, "m2") in cache._views
    waiting = cache.prefetch([(2, "m1")], 0.5, delay=60)  # superseded while it waits: does nothing
    started = time.perf_counter()
    assert cache.prefetch([(2, "m3")], 0.5).result(timeout=30) == 1 and waiting.result(timeout=1) == 0
    assert time.perf_counter() - started < 30 and (2, "m3") in cache._views and (2, "m1") not in cache._views


def test_lru_cache_makes_each_value_once_across_threads():
    cache, calls, started = LruCache(4), [], threading.Event()

    def make():
        calls.append(1)
        started.set()
        time.sleep(0.05)  # the other thread asks meanwhile: it must wait, not make it again
        return object()

    got = []
    first = threading.Thread(target=lambda: got.append(cache.get_or("k", make)))
    first.start()
    started.wait(5)
    got.append(cache.get_or("k", make))
    first.join(5)
    assert len(calls) == 1 and got[0] is got[1]
    for k in range(10):  # the size bound holds
        cache.get_or(k, object)
    assert len(cache) == 4 and list(cache) == [6, 7, 8, 9]


def test_a_failed_make_lets_the_waiting_thread_make_it():
    cache, started = LruCache(4), threading.Event()

    def failing():
        started.set()
        time.sleep(0.05)
        raise RuntimeError("unreadable image")

    errors = []

    def first():
        try:
            cache.get_or("k", failing)
        except RuntimeError as exc:
            errors.append(exc)

    thread = threading.Thread(target=first)
    thread.start()
    started.wait(5)
    assert cache.get_or("k", lambda: "made here") == "made here"
    thread.join(5)
    assert len(errors) == 1 and cache["k"] == "made here"
