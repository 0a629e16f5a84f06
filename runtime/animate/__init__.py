"""Animators: the window they receive, the procedural and learned animators, and the deadline fallback."""
