"""The embedded sample: its data files, its settings and the seeded generator that writes samples of any size."""
