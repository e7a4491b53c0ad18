//! The Kubernetes operator (being written).
