//! The operations on paths: opening a file, and the directory changes of `std::fs`
//! (remove, create, rename, link). Each owns its NUL-terminated paths until the kernel
//! is done with them.

use std::ffi::CString;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use io_uring::{opcode, squeue, types};

use super::run::{no_readiness, path_error, syscall_result, two_path_error};
use crate::driver::op::{Completion, Operation, Readiness};
use crate::driver::uring::Features;

/// `path` as the kernel takes it; an error if it holds a NUL byte.
pub(crate) fn c_path(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "file name contained an unexpected NUL byte: {}",
                path.display()
            ),
        )
    })
}

/// A path operation's paths: the one the kernel reads, and the one errors show.
pub(crate) struct PathArg {
    c: CString,
    path: PathBuf,
}

impl PathArg {
    pub(crate) fn new(path: &Path) -> io::Result<PathArg> {
        Ok(PathArg {
            c: c_path(path)?,
            path: path.to_path_buf(),
        })
    }

    fn ptr(&self) -> *const libc::c_char {
        self.c.as_ptr()
    }
}

/// `openat(2)`: a new descriptor for `path`.
pub(crate) struct OpenAt {
    path: PathArg,
    flags: i32,
    mode: u32,
}

impl OpenAt {
    pub(crate) fn new(path: PathArg, flags: i32, mode: u32) -> OpenAt {
        OpenAt { path, flags, mode }
    }
}

impl Operation for OpenAt {
    type Output = io::Result<(OwnedFd, PathBuf)>;

    const OPCODE: u8 = opcode::OpenAt::CODE;

    fn sqe(&mut self, _: &Features) -> squeue::Entry {
        opcode::OpenAt::new(types::Fd(libc::AT_FDCWD), self.path.ptr())
            .flags(self.flags)
            .mode(self.mode)
            .build()
    }

    fn readiness(&self) -> Readiness {
        no_readiness(-1, 0)
    }

    fn attempt(&mut self) -> i32 {
        // SAFETY: a NUL-terminated path this operation owns.
        let fd = unsafe {
            libc::openat(
                libc::AT_FDCWD,
                self.path.ptr(),
                self.flags,
                self.mode as libc::c_uint,
            )
        };
        syscall_result(fd.into())
    }

    fn complete(self, result: io::Result<Completion>) -> Self::Output {
        match result.and_then(|c| c.io_result()) {
            // SAFETY: a new descriptor, which nothing else owns.
            Ok(fd) => Ok((unsafe { OwnedFd::from_raw_fd(fd as i32) }, self.path.path)),
            Err(e) => Err(path_error(e, "open", &self.path.path)),
        }
    }

    fn orphaned(self, completion: Completion) {
        if completion.result >= 0 {
            // SAFETY: the descriptor the kernel opened for a future that is gone.
            drop(unsafe { OwnedFd::from_raw_fd(completion.result) });
        }
    }
}

/// `unlinkat(2)`: a file (`remove_dir` false) or an empty directory removed.
pub(crate) struct UnlinkAt {
    path: PathArg,
    remove_dir: bool,
}

impl UnlinkAt {
    pub(crate) fn new(path: PathArg, remove_dir: bool) -> UnlinkAt {
        UnlinkAt { path, remove_dir }
    }

    fn flags(&self) -> i32 {
        if self.remove_dir {
            libc::AT_REMOVEDIR
        } else {
            0
        }
    }
}

impl Operation for UnlinkAt {
    type Output = io::Result<()>;

    const OPCODE: u8 = opcode::UnlinkAt::CODE;

    fn sqe(&mut self, _: &Features) -> squeue::Entry {
        opcode::UnlinkAt::new(types::Fd(libc::AT_FDCWD), self.path.ptr())
            .flags(self.flags())
            .build()
    }

    fn readiness(&self) -> Readiness {
        no_readiness(-1, 0)
    }

    fn attempt(&mut self) -> i32 {
        // SAFETY: a NUL-terminated path this operation owns.
        let rc = unsafe { libc::unlinkat(libc::AT_FDCWD, self.path.ptr(), self.flags()) };
        syscall_result(rc.into())
    }

    fn complete(self, result: io::Result<Completion>) -> io::Result<()> {
        let op = if self.remove_dir {
            "remove_dir"
        } else {
            "remove_file"
        };
        result
            .and_then(|c| c.io_result())
            .map(drop)
            .map_err(|e| path_error(e, op, &self.path.path))
    }
}

/// `mkdirat(2)`.
pub(crate) struct MkDirAt {
    path: PathArg,
    mode: u32,
}

impl MkDirAt {
    pub(crate) fn new(path: PathArg, mode: u32) -> MkDirAt {
        MkDirAt { path, mode }
    }
}

impl Operation for MkDirAt {
    type Output = io::Result<()>;

    const OPCODE: u8 = opcode::MkDirAt::CODE;

    fn sqe(&mut self, _: &Features) -> squeue::Entry {
        opcode::MkDirAt::new(types::Fd(libc::AT_FDCWD), self.path.ptr())
            .mode(self.mode)
            .build()
    }

    fn readiness(&self) -> Readiness {
        no_readiness(-1, 0)
    }

    fn attempt(&mut self) -> i32 {
        // SAFETY: a NUL-terminated path this operation owns.
        let rc = unsafe { libc::mkdirat(libc::AT_FDCWD, self.path.ptr(), self.mode) };
        syscall_result(rc.into())
    }

    fn complete(self, result: io::Result<Completion>) -> io::Result<()> {
        result
            .and_then(|c| c.io_result())
            .map(drop)
            .map_err(|e| path_error(e, "create_dir", &self.path.path))
    }
}

/// `renameat(2)`, `linkat(2)` or `symlinkat(2)`, as `K` says.
pub(crate) struct TwoPaths<const K: u8> {
    from: PathArg,
    to: PathArg,
}

/// The `K` of each two-path operation: its opcode.
pub(crate) const RENAME: u8 = opcode::RenameAt::CODE;
pub(crate) const HARD_LINK: u8 = opcode::LinkAt::CODE;
pub(crate) const SYMLINK: u8 = opcode::SymlinkAt::CODE;

impl<const K: u8> TwoPaths<K> {
    pub(crate) fn new(from: PathArg, to: PathArg) -> TwoPaths<K> {
        TwoPaths { from, to }
    }

    fn name() -> &'static str {
        match K {
            RENAME => "rename",
            HARD_LINK => "hard_link",
            _ => "symlink",
        }
    }
}

impl<const K: u8> Operation for TwoPaths<K> {
    type Output = io::Result<()>;

    const OPCODE: u8 = K;

    fn sqe(&mut self, _: &Features) -> squeue::Entry {
        let cwd = types::Fd(libc::AT_FDCWD);
        match K {
            RENAME => opcode::RenameAt::new(cwd, self.from.ptr(), cwd, self.to.ptr()).build(),
            HARD_LINK => opcode::LinkAt::new(cwd, self.from.ptr(), cwd, self.to.ptr()).build(),
            _ => opcode::SymlinkAt::new(cwd, self.from.ptr(), self.to.ptr()).build(),
        }
    }

    fn readiness(&self) -> Readiness {
        no_readiness(-1, 0)
    }

    fn attempt(&mut self) -> i32 {
        let (from, to, cwd) = (self.from.ptr(), self.to.ptr(), libc::AT_FDCWD);
        // SAFETY: NUL-terminated paths this operation owns.
        let rc = unsafe {
            match K {
                RENAME => libc::renameat(cwd, from, cwd, to),
                HARD_LINK => libc::linkat(cwd, from, cwd, to, 0),
                _ => libc::symlinkat(from, cwd, to),
            }
        };
        syscall_result(rc.into())
    }

    fn complete(self, result: io::Result<Completion>) -> io::Result<()> {
        result
            .and_then(|c| c.io_result())
            .map(drop)
            .map_err(|e| two_path_error(e, Self::name(), &self.from.path, &self.to.path))
    }
}
