"""The extract function: a video's audio track and its keyframes, written to the store."""
