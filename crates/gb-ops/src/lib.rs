//! File actions with Docker's COPY/ADD semantics applied to directories, and user lookup in a root file system.
