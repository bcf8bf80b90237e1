//! Files and directories through the ring: [`File`] for positional reads and writes with
//! owned buffers, and the functions of `std::fs` as futures.
//!
//! # Where each operation runs
//!
//! On the io_uring driver every operation is a request on the ring of the worker that
//! polls it (`IORING_OP_OPENAT`, `READ`, `WRITE`, `READV`, `WRITEV`, `FSYNC`,
//! `FALLOCATE`, `FTRUNCATE`, `STATX`, `CLOSE`, `UNLINKAT`, `MKDIRAT`, `RENAMEAT`,
//! `LINKAT`, `SYMLINKAT`), so a worker never blocks on a file. Where the running kernel
//! lacks one of those opcodes (probed once, when the runtime is built: `FTRUNCATE` came
//! in Linux 6.9, `MKDIRAT` and the link operations in 5.15), that operation runs as its
//! blocking system call on the runtime's blocking pool instead, as it always does on
//! the epoll driver: a regular file is always "ready" to epoll, so readiness cannot make
//! it asynchronous (tokio::fs does the same). `RINGTIDE_IO_URING_WITHOUT=openat,read,...`
//! makes a ring do without the opcodes it names, to try those paths.
//!
//! A buffered read that misses the page cache still waits for the disk, on one of the
//! kernel's io-wq threads rather than on a worker; a file opened with `O_DIRECT`
//! ([`OpenOptions::custom_flags`]) and read into an [`AlignedBuf`](crate::buf::AlignedBuf)
//! goes straight to the device.
//!
//! # Buffers and cancellation
//!
//! Reads and writes take their buffers by value and give them back with the result (see
//! [`crate::buf`]). Dropping a future while its request is in flight is safe: the buffer
//! and the descriptor stay owned by the runtime until the kernel reports the request
//! finished, and the request is cancelled where the kernel allows (a read already under
//! way in the kernel runs to its end). A cancelled write may or may not have happened.
//!
//! # Errors
//!
//! An error names the operation and the path: `open /x/y: No such file or directory (os
//! error 2)`. Its [`kind`](std::io::Error::kind) is the OS error's, and the OS error
//! itself is the error's [`source`](std::error::Error::source) (through
//! [`get_ref`](std::io::Error::get_ref)).
//!
//! # Examples
//!
//! ```
//! use ringtide::fs;
//!
//! # let dir = std::env::temp_dir().join(format!("ringtide-doc-fs-{}", std::process::id()));
//! ringtide::Runtime::new()?.block_on(async {
//!     fs::create_dir_all(dir.join("a/b")).await?;
//!     fs::write(dir.join("a/b/greeting"), "hello").await?;
//!     fs::rename(dir.join("a/b/greeting"), dir.join("a/greeting")).await?;
//!     assert_eq!(fs::read(dir.join("a/greeting")).await?, b"hello");
//!
//!     let err = fs::read(dir.join("a/b/greeting")).await.unwrap_err();
//!     assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
//!     assert!(err.to_string().starts_with("open "), "{err}");
//!
//!     fs::remove_file(dir.join("a/greeting")).await?;
//!     fs::remove_dir(dir.join("a/b")).await?;
//!     fs::remove_dir(dir.join("a")).await?;
//!     # fs::remove_dir(&dir).await?;
//!     Ok::<_, std::io::Error>(())
//! })?;
//! # Ok::<(), std::io::Error>(())
//! ```

mod direct;
mod file;
mod metadata;
mod open_options;
mod ops;
mod path_ops;
mod run;

pub use direct::DioAlignment;
pub use file::File;
pub use metadata::Metadata;
pub use open_options::OpenOptions;

use std::io;
use std::path::Path;

use path_ops::{MkDirAt, PathArg, TwoPaths, UnlinkAt, HARD_LINK, RENAME, SYMLINK};
use run::run;

/// Reads the whole file at `path`, like [`std::fs::read`].
///
/// One open, one `statx` for the size, reads until the end, and the close.
pub async fn read(path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
    let file = File::open(path).await?;
    let size = file.metadata().await.map_or(0, |m| m.len());
    // One byte more than the size, so that the read that finds the end needs no
    // reallocation first.
    let mut buf = Vec::with_capacity(usize::try_from(size).unwrap_or(0).saturating_add(1));
    loop {
        if buf.len() == buf.capacity() {
            buf.reserve(buf.capacity().max(8192));
        }
        let filled = buf.len();
        let (result, back) = file.read_rest(buf, filled as u64).await;
        buf = back;
        match result {
            Ok(0) => return Ok(buf),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Writes `contents` to the file at `path`, creating it or replacing what it held, like
/// [`std::fs::write`]. A `Vec<u8>` or `String` is written without a copy.
pub async fn write(path: impl AsRef<Path>, contents: impl Into<Vec<u8>>) -> io::Result<()> {
    let contents: Vec<u8> = contents.into();
    let file = File::create(path).await?;
    file.write_all_at(contents, 0).await.0
}

/// The metadata of the file at `path`, following symbolic links, like
/// [`std::fs::metadata`].
pub async fn metadata(path: impl AsRef<Path>) -> io::Result<Metadata> {
    let path = path.as_ref();
    let c = path_ops::c_path(path)?;
    run(metadata::Statx::path(c, path.to_path_buf(), true)).await
}

/// The metadata of `path` itself, not following a symbolic link, like
/// [`std::fs::symlink_metadata`].
pub async fn symlink_metadata(path: impl AsRef<Path>) -> io::Result<Metadata> {
    let path = path.as_ref();
    let c = path_ops::c_path(path)?;
    run(metadata::Statx::path(c, path.to_path_buf(), false)).await
}

/// Removes a file (or symbolic link), like [`std::fs::remove_file`].
pub async fn remove_file(path: impl AsRef<Path>) -> io::Result<()> {
    run(UnlinkAt::new(PathArg::new(path.as_ref())?, false)).await
}

/// Removes an empty directory, like [`std::fs::remove_dir`].
pub async fn remove_dir(path: impl AsRef<Path>) -> io::Result<()> {
    run(UnlinkAt::new(PathArg::new(path.as_ref())?, true)).await
}

/// Creates a directory (mode `0o777` before the umask), like [`std::fs::create_dir`].
pub async fn create_dir(path: impl AsRef<Path>) -> io::Result<()> {
    run(MkDirAt::new(PathArg::new(path.as_ref())?, 0o777)).await
}

/// Creates a directory and every missing parent, like [`std::fs::create_dir_all`]:
/// `Ok` if it exists already as a directory, also when another thread or process
/// creates it meanwhile.
pub async fn create_dir_all(path: impl AsRef<Path>) -> io::Result<()> {
    // Walk up until a directory exists (or is made), then make the missing ones down.
    let mut missing = Vec::new();
    let mut current = path.as_ref();
    loop {
        if current.as_os_str().is_empty() {
            break;
        }
        match create_dir(current).await {
            Ok(()) => break,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                missing.push(current);
                current = current.parent().ok_or(e)?;
            }
            Err(e) => {
                if is_dir(current).await {
                    break;
                }
                return Err(e);
            }
        }
    }
    for dir in missing.into_iter().rev() {
        if let Err(e) = create_dir(dir).await {
            if !is_dir(dir).await {
                return Err(e);
            }
        }
    }
    Ok(())
}

async fn is_dir(path: &Path) -> bool {
    metadata(path).await.is_ok_and(|m| m.is_dir())
}

/// Renames `from` to `to`, replacing `to` if it exists, like [`std::fs::rename`].
pub async fn rename(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<()> {
    let (from, to) = (PathArg::new(from.as_ref())?, PathArg::new(to.as_ref())?);
    run(TwoPaths::<RENAME>::new(from, to)).await
}

/// Makes `link` a new name of the file `original`, like [`std::fs::hard_link`].
pub async fn hard_link(original: impl AsRef<Path>, link: impl AsRef<Path>) -> io::Result<()> {
    let from = PathArg::new(original.as_ref())?;
    let to = PathArg::new(link.as_ref())?;
    run(TwoPaths::<HARD_LINK>::new(from, to)).await
}

/// Makes `link` a symbolic link to `original`, like
/// [`std::os::unix::fs::symlink`].
pub async fn symlink(original: impl AsRef<Path>, link: impl AsRef<Path>) -> io::Result<()> {
    let from = PathArg::new(original.as_ref())?;
    let to = PathArg::new(link.as_ref())?;
    run(TwoPaths::<SYMLINK>::new(from, to)).await
}
