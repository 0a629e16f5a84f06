"""Learned speech features: streaming Wav2Vec2, words (transcript file or Whisper) and their BERT vectors."""
