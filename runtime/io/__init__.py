"""What crosses the process boundary besides audio: sinks and their endpoints, recordings, control inputs, network policy."""
