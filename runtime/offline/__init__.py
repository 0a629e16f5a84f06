"""Offline tooling, never imported by the live session: the synthetic corpus, training data, feature dumps, clip rendering."""
