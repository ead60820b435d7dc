//! OCI distribution: pull, push, credentials.
