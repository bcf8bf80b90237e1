//! Helpers shared by the `fs_*` tests: temporary directories, runtimes on both drivers,
//! and one pass over every file operation.
#![allow(dead_code, unused_imports)]

use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use ringtide::fs::{self, File, OpenOptions};

/// A directory removed (with what it holds) when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    /// A new, empty directory under the system's temporary directory.
    pub fn new(tag: &str) -> TempDir {
        TempDir::under(&std::env::temp_dir(), tag)
    }

    /// A new, empty directory under `parent`.
    pub fn under(parent: &Path, tag: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = parent.join(format!("ringtide-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("creating a temporary directory");
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A 2-worker runtime on each driver.
pub use crate::support::runtimes_on_each_driver as runtimes;

/// Deterministic bytes, different for each `seed`.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Threads of this process whose name says they belong to a ringtide blocking pool.
pub fn blocking_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task is readable")
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        // The kernel keeps the first 15 bytes of a thread's name.
        .filter(|comm| comm.starts_with("ringtide-blocki"))
        .count()
}

/// Whether the process runs as root, which permission checks do not apply to.
pub fn is_root() -> bool {
    // SAFETY: geteuid takes no arguments and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// The OS error number inside an error of `ringtide::fs` (which wraps it to name the
/// operation and the path).
pub fn os_error(e: &io::Error) -> Option<i32> {
    e.raw_os_error().or_else(|| {
        let source = std::error::Error::source(e.get_ref()?)?;
        source.downcast_ref::<io::Error>()?.raw_os_error()
    })
}

/// Every file operation once, each checked against the standard library: the body of
/// the tests that force one path or the other.
pub async fn exercise_every_operation(dir: &Path) {
    // Open, positional writes and reads, vectored ones, with a short read at the end.
    let path = dir.join("data");
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .await
        .unwrap();
    let data = pattern(10_000, 1);
    let (res, data) = file.write_all_at(data, 0).await;
    res.unwrap();
    let (n, buf) = file.read_at(vec![0; 20_000], 0).await;
    assert_eq!(n.unwrap(), 10_000, "a read past the end is short");
    assert_eq!(buf[..10_000], data[..]);
    let (res, buf) = file.read_exact_at(Vec::with_capacity(5000), 5000).await;
    res.unwrap();
    assert_eq!(buf[..], data[5000..]);
    let (n, _) = file
        .writev_at(vec![b"abc".to_vec(), b"defg".to_vec()], 10_000)
        .await;
    assert_eq!(n.unwrap(), 7);
    let (n, bufs) = file
        .readv_at(vec![Vec::with_capacity(3), Vec::with_capacity(10)], 10_000)
        .await;
    assert_eq!(n.unwrap(), 7);
    assert_eq!((&bufs[0][..], &bufs[1][..]), (&b"abc"[..], &b"defg"[..]));
    let mut std_buf = vec![0; 10_007];
    std::fs::File::open(&path)
        .unwrap()
        .read_exact_at(&mut std_buf, 0)
        .unwrap();
    assert_eq!(std_buf[..10_000], data[..]);

    // Durability and size.
    file.sync_data().await.unwrap();
    file.sync_all().await.unwrap();
    file.set_len(100).await.unwrap();
    assert_eq!(file.metadata().await.unwrap().len(), 100);
    match file.allocate(0, 1 << 16).await {
        Ok(()) => assert_eq!(std::fs::metadata(&path).unwrap().len(), 1 << 16),
        Err(e) if os_error(&e) == Some(libc::EOPNOTSUPP) => {
            eprintln!("skipped allocate: the file system has no fallocate");
        }
        Err(e) => panic!("allocate: {e}"),
    }
    let meta = file.metadata().await.unwrap();
    let std_meta = std::fs::metadata(&path).unwrap();
    assert_eq!((meta.ino(), meta.len()), (std_meta.ino(), std_meta.len()));
    file.close().await.unwrap();

    // The functions of std::fs.
    fs::write(dir.join("small"), "hello").await.unwrap();
    assert_eq!(fs::read(dir.join("small")).await.unwrap(), b"hello");
    fs::create_dir_all(dir.join("a/b/c")).await.unwrap();
    fs::create_dir(dir.join("a/d")).await.unwrap();
    fs::rename(dir.join("small"), dir.join("a/d/moved"))
        .await
        .unwrap();
    fs::hard_link(dir.join("a/d/moved"), dir.join("a/linked"))
        .await
        .unwrap();
    fs::symlink("d/moved", dir.join("a/sym")).await.unwrap();
    assert!(fs::symlink_metadata(dir.join("a/sym"))
        .await
        .unwrap()
        .is_symlink());
    assert_eq!(fs::metadata(dir.join("a/sym")).await.unwrap().len(), 5);
    assert_eq!(fs::metadata(dir.join("a/linked")).await.unwrap().nlink(), 2);
    for file in ["a/sym", "a/linked", "a/d/moved"] {
        fs::remove_file(dir.join(file)).await.unwrap();
    }
    for sub in ["a/b/c", "a/b", "a/d", "a"] {
        fs::remove_dir(dir.join(sub)).await.unwrap();
    }

    // Errors name the operation and the path.
    let missing = dir.join("missing");
    let e = File::open(&missing).await.unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::NotFound);
    assert_eq!(os_error(&e), Some(libc::ENOENT));
    let expected = format!(
        "open {}: {}",
        missing.display(),
        io::Error::from_raw_os_error(libc::ENOENT)
    );
    assert_eq!(e.to_string(), expected);
    let e = fs::remove_file(&missing).await.unwrap_err();
    assert!(e.to_string().starts_with("remove_file "), "{e}");
    assert_eq!(e.kind(), io::ErrorKind::NotFound);
}
