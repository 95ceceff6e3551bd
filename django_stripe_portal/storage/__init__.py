"""Storage that stays bounded: what a pruned or forgotten payload leaves behind.

- ``pruned``: the marker a pruned payload holds, pure;
- ``columns``: the payload values the figures read, copied into columns (ingest and backfill);
- ``prune``: ``prune_stripe_events`` in batches;
- ``forget``: ``forget_stripe_customer`` (erasure requests).
"""
