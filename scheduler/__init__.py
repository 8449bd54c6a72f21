"""The scheduler: bucket events in, a plan per media type, RQ jobs that call functions."""
