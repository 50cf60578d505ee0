"""ctx.memory: a service's in-memory state, shared by its handlers and lost in a crash."""

import simlab as sl


def counting_world(crash_at=None):
    """Each request adds one to a count in memory and logs it."""
    world = sl.World(seed=3)
    counter = world.service("counter", workers=2, work=sl.Exp(mean=0.01))

    @counter.endpoint("hit")
    def hit(ctx, request):
        yield ctx.work()
        ctx.memory["hits"] = ctx.memory.get("hits", 0) + 1
        ctx.db.write("hits")
        ctx.log(f"count {ctx.memory['hits']}")

    world.load(sl.Poisson(rate=50), target=("counter", "hit"), duration=10)
    if crash_at is not None:
        world.faults.crash("counter", at=crash_at, duration=0.5)
    return world


def logged_counts(result):
    logs = result.logs[result.logs.message.str.startswith("count ")].sort_values("time")
    return logs.time.to_numpy(), logs.message.str.split().str[1].astype(int).to_numpy()


def test_memory_is_shared_by_the_handlers_of_a_service():
    result = counting_world().run()
    _, counts = logged_counts(result)
    assert len(counts) == (result.requests.outcome == "ok").sum() > 300
    assert list(counts) == list(range(1, len(counts) + 1))


def test_a_crash_empties_memory_but_not_the_store():
    result = counting_world(crash_at=5).run()
    times, counts = logged_counts(result)
    before, after = counts[times < 5], counts[times > 5]
    assert len(before) > 100 and len(after) > 100
    assert list(before) == list(range(1, len(before) + 1))
    assert list(after) == list(range(1, len(after) + 1)), "memory survived the crash"
    versions = result.writes.sort_values("time").version
    assert list(versions) == list(range(1, len(counts) + 1)), "the store forgot its writes"
