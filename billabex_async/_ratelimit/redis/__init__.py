"""Rate-limit layer: the sliding window shared through Redis by every process on a token."""
