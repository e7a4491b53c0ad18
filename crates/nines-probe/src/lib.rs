//! Active probes (being written).
