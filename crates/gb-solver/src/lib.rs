//! The solver: schedules a Definition's ops in parallel, computes cache keys, dedups, cancels, and reports progress events.
