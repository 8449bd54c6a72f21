"""The transcribe function: speech to timed text with faster-whisper."""
