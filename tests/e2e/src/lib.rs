//! Tests only: see tests/app.rs.
