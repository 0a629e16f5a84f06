"""Audio sources: microphones (PortAudio) and WAV replay, resampled and paired onto the session's sample clock."""
