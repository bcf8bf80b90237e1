//! The operations on an open file: what each submits to a ring, the blocking system call
//! the blocking pool makes instead, and what the result means.
//!
//! Every operation holds a reference to its file ([`FileFd`]), so the descriptor stays
//! open until the kernel is done with the request, and owns its buffers, so they stay
//! allocated until then too, whatever happens to the future (see
//! [`crate::driver::op`]).

use std::io;

use io_uring::{opcode, squeue, types};

use super::file::FileFd;
use super::run::{annotate, max_len, no_readiness, syscall_result};
use crate::buf::{IoBuf, IoBufMut};
use crate::driver::op::{Completion, Operation, Readiness};
use crate::driver::uring::Features;

fn readiness(file: &FileFd) -> Readiness {
    no_readiness(file.raw(), file.key())
}

/// `pread(2)` into an owned buffer from index `start` up to its capacity. The buffer
/// then holds its first `start` bytes and what was read after them (see `crate::buf`).
pub(crate) struct ReadAt<B> {
    file: FileFd,
    buf: B,
    pos: u64,
    start: usize,
}

impl<B: IoBufMut> ReadAt<B> {
    pub(crate) fn new(file: FileFd, buf: B, pos: u64, start: usize) -> ReadAt<B> {
        let start = start.min(buf.bytes_total());
        ReadAt {
            file,
            buf,
            pos,
            start,
        }
    }

    fn target(&mut self) -> (*mut u8, usize) {
        // SAFETY: `start <= bytes_total`, within the buffer.
        let ptr = unsafe { self.buf.stable_mut_ptr().add(self.start) };
        (ptr, max_len(self.buf.bytes_total() - self.start))
    }
}

impl<B: IoBufMut> Operation for ReadAt<B> {
    type Output = (io::Result<usize>, B);

    const OPCODE: u8 = opcode::Read::CODE;

    fn sqe(&mut self, _: &Features) -> squeue::Entry {
        let (ptr, len) = self.target();
        opcode::Read::new(types::Fd(self.file.raw()), ptr, len as u32)
            .offset(self.pos)
            .build()
    }

    fn readiness(&self) -> Readiness {
        readiness(&self.file)
    }

    fn attempt(&mut self) -> i32 {
        let (ptr, len) = self.target();
        // SAFETY: the buffer is writable for `len` bytes from `ptr`, and nothing else
        // uses it while the operation holds it.
        let n = unsafe { libc::pread(self.file.raw(), ptr.cast(), len, self.pos as i64) };
        syscall_result(n as i64)
    }

    fn complete(mut self, result: io::Result<Completion>) -> Self::Output {
        match result.and_then(|c| c.io_result()) {
            Ok(n) => {
                // SAFETY: the kernel wrote `n` bytes from `start`, after the `start`
                // bytes the buffer already held.
                unsafe { self.buf.set_init(self.start + n as usize) };
                (Ok(n as usize), self.buf)
            }
            Err(e) => {
                let (ptr, len) = self.target();
                let e = self
                    .file
                    .rw_error(e, "read", &[(ptr as usize, len)], self.pos);
                (Err(e), self.buf)
            }
        }
    }
}

/// `pwrite(2)` of an owned buffer's initialized bytes from index `start`.
pub(crate) struct WriteAt<B> {
    file: FileFd,
    buf: B,
    pos: u64,
    start: usize,
}

impl<B: IoBuf> WriteAt<B> {
    pub(crate) fn new(file: FileFd, buf: B, pos: u64, start: usize) -> WriteAt<B> {
        let start = start.min(buf.bytes_init());
        WriteAt {
            file,
            buf,
            pos,
            start,
        }
    }

    fn source(&self) -> (*const u8, usize) {
        // SAFETY: `start <= bytes_init`, within the buffer.
        let ptr = unsafe { self.buf.stable_ptr().add(self.start) };
        (ptr, max_len(self.buf.bytes_init() - self.start))
    }
}

impl<B: IoBuf> Operation for WriteAt<B> {
    type Output = (io::Result<usize>, B);

    const OPCODE: u8 = opcode::Write::CODE;

    fn sqe(&mut self, _: &Features) -> squeue::Entry {
        let (ptr, len) = self.source();
        opcode::Write::new(types::Fd(self.file.raw()), ptr, len as u32)
            .offset(self.pos)
            .build()
    }

    fn readiness(&self) -> Readiness {
        readiness(&self.file)
    }

    fn attempt(&mut self) -> i32 {
        let (ptr, len) = self.source();
        // SAFETY: `len` initialized bytes from `ptr`, inside the buffer.
        let n = unsafe { libc::pwrite(self.file.raw(), ptr.cast(), len, self.pos as i64) };
        syscall_result(n as i64)
    }

    fn complete(self, result: io::Result<Completion>) -> Self::Output {
        match result.and_then(|c| c.io_result()) {
            Ok(n) => (Ok(n as usize), self.buf),
            Err(e) => {
                let (ptr, len) = self.source();
                let e = self
                    .file
                    .rw_error(e, "write", &[(ptr as usize, len)], self.pos);
                (Err(e), self.buf)
            }
        }
    }
}

/// The iovec array of a vectored operation, pointing into the buffers it sits beside.
struct IoVecs(Vec<libc::iovec>);

// SAFETY: the pointers refer to the buffers stored next to the array in the same
// operation, which moves between threads as a whole.
unsafe impl Send for IoVecs {}

impl IoVecs {
    /// Each segment's address and length, for an error message.
    fn segments(&self) -> Vec<(usize, usize)> {
        self.0
            .iter()
            .map(|v| (v.iov_base as usize, v.iov_len))
            .collect()
    }
}

/// `preadv(2)` into owned buffers, each from its start up to its capacity; each then
/// holds what was read into it (see `crate::buf`).
pub(crate) struct ReadvAt<B> {
    file: FileFd,
    bufs: Vec<B>,
    iovecs: IoVecs,
    pos: u64,
}

impl<B: IoBufMut> ReadvAt<B> {
    pub(crate) fn new(file: FileFd, mut bufs: Vec<B>, pos: u64) -> ReadvAt<B> {
        let iovecs = bufs
            .iter_mut()
            .map(|b| libc::iovec {
                iov_base: b.stable_mut_ptr().cast(),
                iov_len: b.bytes_total(),
            })
            .collect();
        ReadvAt {
            file,
            bufs,
            iovecs: IoVecs(iovecs),
            pos,
        }
    }
}

impl<B: IoBufMut> Operation for ReadvAt<B> {
    type Output = (io::Result<usize>, Vec<B>);

    const OPCODE: u8 = opcode::Readv::CODE;

    fn sqe(&mut self, _: &Features) -> squeue::Entry {
        let iov = &self.iovecs.0;
        opcode::Readv::new(types::Fd(self.file.raw()), iov.as_ptr(), iov.len() as u32)
            .offset(self.pos)
            .build()
    }

    fn readiness(&self) -> Readiness {
        readiness(&self.file)
    }

    fn attempt(&mut self) -> i32 {
        let iov = &self.iovecs.0;
        // SAFETY: each iovec points at its buffer's writable bytes, which nothing else
        // uses while the operation holds them.
        let n = unsafe {
            libc::preadv(
                self.file.raw(),
                iov.as_ptr(),
                iov.len() as libc::c_int,
                self.pos as i64,
            )
        };
        syscall_result(n as i64)
    }

    fn complete(mut self, result: io::Result<Completion>) -> Self::Output {
        match result.and_then(|c| c.io_result()) {
            Ok(n) => {
                let mut left = n as usize;
                for buf in &mut self.bufs {
                    let k = left.min(buf.bytes_total());
                    // SAFETY: the kernel fills the segments in order: `k` bytes of this one.
                    unsafe { buf.set_init(k) };
                    left -= k;
                }
                (Ok(n as usize), self.bufs)
            }
            Err(e) => {
                let e = self
                    .file
                    .rw_error(e, "read", &self.iovecs.segments(), self.pos);
                (Err(e), self.bufs)
            }
        }
    }
}

/// `pwritev(2)` of owned buffers' initialized bytes.
pub(crate) struct WritevAt<B> {
    file: FileFd,
    bufs: Vec<B>,
    iovecs: IoVecs,
    pos: u64,
}

impl<B: IoBuf> WritevAt<B> {
    pub(crate) fn new(file: FileFd, bufs: Vec<B>, pos: u64) -> WritevAt<B> {
        let iovecs = bufs
            .iter()
            .map(|b| libc::iovec {
                iov_base: b.stable_ptr().cast_mut().cast(),
                iov_len: b.bytes_init(),
            })
            .collect();
        WritevAt {
            file,
            bufs,
            iovecs: IoVecs(iovecs),
            pos,
        }
    }
}

impl<B: IoBuf> Operation for WritevAt<B> {
    type Output = (io::Result<usize>, Vec<B>);

    const OPCODE: u8 = opcode::Writev::CODE;

    fn sqe(&mut self, _: &Features) -> squeue::Entry {
        let iov = &self.iovecs.0;
        opcode::Writev::new(types::Fd(self.file.raw()), iov.as_ptr(), iov.len() as u32)
            .offset(self.pos)
            .build()
    }

    fn readiness(&self) -> Readiness {
        readiness(&self.file)
    }

    fn attempt(&mut self) -> i32 {
        let iov = &self.iovecs.0;
        // SAFETY: each iovec points at its buffer's initialized bytes.
        let n = unsafe {
            libc::pwritev(
                self.file.raw(),
                iov.as_ptr(),
                iov.len() as libc::c_int,
                self.pos as i64,
            )
        };
        syscall_result(n as i64)
    }

    fn complete(self, result: io::Result<Completion>) -> Self::Output {
        match result.and_then(|c| c.io_result()) {
            Ok(n) => (Ok(n as usize), self.bufs),
            Err(e) => {
                let e = self
                    .file
                    .rw_error(e, "write", &self.iovecs.segments(), self.pos);
                (Err(e), self.bufs)
            }
        }
    }
}

/// The result of an operation whose count means nothing: success, or the error with
/// what failed.
fn done(file: &FileFd, result: io::Result<Completion>, op: &str) -> io::Result<()> {
    result
        .and_then(|c| c.io_result())
        .map(drop)
        .map_err(|e| file.error(e, op))
}

/// `fsync(2)`, or `fdatasync(2)` with `data_only`.
pub(crate) struct Fsync {
    file: FileFd,
    data_only: bool,
}

impl Fsync {
    pub(crate) fn new(file: FileFd, data_only: bool) -> Fsync {
        Fsync { file, data_only }
    }
}

impl Operation for Fsync {
    type Output = io::Result<()>;

    const OPCODE: u8 = opcode::Fsync::CODE;

    fn sqe(&mut self, _: &Features) -> squeue::Entry {
        let flags = if self.data_only {
            types::FsyncFlags::DATASYNC
        } else {
            types::FsyncFlags::empty()
        };
        opcode::Fsync::new(types::Fd(self.file.raw()))
            .flags(flags)
            .build()
    }

    fn readiness(&self) -> Readiness {
        readiness(&self.file)
    }

    fn attempt(&mut self) -> i32 {
        // SAFETY: no pointers.
        let rc = unsafe {
            if self.data_only {
                libc::fdatasync(self.file.raw())
            } else {
                libc::fsync(self.file.raw())
            }
        };
        syscall_result(rc.into())
    }

    fn complete(self, result: io::Result<Completion>) -> io::Result<()> {
        let op = if self.data_only {
            "sync_data"
        } else {
            "sync_all"
        };
        done(&self.file, result, op)
    }
}

/// `fallocate(2)` with mode 0: `len` bytes from `offset` allocated, the size grown to
/// cover them.
pub(crate) struct Fallocate {
    file: FileFd,
    offset: u64,
    len: u64,
}

impl Fallocate {
    pub(crate) fn new(file: FileFd, offset: u64, len: u64) -> Fallocate {
        Fallocate { file, offset, len }
    }
}

impl Operation for Fallocate {
    type Output = io::Result<()>;

    const OPCODE: u8 = opcode::Fallocate::CODE;

    fn sqe(&mut self, _: &Features) -> squeue::Entry {
        opcode::Fallocate::new(types::Fd(self.file.raw()), self.len)
            .offset(self.offset)
            .build()
    }

    fn readiness(&self) -> Readiness {
        readiness(&self.file)
    }

    fn attempt(&mut self) -> i32 {
        let (Ok(offset), Ok(len)) = (i64::try_from(self.offset), i64::try_from(self.len)) else {
            return -libc::EFBIG;
        };
        // SAFETY: no pointers.
        let rc = unsafe { libc::fallocate(self.file.raw(), 0, offset, len) };
        syscall_result(rc.into())
    }

    fn complete(self, result: io::Result<Completion>) -> io::Result<()> {
        done(&self.file, result, "allocate")
    }
}

/// `ftruncate(2)`: the file's size set to `len` (a ring does it from 6.9 on).
pub(crate) struct Ftruncate {
    file: FileFd,
    len: u64,
}

impl Ftruncate {
    pub(crate) fn new(file: FileFd, len: u64) -> Ftruncate {
        Ftruncate { file, len }
    }
}

impl Operation for Ftruncate {
    type Output = io::Result<()>;

    const OPCODE: u8 = opcode::Ftruncate::CODE;

    fn sqe(&mut self, _: &Features) -> squeue::Entry {
        opcode::Ftruncate::new(types::Fd(self.file.raw()), self.len).build()
    }

    fn readiness(&self) -> Readiness {
        readiness(&self.file)
    }

    fn attempt(&mut self) -> i32 {
        let Ok(len) = i64::try_from(self.len) else {
            return -libc::EFBIG;
        };
        // SAFETY: no pointers.
        let rc = unsafe { libc::ftruncate(self.file.raw(), len) };
        syscall_result(rc.into())
    }

    fn complete(self, result: io::Result<Completion>) -> io::Result<()> {
        done(&self.file, result, "set_len")
    }
}

/// `close(2)` of a descriptor nothing else uses any more.
pub(crate) struct Close {
    fd: libc::c_int,
    /// For the error message.
    name: String,
    /// The descriptor went to the kernel to be closed (in an entry, or a call): if not,
    /// dropping the operation closes it.
    handed_over: bool,
}

impl Close {
    /// Closes `fd`, called `name` in an error.
    pub(crate) fn new(fd: libc::c_int, name: String) -> Close {
        Close {
            fd,
            name,
            handed_over: false,
        }
    }
}

impl Operation for Close {
    type Output = io::Result<()>;

    const OPCODE: u8 = opcode::Close::CODE;

    fn sqe(&mut self, _: &Features) -> squeue::Entry {
        self.handed_over = true;
        opcode::Close::new(types::Fd(self.fd)).build()
    }

    fn readiness(&self) -> Readiness {
        no_readiness(self.fd, 0)
    }

    fn attempt(&mut self) -> i32 {
        if self.handed_over {
            return -libc::EBADF;
        }
        self.handed_over = true;
        // SAFETY: the operation owns the descriptor and gives it up, once (above).
        let rc = unsafe { libc::close(self.fd) };
        syscall_result(rc.into())
    }

    fn complete(self, result: io::Result<Completion>) -> io::Result<()> {
        result
            .and_then(|c| c.io_result())
            .map(drop)
            .map_err(|e| annotate(e, format!("close {}", self.name)))
    }
}

impl Drop for Close {
    fn drop(&mut self) {
        if !self.handed_over {
            // SAFETY: the operation owns the descriptor and never gave it up.
            unsafe { libc::close(self.fd) };
        }
    }
}
