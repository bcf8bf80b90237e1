//! Runnable examples for ringtide; run one with
//! `cargo run --release --example <name>`. See the files beside this one.
