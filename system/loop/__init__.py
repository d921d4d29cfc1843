"""The closed loop's domain logic (plain Python): curriculum, prompts, replay, per-iteration metrics.

The Ray layer in actors/ only moves these objects between processes and waits with timeouts.
"""
