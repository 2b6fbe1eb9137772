"""Pairing RGB and depth frames by header stamp, streaming (:class:`StampPairer`).

Messages are pushed in the order the bag holds them. In stamp order, each RGB frame takes the nearest depth frame
not yet taken whose stamp lies within ``max_difference_ns`` of its own; an RGB frame with none is unpaired, and so is
every depth frame no RGB frame took. An RGB frame is decided once a depth frame later than its window has arrived
(no nearer one can follow, stamps rising per topic), once any message is ``horizon_ns`` past its window (a depth
topic that stalls or ends does not hold the RGB frames back), or at :meth:`StampPairer.finish`. So the queues hold
only the frames of the last ``max_difference_ns + horizon_ns``: memory stays flat in the bag's length.
"""

from __future__ import annotations

import bisect
import itertools

from rfbnet_tf.utils.checks import int_at_least

DEFAULT_HORIZON_NS = 2_000_000_000


class StampPairer:
    """Streaming nearest-stamp pairing of two topics.

    :meth:`push` and :meth:`finish` return the decided RGB frames, in stamp order, as
    ``(rgb_stamp, rgb_payload, depth_stamp, depth_payload)`` tuples; an unpaired RGB frame has ``None`` for both
    depth entries. ``unpaired_depth`` counts the depth frames no RGB frame took.
    """

    def __init__(self, max_difference_ns: int, horizon_ns: int = DEFAULT_HORIZON_NS):
        int_at_least("max_difference_ns", max_difference_ns, 0)
        self.max_difference_ns, self.horizon_ns = max_difference_ns, horizon_ns
        self._queues = {"rgb": [], "depth": []}  # (stamp, sequence, payload), sorted
        self._sequence = itertools.count()
        self._newest = None
        self._newest_depth = None
        self.unpaired_depth = 0

    def push(self, kind: str, stamp: int, payload) -> list:
        """Add a message of ``kind`` ("rgb" or "depth"); returns the RGB frames now decided."""
        bisect.insort(self._queues[kind], (stamp, next(self._sequence), payload), key=lambda entry: entry[:2])
        self._newest = stamp if self._newest is None else max(self._newest, stamp)
        if kind == "depth":
            self._newest_depth = stamp if self._newest_depth is None else max(self._newest_depth, stamp)
        return self._decide(final=False)

    def finish(self) -> list:
        """Decide every RGB frame left (the stream ended); the depth frames left are unpaired."""
        decided = self._decide(final=True)
        self.unpaired_depth += len(self._queues["depth"])
        self._queues["depth"].clear()
        return decided

    def _settled(self, stamp: int) -> bool:
        window_end = stamp + self.max_difference_ns
        return ((self._newest_depth is not None and self._newest_depth > window_end)
                or self._newest > window_end + self.horizon_ns)

    def _decide(self, final: bool) -> list:
        rgb, depth = self._queues["rgb"], self._queues["depth"]
        decided = []
        while rgb and (final or self._settled(rgb[0][0])):
            stamp, _, payload = rgb.pop(0)
            while depth and depth[0][0] < stamp - self.max_difference_ns:  # too early for this and later frames
                depth.pop(0)
                self.unpaired_depth += 1
            best = None
            for index, (depth_stamp, _, _) in enumerate(depth):
                if depth_stamp > stamp + self.max_difference_ns:
                    break
                if best is None or abs(depth_stamp - stamp) < abs(depth[best][0] - stamp):
                    best = index
            if best is None:
                decided.append((stamp, payload, None, None))
                continue
            self.unpaired_depth += best  # the earlier ones in the window: a nearer frame was taken after them
            del depth[:best]
            depth_stamp, _, depth_payload = depth.pop(0)
            decided.append((stamp, payload, depth_stamp, depth_payload))
        return decided
