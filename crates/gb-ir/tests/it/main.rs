//! Integration tests of the IR through its public API: a fuzz run of `Definition::validate`.

mod validate_fuzz;
