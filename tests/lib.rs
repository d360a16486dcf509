//! Integration tests of secure-tool live in this package's test targets.
