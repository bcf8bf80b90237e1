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

/// The part of a positional read or write that does not depend on its direction.
struct Positional {
    file: FileFd,
    pos: u64,
    write: bool,
}

impl Positional {
    fn sqe(&self, ptr: *mut u8, len: usize) -> squeue::Entry {
        let fd = types::Fd(self.file.raw());
        if self.write {
            opcode::Write::new(fd, ptr, len as u32)
                .offset(self.pos)
                .build()
        } else {
            opcode::Read::new(fd, ptr, len as u32)
                .offset(self.pos)
                .build()
        }
    }

    /// # Safety
    ///
    /// `len` bytes from `ptr` must be the operation's own buffer: writable for a read,
    /// initialized for a write.
    unsafe fn call(&self, ptr: *mut u8, len: usize) -> i32 {
        let (fd, pos) = (self.file.raw(), self.pos as i64);
        // SAFETY: the caller vouches for the memory.
        let n = unsafe {
            if self.write {
                libc::pwrite(fd, ptr.cast(), len, pos)
            } else {
                libc::pread(fd, ptr.cast(), len, pos)
            }
        };
        syscall_result(n as i64)
    }

    /// The count of a completion, or its error with what failed.
    fn result(
        &self,
        result: io::Result<Completion>,
        ptr: *mut u8,
        len: usize,
    ) -> io::Result<usize> {
        result
            .and_then(|c| c.io_result())
            .map(|n| n as usize)
            .map_err(|e| {
                let op = if self.write { "write" } else { "read" };
                self.file.rw_error(e, op, &[(ptr as usize, len)], self.pos)
            })
    }
}

/// `pread(2)` into an owned buffer from index `start` up to its capacity. The buffer
/// then holds its first `start` bytes and what was read after them (see `crate::buf`).
pub(crate) struct ReadAt<B> {
    call: Positional,
    buf: B,
    start: usize,
}

impl<B: IoBufMut> ReadAt<B> {
    pub(crate) fn new(file: FileFd, buf: B, pos: u64, start: usize) -> ReadAt<B> {
        let start = start.min(buf.bytes_total());
        let call = Positional {
            file,
            pos,
            write: false,
        };
        ReadAt { call, buf, start }
    }

    /// Where the read goes: after the first `start` bytes, up to the capacity.
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
        self.call.sqe(ptr, len)
    }

    fn readiness(&self) -> Readiness {
        readiness(&self.call.file)
    }

    fn submit_at_once(&self) -> bool {
        // The device gets each request as soon as it is made (see `Operation`).
        self.call.file.direct()
    }

    fn attempt(&mut self) -> i32 {
        let (ptr, len) = self.target();
        // SAFETY: the buffer is writable for `len` bytes from `ptr`, and nothing else
        // uses it while the operation holds it.
        unsafe { self.call.call(ptr, len) }
    }

    fn complete(mut self, result: io::Result<Completion>) -> Self::Output {
        let (ptr, len) = self.target();
        let result = self.call.result(result, ptr, len);
        if let Ok(n) = result {
            // SAFETY: the kernel wrote `n` bytes from `start`, after the `start` bytes
            // the buffer already held.
            unsafe { self.buf.set_init(self.start + n) };
        }
        (result, self.buf)
    }
}

/// `pwrite(2)` of an owned buffer's initialized bytes from index `start`.
pub(crate) struct WriteAt<B> {
    call: Positional,
    buf: B,
    start: usize,
}

impl<B: IoBuf> WriteAt<B> {
    pub(crate) fn new(file: FileFd, buf: B, pos: u64, start: usize) -> WriteAt<B> {
        let start = start.min(buf.bytes_init());
        let call = Positional {
            file,
            pos,
            write: true,
        };
        WriteAt { call, buf, start }
    }

    /// What the write sends: the initialized bytes after the first `start`.
    fn source(&self) -> (*mut u8, usize) {
        // SAFETY: `start <= bytes_init`, within the buffer.
        let ptr = unsafe { self.buf.stable_ptr().add(self.start) };
        (ptr.cast_mut(), max_len(self.buf.bytes_init() - self.start))
    }
}

impl<B: IoBuf> Operation for WriteAt<B> {
    type Output = (io::Result<usize>, B);

    const OPCODE: u8 = opcode::Write::CODE;

    fn sqe(&mut self, _: &Features) -> squeue::Entry {
        let (ptr, len) = self.source();
        self.call.sqe(ptr, len)
    }

    fn readiness(&self) -> Readiness {
        readiness(&self.call.file)
    }

    fn submit_at_once(&self) -> bool {
        // The device gets each request as soon as it is made (see `Operation`).
        self.call.file.direct()
    }

    fn attempt(&mut self) -> i32 {
        let (ptr, len) = self.source();
        // SAFETY: `len` initialized bytes from `ptr`, inside the buffer; a write only
        // reads them.
        unsafe { self.call.call(ptr, len) }
    }

    fn complete(self, result: io::Result<Completion>) -> Self::Output {
        let (ptr, len) = self.source();
        (self.call.result(result, ptr, len), self.buf)
    }
}

/// The part of a vectored read or write that does not depend on its direction: the
/// file, the offset, and the iovec array pointing into the buffers it sits beside.
struct Vectored {
    file: FileFd,
    iovecs: Vec<libc::iovec>,
    pos: u64,
    write: bool,
}

// SAFETY: the pointers refer to the buffers stored next to the array in the same
// operation, which moves between threads as a whole.
unsafe impl Send for Vectored {}

impl Vectored {
    fn sqe(&self) -> squeue::Entry {
        let (fd, iov, n) = (
            types::Fd(self.file.raw()),
            self.iovecs.as_ptr(),
            self.iovecs.len(),
        );
        if self.write {
            opcode::Writev::new(fd, iov, n as u32)
                .offset(self.pos)
                .build()
        } else {
            opcode::Readv::new(fd, iov, n as u32)
                .offset(self.pos)
                .build()
        }
    }

    fn call(&self) -> i32 {
        let (fd, iov, n) = (self.file.raw(), self.iovecs.as_ptr(), self.iovecs.len());
        // SAFETY: each iovec points at its buffer's writable bytes (a read) or
        // initialized bytes (a write), which nothing else uses while the operation
        // holds them.
        let rc = unsafe {
            if self.write {
                libc::pwritev(fd, iov, n as libc::c_int, self.pos as i64)
            } else {
                libc::preadv(fd, iov, n as libc::c_int, self.pos as i64)
            }
        };
        syscall_result(rc as i64)
    }

    /// The count of a completion, or its error with what failed.
    fn result(&self, result: io::Result<Completion>) -> io::Result<usize> {
        result
            .and_then(|c| c.io_result())
            .map(|n| n as usize)
            .map_err(|e| {
                let segments: Vec<(usize, usize)> = self
                    .iovecs
                    .iter()
                    .map(|v| (v.iov_base as usize, v.iov_len))
                    .collect();
                let op = if self.write { "write" } else { "read" };
                self.file.rw_error(e, op, &segments, self.pos)
            })
    }
}

/// `preadv(2)` into owned buffers, each from its start up to its capacity; each then
/// holds what was read into it (see `crate::buf`).
pub(crate) struct ReadvAt<B> {
    call: Vectored,
    bufs: Vec<B>,
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
        let call = Vectored {
            file,
            iovecs,
            pos,
            write: false,
        };
        ReadvAt { call, bufs }
    }
}

impl<B: IoBufMut> Operation for ReadvAt<B> {
    type Output = (io::Result<usize>, Vec<B>);

    const OPCODE: u8 = opcode::Readv::CODE;

    fn sqe(&mut self, _: &Features) -> squeue::Entry {
        self.call.sqe()
    }

    fn readiness(&self) -> Readiness {
        readiness(&self.call.file)
    }

    fn submit_at_once(&self) -> bool {
        // The device gets each request as soon as it is made (see `Operation`).
        self.call.file.direct()
    }

    fn attempt(&mut self) -> i32 {
        self.call.call()
    }

    fn complete(mut self, result: io::Result<Completion>) -> Self::Output {
        let result = self.call.result(result);
        if let Ok(n) = result {
            let mut left = n;
            for buf in &mut self.bufs {
                let k = left.min(buf.bytes_total());
                // SAFETY: the kernel fills the segments in order: `k` bytes of this one.
                unsafe { buf.set_init(k) };
                left -= k;
            }
        }
        (result, self.bufs)
    }
}

/// `pwritev(2)` of owned buffers' initialized bytes.
pub(crate) struct WritevAt<B> {
    call: Vectored,
    bufs: Vec<B>,
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
        let call = Vectored {
            file,
            iovecs,
            pos,
            write: true,
        };
        WritevAt { call, bufs }
    }
}

impl<B: IoBuf> Operation for WritevAt<B> {
    type Output = (io::Result<usize>, Vec<B>);

    const OPCODE: u8 = opcode::Writev::CODE;

    fn sqe(&mut self, _: &Features) -> squeue::Entry {
        self.call.sqe()
    }

    fn readiness(&self) -> Readiness {
        readiness(&self.call.file)
    }

    fn submit_at_once(&self) -> bool {
        // The device gets each request as soon as it is made (see `Operation`).
        self.call.file.direct()
    }

    fn attempt(&mut self) -> i32 {
        self.call.call()
    }

    fn complete(self, result: io::Result<Completion>) -> Self::Output {
        (self.call.result(result), self.bufs)
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
