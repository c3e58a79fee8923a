"""Small synthetic datasets with a known answer, for tests of recommenders.

`checkerboard`: users and items fall into G groups; every user interacts with every item of their own
group except one withheld item (and never with other groups). A working personal / item-to-item
recommender must put the withheld item first among the unseen items. Item titles name the group, so
text-based models can find the group too.
"""

from __future__ import annotations

import numpy as np

from shopsense.types import Dataset, Event, EventType, Item

_WORDS = ["red kettle", "blue tent", "green drill", "yellow lamp", "purple scarf", "orange bike", "grey sofa", "pink soap"]


def checkerboard(n_groups: int = 4, users_per_group: int = 8, items_per_group: int = 6, seed: int = 0,
                 cold_items_per_group: int = 0) -> tuple[Dataset, dict[str, str]]:
    """Returns (dataset, withheld) with withheld[user_id] = the item id held out of that user's events.
    `cold_items_per_group` adds items with a group title but no events at all (brand-new items)."""
    if n_groups > len(_WORDS):
        raise ValueError(f"at most {len(_WORDS)} groups")
    rng = np.random.default_rng(seed)
    items: list[Item] = []
    group_items: list[list[str]] = []
    for g in range(n_groups):
        ids = [f"g{g}i{j}" for j in range(items_per_group)]
        group_items.append(ids)
        for j, iid in enumerate(ids + [f"g{g}new{k}" for k in range(cold_items_per_group)]):
            items.append(Item(item_id=iid, title=f"{_WORDS[g]} model {j}", category=[f"cat{g}"], brand=f"brand{g}",
                              price=float(10 + j), attributes={"attribute_ids": [g, 100 + g]}))
    events: list[Event] = []
    withheld: dict[str, str] = {}
    t = 1_600_000_000.0
    types = [EventType.VIEW, EventType.CLICK, EventType.CART, EventType.PURCHASE]
    for g in range(n_groups):
        for u in range(users_per_group):
            uid = f"u{g}_{u}"
            ids = list(group_items[g])
            held = ids[rng.integers(len(ids))]
            withheld[uid] = held
            order = rng.permutation([i for i in ids if i != held])
            for k, iid in enumerate(order):
                t += 60.0
                events.append(Event(user_id=uid, item_id=str(iid), type=types[int(rng.integers(len(types)))],
                                    timestamp=t, session_id=f"s{uid}_{k // 3}"))
    rng.shuffle(events)  # store order is not time order; models must sort
    return Dataset.from_records(items, events, name="checkerboard"), withheld
