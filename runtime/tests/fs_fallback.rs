//! Every file operation on rings that do without the file opcodes, as on a kernel that
//! lacks them: each then runs on the blocking pool, with the same results and errors.
//! Every test of this binary runs so: the variable is set once, before any runtime reads
//! it.

mod fs_support;
mod support;

use fs_support::{blocking_threads, exercise_every_operation, TempDir};

/// The names `RINGTIDE_IO_URING_WITHOUT` takes for the file operations.
const FILE_OPCODES: &str = "openat,read,write,readv,writev,fsync,fallocate,ftruncate,\
                            statx,unlinkat,mkdirat,renameat,linkat,symlinkat,close";

fn runtime_without_file_opcodes() -> ringtide::Runtime {
    support::ring_runtime_without(FILE_OPCODES)
}

#[test]
fn every_operation_runs_on_the_blocking_pool() {
    let rt = runtime_without_file_opcodes();
    let dir = TempDir::new("fs-fallback");
    assert_eq!(blocking_threads(), 0);
    rt.block_on(exercise_every_operation(dir.path()));
    assert!(
        blocking_threads() > 0,
        "the file operations went to the blocking pool"
    );
}
