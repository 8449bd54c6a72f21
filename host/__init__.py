"""The functions host: many functions behind the OpenFaaS gateway API, in one process (embedded, GPU node)."""
