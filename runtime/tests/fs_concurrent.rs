//! 10,000 reads of one file in flight at once, from tasks spread over the workers, each
//! getting its own bytes back; and on io_uring, no file operation ever needs a
//! blocking-pool thread. One test in this binary, so that no other test starts
//! blocking threads while it counts them.

mod fs_support;
mod support;

use std::sync::Arc;

use fs_support::{blocking_threads, pattern, runtimes, TempDir};
use ringtide::fs::File;
use ringtide::Driver;

const READS: usize = 10_000;
const FILE_SIZE: usize = 4 << 20;

#[test]
fn ten_thousand_concurrent_reads_of_one_file() {
    let dir = TempDir::new("fs-concurrent");
    let path = dir.join("shared");
    let data = Arc::new(pattern(FILE_SIZE, 11));
    std::fs::write(&path, &data[..]).unwrap();
    for rt in runtimes() {
        let driver = rt.driver();
        let workers_seen = rt.block_on(async {
            let file = Arc::new(File::open(&path).await.unwrap());
            let tasks: Vec<_> = (0..READS)
                .map(|i| {
                    let file = file.clone();
                    let data = data.clone();
                    ringtide::spawn(async move {
                        // Reads of 1 to 8 KiB at offsets that overlap one another.
                        let len = 1024 * (1 + i % 8);
                        let pos = (i * 7919 * 64) % (FILE_SIZE - len);
                        let (n, buf) = file.read_at(Vec::with_capacity(len), pos as u64).await;
                        assert_eq!(n.unwrap(), len);
                        assert!(buf[..] == data[pos..pos + len], "read {i} got other bytes");
                        std::thread::current().name().map(str::to_owned)
                    })
                })
                .collect();
            let mut seen = std::collections::HashSet::new();
            for task in tasks {
                seen.insert(task.await.unwrap());
            }
            seen
        });
        eprintln!("{driver}: {READS} reads finished on threads {workers_seen:?}");
        if driver == Driver::IoUring {
            assert_eq!(
                blocking_threads(),
                0,
                "on io_uring, file operations run on the rings, not the blocking pool"
            );
        }
    }
}
