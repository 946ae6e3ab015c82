//! Tests of the whole spec module (being written).
