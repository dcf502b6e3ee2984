//! Python bindings (placeholder during bring-up).
