//! The one integration-test binary of gb-shell: data-driven cases, variable reporting, error messages and random-input properties.

mod cases;
mod data;
mod errors;
mod matches;
mod props;
