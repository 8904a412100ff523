"""The Qt variant of the graph fuzzer: the same state machine (tests/graph/graph_machine.py)
with a CanvasScene mirroring the model through its events. After every rule the scene
agrees with the model: one node item per node at its place with its ports, one wire item
per wire between the right items, one frame per open block, red outlines exactly on the
nodes in error. Fewer steps than the model-only run (a scene costs more per edit)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import invariant, run_state_machine_as_test

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "graph"))
import graph_machine as gm  # noqa: E402


class SceneMachine(gm.GraphMachine):
    def __init__(self):
        super().__init__()
        from playground.ui.canvas.scene import CanvasScene
        self.scene = CanvasScene(self.model, self.stack)

    def teardown(self):
        self.scene.detach()
        self.scene.deleteLater()
        super().teardown()

    @invariant()
    def scene_mirrors_the_model(self):
        m, scene = self.model, self.scene
        items = {i.node_id: i for i in scene.node_items()}
        assert set(items) == set(m.nodes()), "node items and nodes differ"
        for n, item in items.items():
            x, y = m.node(n)["pos"]
            assert (item.pos().x(), item.pos().y()) == pytest.approx((x, y)), n
            assert set(item.inputs) == {p.name for p in m.input_ports(n)}, f"{n}'s inputs"
            assert set(item.outputs) == {p.name for p in m.output_ports(n)}, f"{n}'s outputs"
            assert item.is_invalid() == (m.state(n).status == "error"), f"{n}'s outline"
        wires = {w.edge: w for w in scene.wire_items()}
        assert set(wires) == set(m.edges()), "wire items and wires differ"
        for e, w in wires.items():
            assert w.src_item is items[e.src] and w.dst_item is items[e.dst], f"wire {e} ends"
        assert {f.group_id for f in scene.frame_items()} == set(m.groups()), "frames differ"


SETTINGS = settings(max_examples=80, stateful_step_count=40, deadline=None, database=None,
                    derandomize=True, suppress_health_check=list(HealthCheck),
                    print_blob=False)


def test_the_scene_mirrors_the_model_through_2600_edits(qapp):
    SceneMachine.steps = 0
    run_state_machine_as_test(SceneMachine, settings=SETTINGS)
    print(f"{SceneMachine.steps} steps")
    assert SceneMachine.steps >= 2000
