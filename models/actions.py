"""What each person is doing, as the controls say it and the models read it (numpy-free, imports nothing)."""

ACTIONS = ("sit", "walk", "stand")  # control vocabulary and one-hot order of the per-frame action labels
