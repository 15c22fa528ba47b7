//! End-to-end `/logs` ingest and `/bundles` 304 throughput (written in the next step).

fn main() {}
