"""`paused_collection`: no automatic collection inside, the run's objects in the oldest generation after."""

import gc
import weakref

from pylint_distiller.gc_pause import paused_collection


class Node:
    def __init__(self, parent=None):
        self.parent = parent
        self.children = []
        if parent is not None:
            parent.children.append(self)


def _in_generation(obj, generation):
    return any(o is obj for o in gc.get_objects(generation=generation))


def test_collection_is_off_inside_and_restored_after():
    assert gc.isenabled()
    with paused_collection():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_disabled_collector_stays_disabled():
    gc.disable()
    try:
        with paused_collection():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_kept_trees_move_to_the_oldest_generation_and_garbage_is_still_collectable():
    with paused_collection():
        kept = Node()
        for _ in range(1000):
            Node(kept)
        dropped = Node()
        Node(dropped)
        assert _in_generation(kept, 0)
    assert _in_generation(kept, 2) and not _in_generation(kept, 0)
    assert gc.get_freeze_count() == 0  # nothing left frozen: a full collection still sees everything
    alive = weakref.ref(dropped)
    del dropped
    assert alive() is not None  # a cycle: only the collector frees it
    gc.collect()
    assert alive() is None
    assert len(kept.children) == 1000


def test_restored_when_the_run_raises():
    try:
        with paused_collection():
            raise KeyError("x")
    except KeyError:
        pass
    assert gc.isenabled()
