"""The audio front end: crosstalk separation, voice activity, mel, and the per-frame features built from them."""
