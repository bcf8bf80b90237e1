//! Errors of `ringtide::fs`: each keeps the OS error's kind and names the operation and
//! the path; `O_DIRECT` with a misaligned buffer says what alignment it needs. Each test
//! runs on io_uring and on epoll.

mod fs_support;
mod support;

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use fs_support::{is_root, os_error, runtimes, TempDir};
use ringtide::buf::{AlignedBuf, IoBuf, IoBufMut};
use ringtide::fs::{self, File, OpenOptions};

fn os_message(errno: i32) -> String {
    io::Error::from_raw_os_error(errno).to_string()
}

/// Checks `result` failed with `errno` and the message `{op} {path}: {os error}`.
fn assert_fails<T: std::fmt::Debug>(result: io::Result<T>, errno: i32, op: &str, path: &Path) {
    let e = result.unwrap_err();
    assert_eq!(os_error(&e), Some(errno), "{e}");
    assert_eq!(e.kind(), io::Error::from_raw_os_error(errno).kind(), "{e}");
    let expected = format!("{op} {}: {}", path.display(), os_message(errno));
    assert_eq!(e.to_string(), expected);
}

#[test]
fn a_missing_file() {
    for rt in runtimes() {
        let dir = TempDir::new("fs-enoent");
        let missing = dir.join("no/such/file");
        rt.block_on(async {
            assert_fails(File::open(&missing).await, libc::ENOENT, "open", &missing);
            assert_fails(fs::read(&missing).await, libc::ENOENT, "open", &missing);
            assert_fails(
                fs::metadata(&missing).await,
                libc::ENOENT,
                "metadata",
                &missing,
            );
            assert_fails(
                fs::remove_dir(&missing).await,
                libc::ENOENT,
                "remove_dir",
                &missing,
            );
            assert_fails(
                fs::create_dir(&missing).await,
                libc::ENOENT,
                "create_dir",
                &missing,
            );
            let e = fs::rename(&missing, dir.join("x")).await.unwrap_err();
            let expected = format!(
                "rename {} to {}: {}",
                missing.display(),
                dir.join("x").display(),
                os_message(libc::ENOENT)
            );
            assert_eq!(e.to_string(), expected);
            assert_eq!(e.kind(), io::ErrorKind::NotFound);
        });
    }
}

#[test]
fn a_directory_where_a_file_is_expected() {
    for rt in runtimes() {
        let dir = TempDir::new("fs-eisdir");
        let path = dir.path().to_path_buf();
        rt.block_on(async {
            let write = OpenOptions::new().write(true).open(&path).await;
            assert_fails(write, libc::EISDIR, "open", &path);
            let file = File::open(&path).await.unwrap();
            let (res, _) = file.read_at(vec![0; 16], 0).await;
            assert_fails(res, libc::EISDIR, "read", &path);
            assert_fails(fs::read(&path).await, libc::EISDIR, "read", &path);
            assert_fails(
                fs::remove_file(&path).await,
                libc::EISDIR,
                "remove_file",
                &path,
            );
        });
    }
}

#[test]
fn permission_denied() {
    if is_root() {
        eprintln!(
            "skipped: running as root, which file permissions do not stop (run the tests \
             as another user to check EACCES)"
        );
        return;
    }
    for rt in runtimes() {
        let dir = TempDir::new("fs-eacces");
        let path = dir.join("locked");
        std::fs::write(&path, b"secret").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).unwrap();
        rt.block_on(async {
            assert_fails(File::open(&path).await, libc::EACCES, "open", &path);
        });
    }
}

#[test]
fn names_that_exist_already() {
    for rt in runtimes() {
        let dir = TempDir::new("fs-eexist");
        let path = dir.join("taken");
        std::fs::write(&path, b"here").unwrap();
        rt.block_on(async {
            assert_fails(File::create_new(&path).await, libc::EEXIST, "open", &path);
            let sub = dir.join("sub");
            fs::create_dir(&sub).await.unwrap();
            assert_fails(fs::create_dir(&sub).await, libc::EEXIST, "create_dir", &sub);
            assert_fails(
                fs::create_dir_all(&path).await,
                libc::EEXIST,
                "create_dir",
                &path,
            );
            std::fs::write(sub.join("inside"), b"").unwrap();
            assert_fails(
                fs::remove_dir(&sub).await,
                libc::ENOTEMPTY,
                "remove_dir",
                &sub,
            );
            let e = fs::hard_link(&path, sub.join("inside")).await.unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
            assert!(e.to_string().starts_with("hard_link "), "{e}");
            assert_eq!(std::fs::read(&path).unwrap(), b"here", "left as it was");
        });
    }
}

#[test]
fn bad_paths_and_no_runtime() {
    let e = futures::executor::block_on(File::open("/tmp")).unwrap_err();
    assert!(e.to_string().contains("outside a ringtide runtime"), "{e}");
    for rt in runtimes() {
        rt.block_on(async {
            let e = File::open("bad\0name").await.unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
            assert!(e.to_string().contains("NUL"), "{e}");
        });
    }
}

/// A buffer one byte past an aligned address: misaligned for any `O_DIRECT`.
struct OffByOne(AlignedBuf);

// SAFETY: one byte into the aligned buffer's heap memory, which does not move; the
// lengths are one less than the buffer's.
unsafe impl IoBuf for OffByOne {
    fn stable_ptr(&self) -> *const u8 {
        // SAFETY: the buffer has at least one byte.
        unsafe { self.0.stable_ptr().add(1) }
    }
    fn bytes_init(&self) -> usize {
        self.0.bytes_init().saturating_sub(1)
    }
    fn bytes_total(&self) -> usize {
        self.0.bytes_total() - 1
    }
}

// SAFETY: as above.
unsafe impl IoBufMut for OffByOne {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        // SAFETY: as above.
        unsafe { self.0.stable_mut_ptr().add(1) }
    }
    unsafe fn set_init(&mut self, pos: usize) {
        self.0.set_len(pos + 1);
    }
}

/// Where a file can be opened with `O_DIRECT`: the temporary directory (tmpfs refuses it
/// before Linux 6.6), else the target directory.
fn direct_dir() -> Option<(TempDir, PathBuf)> {
    let candidates = [
        std::env::temp_dir(),
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")),
    ];
    for parent in candidates {
        let dir = TempDir::under(&parent, "fs-direct");
        let path = dir.join("direct");
        let opened = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .custom_flags(libc::O_DIRECT)
            .open(&path);
        if opened.is_ok() {
            return Some((dir, path));
        }
    }
    None
}

use std::os::unix::fs::OpenOptionsExt;

#[test]
fn o_direct_with_a_misaligned_buffer_says_what_it_needs() {
    let Some((_dir, path)) = direct_dir() else {
        eprintln!("skipped: neither the temporary nor the target directory allows O_DIRECT");
        return;
    };
    for rt in runtimes() {
        rt.block_on(async {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .custom_flags(libc::O_DIRECT)
                .open(&path)
                .await
                .unwrap();
            let align = match file.dio_alignment() {
                Ok(align) => align,
                Err(e) => return eprintln!("skipped: {e}"),
            };
            let block = align.memory().max(align.offset()).max(4096);
            // Aligned: works.
            let buf = AlignedBuf::zeroed(block, align.memory());
            file.write_all_at(buf, 0).await.0.unwrap();
            let (n, _) = file
                .read_at(AlignedBuf::with_capacity(block, align.memory()), 0)
                .await;
            assert_eq!(n.unwrap(), block);

            // Misaligned address, offset and length: each named.
            let misaligned_read = file
                .read_at(OffByOne(AlignedBuf::zeroed(block + 1, align.memory())), 0)
                .await
                .0;
            let e = match misaligned_read {
                Err(e) => e,
                Ok(_) => {
                    return eprintln!(
                        "skipped: {} accepts O_DIRECT at any address",
                        path.display()
                    )
                }
            };
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
            let text = e.to_string();
            assert!(
                text.starts_with(&format!("read {}: O_DIRECT needs", path.display())),
                "{text}"
            );
            assert!(
                text.contains(&format!("aligned to {} bytes", align.memory())),
                "{text}"
            );
            let e = file
                .write_at(OffByOne(AlignedBuf::zeroed(block + 1, align.memory())), 0)
                .await
                .0
                .unwrap_err();
            assert!(e.to_string().starts_with("write "), "{e}");
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
            if align.offset() > 1 {
                let aligned = AlignedBuf::with_capacity(block, align.memory());
                let e = file.read_at(aligned, 1).await.0.unwrap_err();
                assert!(e.to_string().contains("at offset 1"), "{e}");
            }
        });
    }
}
