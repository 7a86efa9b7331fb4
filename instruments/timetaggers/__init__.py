"""Time taggers behind one protocol (:class:`TimeTagger`)."""

from instruments.timetaggers.protocol import TagBatch, TimeTagger

__all__ = ["TagBatch", "TimeTagger"]
