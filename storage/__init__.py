"""Object storage: bucket layout, a small client over the minio SDK, and upload events."""
