"""The timeline: an entry every k steps, bounded memory however long the run, scrubbing,
and training going on from the live state."""

from __future__ import annotations

import numpy as np
import pytest

from playground.project import load
from playground.session import Session
from playground.session.timeline import Timeline, TimelineEntry


def test_ring_thins_to_an_even_spacing_over_the_whole_run():
    t = Timeline(capacity=10, interval=1)
    for step in range(1, 1001):
        if t.due(step):
            t.record(TimelineEntry(step, {"loss": 1.0 / step}))
    steps = t.steps()
    assert len(t) <= 10 and t.interval == 128
    assert steps.tolist() == [128, 256, 384, 512, 640, 768, 896]
    assert np.all(np.diff(steps) == t.interval)
    assert t.at(130).step == 128 and t.at(200).step == 256 and t.at(192).step == 128
    assert t.at(0).step == 128 and t.at(10**6).step == 896
    with pytest.raises(ValueError, match="after step 896"):
        t.record(TimelineEntry(896))
    t.clear()
    assert len(t) == 0 and t.interval == 1 and t.at(5) is None


def test_widen_keeps_entries_on_the_coarser_grid():
    t = Timeline(capacity=50, interval=10)
    for step in range(10, 210, 10):
        t.record(TimelineEntry(step))
    t.widen(35)  # 10 -> 20 -> 40
    assert t.interval == 40 and t.steps().tolist() == [40, 80, 120, 160, 200]


def test_widening_past_the_whole_run_keeps_the_newest_entry():
    t = Timeline(capacity=50, interval=10)
    for step in (10, 20, 30):
        t.record(TimelineEntry(step))
    t.widen(1000)  # a slow probe on a busy machine: k grows past every recorded step
    assert t.interval == 1280 and t.steps().tolist() == [20]  # the last one on a grid
    assert t.due(1280) and not t.due(1290)
    t.record(TimelineEntry(1280))
    t.widen(2000)
    assert t.steps().tolist() == [1280]  # on the grid again: the off-grid one goes


def test_session_timeline_is_bounded_and_spans_the_run():
    s = Session(load("spiral_mlp"))
    s.timeline = Timeline(capacity=12, interval=5)
    s.timeline_budget = None  # spaced by the ring alone, not by measured costs
    s.train(2000)
    t = s.timeline
    assert len(t) == 12 and t.interval == 160  # 5 doubled until 12 entries span the run
    steps = t.steps()
    assert steps.tolist() == list(range(160, 2000, 160))
    entry = t.latest()
    assert entry.step == steps[-1] and "loss" in entry.metrics
    # what a view needs at that step: histograms, health, the boundary
    assert set(entry.histograms["fc1"]) == {"activation", "gradient", "weight"}
    assert entry.histograms["fc1"]["weight"].counts.sum() == pytest.approx(1.0)
    assert entry.health.step == entry.step and entry.health.nodes["fc1"].update_ratio > 0
    assert entry.boundary.probs.shape[:2] == (32, 32)
    # memory: a few kB per entry, so the ring stays small however long the run
    per_entry = max(e.nbytes() for e in t.entries())
    assert per_entry < 20_000 and t.nbytes() <= 12 * per_entry


def test_scrubbing_shows_the_past_and_training_resumes_from_the_live_state():
    s = Session(load("xor_mlp"))
    s.timeline = Timeline(capacity=50, interval=10)
    s.timeline_budget = None  # an entry every 10 steps, whatever it costs
    s.train(200)
    live = s.weights()
    early = s.timeline.at(10)
    late = s.timeline.at(200)
    assert early.step == 10 and late.step == 200
    assert early.metrics["loss"] > late.metrics["loss"]
    assert not np.array_equal(early.boundary.probs, late.boundary.probs)
    for k, v in s.weights().items():  # looking back changed nothing
        np.testing.assert_array_equal(v, live[k])
    assert s.step()["step"] == 201
    snap = s.snapshot()
    assert snap.timeline == s.timeline.entries() and snap.timeline[0].step == 10


def test_probes_are_spaced_to_cost_their_budget():
    s = Session(load("digits_mlp"))
    s._step_cost, s._probe_cost = 1e-3, 3e-3  # a probed step costs 2 ms more
    s._space_probes()
    # the timeline may cost 1% of training: one entry per 200 steps or more (10 * 2^5)
    assert s.timeline_budget == 0.01 and s.timeline.interval == 320
    # health probing may cost 25%: one probed step in 8
    assert s._health_every == 8
    s._step_cost, s._probe_cost = 1e-3, 1.5e-3
    s._space_probes()
    assert s.timeline.interval == 320  # never narrower again: kept entries stay on its grid
    assert s._health_every == 2
    off = Session(load("digits_mlp"), timeline=False)
    off.train(20)
    assert off.timeline is None and off.snapshot().timeline == ()
