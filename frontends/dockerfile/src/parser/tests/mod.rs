//! Tests of the whole parser: BuildKit's golden corpus, line numbers, heredocs, errors,
//! behaviour details and a no-panic property test.

mod behaviour;
mod corpus;
mod errors;
mod heredocs;
mod no_panic;
