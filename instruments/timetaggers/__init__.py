"""Time taggers behind one protocol (:class:`TimeTagger`)."""

from qnic.instruments.timetaggers.protocol import TagBatch, TimeTagger

__all__ = ["TagBatch", "TimeTagger"]
