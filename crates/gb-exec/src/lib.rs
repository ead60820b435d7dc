//! Running a process in an isolated container: OCI runtime bundle (runc), namespaces, mounts, output capture, cancellation.
