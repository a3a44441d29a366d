//! The resource-server (in progress).
