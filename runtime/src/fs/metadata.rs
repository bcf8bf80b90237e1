//! File metadata through `statx(2)`: [`Metadata`] and the operation that fetches it.

use std::ffi::CString;
use std::fmt;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use io_uring::{opcode, squeue, types};

use super::file::FileFd;
use super::run::{no_readiness, path_error, syscall_result};
use crate::driver::op::{Completion, Operation, Readiness};
use crate::driver::uring::Features;

/// What `statx` is asked for: everything `stat` gives, and the creation time.
const MASK: u32 = libc::STATX_BASIC_STATS | libc::STATX_BTIME;

/// Metadata of a file, as [`std::fs::Metadata`] gives it: from
/// [`fs::metadata`](super::metadata()), [`fs::symlink_metadata`](super::symlink_metadata)
/// or [`File::metadata`](super::File::metadata).
///
/// # Examples
///
/// ```
/// # let dir = std::env::temp_dir().join(format!("ringtide-doc-meta-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// # let path = dir.join("hello.txt");
/// ringtide::Runtime::new()?.block_on(async {
///     ringtide::fs::write(&path, "hello").await?;
///     let meta = ringtide::fs::metadata(&path).await?;
///     assert!(meta.is_file());
///     assert_eq!(meta.len(), 5);
///     Ok::<_, std::io::Error>(())
/// })?;
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Copy)]
pub struct Metadata {
    stx: libc::statx,
}

impl Metadata {
    fn file_type_bits(&self) -> u32 {
        u32::from(self.stx.stx_mode) & libc::S_IFMT
    }

    /// The size in bytes.
    pub fn len(&self) -> u64 {
        self.stx.stx_size
    }

    /// Whether the size is 0.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A regular file.
    pub fn is_file(&self) -> bool {
        self.file_type_bits() == libc::S_IFREG
    }

    /// A directory.
    pub fn is_dir(&self) -> bool {
        self.file_type_bits() == libc::S_IFDIR
    }

    /// A symbolic link (only from [`symlink_metadata`](super::symlink_metadata), which
    /// does not follow it).
    pub fn is_symlink(&self) -> bool {
        self.file_type_bits() == libc::S_IFLNK
    }

    /// The permissions, as `std::fs::Metadata::permissions` gives them.
    pub fn permissions(&self) -> std::fs::Permissions {
        std::fs::Permissions::from_mode(self.mode())
    }

    /// The last modification time.
    pub fn modified(&self) -> io::Result<SystemTime> {
        Ok(system_time(self.stx.stx_mtime))
    }

    /// The last access time.
    pub fn accessed(&self) -> io::Result<SystemTime> {
        Ok(system_time(self.stx.stx_atime))
    }

    /// The creation time, where the file system records it.
    pub fn created(&self) -> io::Result<SystemTime> {
        if self.stx.stx_mask & libc::STATX_BTIME == 0 {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "creation time is not available for the file system",
            ));
        }
        Ok(system_time(self.stx.stx_btime))
    }

    /// The last status change time.
    pub fn changed(&self) -> SystemTime {
        system_time(self.stx.stx_ctime)
    }

    /// The file type and permission bits (`st_mode`).
    pub fn mode(&self) -> u32 {
        self.stx.stx_mode.into()
    }

    /// The device the file is on (`st_dev`).
    pub fn dev(&self) -> u64 {
        libc::makedev(self.stx.stx_dev_major, self.stx.stx_dev_minor)
    }

    /// The inode number.
    pub fn ino(&self) -> u64 {
        self.stx.stx_ino
    }

    /// The number of hard links.
    pub fn nlink(&self) -> u64 {
        self.stx.stx_nlink.into()
    }

    /// The owner's user id.
    pub fn uid(&self) -> u32 {
        self.stx.stx_uid
    }

    /// The owner's group id.
    pub fn gid(&self) -> u32 {
        self.stx.stx_gid
    }

    /// The device a device file stands for (`st_rdev`).
    pub fn rdev(&self) -> u64 {
        libc::makedev(self.stx.stx_rdev_major, self.stx.stx_rdev_minor)
    }

    /// The preferred I/O size (`st_blksize`).
    pub fn blksize(&self) -> u64 {
        self.stx.stx_blksize.into()
    }

    /// The 512-byte blocks allocated (`st_blocks`).
    pub fn blocks(&self) -> u64 {
        self.stx.stx_blocks
    }
}

impl fmt::Debug for Metadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metadata")
            .field("mode", &format_args!("{:#o}", self.mode()))
            .field("len", &self.len())
            .field("ino", &self.ino())
            .field("modified", &self.modified().ok())
            .finish_non_exhaustive()
    }
}

fn system_time(t: libc::statx_timestamp) -> SystemTime {
    if t.tv_sec >= 0 {
        UNIX_EPOCH + Duration::new(t.tv_sec as u64, t.tv_nsec)
    } else {
        UNIX_EPOCH - Duration::from_secs(t.tv_sec.unsigned_abs())
            + Duration::from_nanos(t.tv_nsec.into())
    }
}

/// `statx(2)` of a path (following a last symbolic link or not), or of an open file.
pub(crate) struct Statx {
    /// The open file, for `File::metadata`.
    file: Option<FileFd>,
    /// The path; empty for an open file.
    path: CString,
    /// For the error message.
    name: PathBuf,
    flags: i32,
    stx: libc::statx,
}

impl Statx {
    /// Of `path`; of the link itself if `follow` is false.
    pub(crate) fn path(path: CString, name: PathBuf, follow: bool) -> Statx {
        let flags = if follow { 0 } else { libc::AT_SYMLINK_NOFOLLOW };
        Statx::new(None, path, name, flags)
    }

    /// Of the open file `file`.
    pub(crate) fn file(file: FileFd) -> Statx {
        let name = file.name();
        Statx::new(Some(file), CString::default(), name, libc::AT_EMPTY_PATH)
    }

    fn new(file: Option<FileFd>, path: CString, name: PathBuf, flags: i32) -> Statx {
        Statx {
            file,
            path,
            name,
            flags,
            // SAFETY: all-zero is a valid statx.
            stx: unsafe { std::mem::zeroed() },
        }
    }

    fn dirfd(&self) -> i32 {
        self.file.as_ref().map_or(libc::AT_FDCWD, FileFd::raw)
    }

    /// `fstatat(2)`, for kernels or sandboxes without `statx`: the same fields, less the
    /// creation time.
    fn fstatat(&mut self) -> i32 {
        // SAFETY: all-zero is a valid stat.
        let mut st: libc::stat64 = unsafe { std::mem::zeroed() };
        // SAFETY: the path is a NUL-terminated string this operation owns; `st` is
        // writable.
        let rc = unsafe { libc::fstatat64(self.dirfd(), self.path.as_ptr(), &mut st, self.flags) };
        if rc < 0 {
            return syscall_result(rc.into());
        }
        let ts = |sec: i64, nsec: i64| {
            // SAFETY: all-zero is a valid timestamp.
            let mut t: libc::statx_timestamp = unsafe { std::mem::zeroed() };
            t.tv_sec = sec;
            t.tv_nsec = nsec as u32;
            t
        };
        let stx = &mut self.stx;
        stx.stx_mask = libc::STATX_BASIC_STATS;
        stx.stx_mode = st.st_mode as u16;
        stx.stx_size = st.st_size as u64;
        stx.stx_nlink = st.st_nlink as u32;
        stx.stx_uid = st.st_uid;
        stx.stx_gid = st.st_gid;
        stx.stx_ino = st.st_ino;
        stx.stx_blksize = st.st_blksize as u32;
        stx.stx_blocks = st.st_blocks as u64;
        stx.stx_dev_major = libc::major(st.st_dev);
        stx.stx_dev_minor = libc::minor(st.st_dev);
        stx.stx_rdev_major = libc::major(st.st_rdev);
        stx.stx_rdev_minor = libc::minor(st.st_rdev);
        stx.stx_atime = ts(st.st_atime, st.st_atime_nsec);
        stx.stx_mtime = ts(st.st_mtime, st.st_mtime_nsec);
        stx.stx_ctime = ts(st.st_ctime, st.st_ctime_nsec);
        0
    }
}

impl Operation for Statx {
    type Output = io::Result<Metadata>;

    const OPCODE: u8 = opcode::Statx::CODE;

    fn sqe(&mut self, _: &Features) -> squeue::Entry {
        let stx: *mut libc::statx = &mut self.stx;
        opcode::Statx::new(types::Fd(self.dirfd()), self.path.as_ptr(), stx.cast())
            .flags(self.flags)
            .mask(MASK)
            .build()
    }

    fn readiness(&self) -> Readiness {
        no_readiness(-1, 0)
    }

    fn attempt(&mut self) -> i32 {
        // SAFETY: the path is a NUL-terminated string this operation owns; `stx` is
        // writable.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_statx,
                self.dirfd(),
                self.path.as_ptr(),
                self.flags,
                MASK,
                &mut self.stx as *mut libc::statx,
            )
        };
        let result = syscall_result(rc);
        // Kernels before 4.11, and seccomp profiles from before statx.
        if result == -libc::ENOSYS || result == -libc::EPERM {
            let fallback = self.fstatat();
            if fallback != -libc::ENOSYS && fallback != -libc::EPERM {
                return fallback;
            }
        }
        result
    }

    fn complete(self, result: io::Result<Completion>) -> io::Result<Metadata> {
        match result.and_then(|c| c.io_result()) {
            Ok(_) => Ok(Metadata { stx: self.stx }),
            Err(e) => Err(path_error(e, "metadata", &self.name)),
        }
    }
}
