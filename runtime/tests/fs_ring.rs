//! Every file operation on the runtime's default driver (io_uring unless
//! `RINGTIDE_DRIVER` says otherwise), with the same checks as `fs_fallback`.

mod fs_support;
mod support;

use fs_support::{exercise_every_operation, runtimes, TempDir};

#[test]
fn every_operation_on_each_driver() {
    for rt in runtimes() {
        let dir = TempDir::new("fs-every");
        rt.block_on(exercise_every_operation(dir.path()));
    }
}
