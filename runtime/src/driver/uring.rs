//! The io_uring driver: one ring per worker, its setup, feature probing, parking and
//! draining.
//!
//! A parked worker sits in `io_uring_enter` waiting for one completion, with its nearest
//! timer deadline as the wait's timeout (`IORING_ENTER_EXT_ARG` where the kernel has it,
//! else one `IORING_OP_TIMEOUT` in the ring). A read of the worker's eventfd is kept armed
//! in the ring so that a write to the eventfd, from any thread, completes it and ends the
//! wait.
//!
//! # Ownership of memory the kernel writes
//!
//! The ring's own buffer is the 8-byte eventfd read target, allocated once per ring and
//! freed only after the read's completion has been reaped (see [`Ring`]'s `Drop`). If
//! the completion never comes the buffer is leaked, never freed under the kernel.
//!
//! Socket operations own their memory through their [`OpRef`]s: the ring holds a
//! reference to each operation it submitted until it reaps the completion, and the
//! operations in flight are listed in a table so that dropping the ring can cancel them
//! and wait for them.
//!
//! # Operations the kernel lacks
//!
//! The opcodes are probed once, when the ring is built (`IORING_REGISTER_PROBE`). An
//! operation whose opcode the kernel lacks runs as a readiness wait instead: the ring
//! tries its system call without blocking, and when that finds the descriptor not ready,
//! arms a `POLL_ADD` for it and tries again when the poll completes. Such a poll's
//! `user_data` is the operation's address with [`READINESS_TAG`] set, so that its
//! completion is told apart and its cancellation finds it.

use std::io;
use std::os::fd::RawFd;
use std::task::Waker;
use std::time::{Duration, Instant};

use io_uring::{opcode, squeue, types, IoUring, Probe};

use super::buf_ring::{BufRing, RecvBufferConfig};
use super::counts::IoCounts;
use super::multishot::Shot;
use super::op::{Completion, OpRef};
use super::op_table::OpTable;
use crate::error::SetupError;

/// `user_data` of the eventfd read.
const EVENTFD_TOKEN: u64 = u64::MAX;
/// `user_data` of the fallback wait timeouts (kernels without `EXT_ARG`): this prefix
/// plus a generation in the low 32 bits, so that each one can be removed by name.
const TIMEOUT_BASE: u64 = 0xFFFF_FFFE_0000_0000;
const TIMEOUT_MASK: u64 = 0xFFFF_FFFF_0000_0000;
/// `user_data` of requests whose completion only needs counting (timeout removal,
/// cancellation, closing a descriptor). Every other `user_data` is an operation's address,
/// with [`READINESS_TAG`] set for a readiness wait.
const INTERNAL_TOKEN: u64 = u64::MAX - 2;
/// Set in the `user_data` of a `POLL_ADD` that waits for an operation's descriptor on
/// behalf of an opcode the kernel lacks. Operation addresses are aligned, so their lowest
/// bit is free.
const READINESS_TAG: u64 = 1;

/// Opcodes the ring must have; every other one falls back to readiness waits.
const REQUIRED: [(u8, &str); 2] = [
    (opcode::PollAdd::CODE, "IORING_OP_POLL_ADD"),
    (opcode::AsyncCancel::CODE, "IORING_OP_ASYNC_CANCEL"),
];

/// The opcodes of ringtide's operations that can fall back to readiness waits, by the
/// name `RINGTIDE_IO_URING_WITHOUT` takes.
const FALLIBLE: [(u8, &str); 7] = [
    (opcode::Accept::CODE, "accept"),
    (opcode::Connect::CODE, "connect"),
    (opcode::Recv::CODE, "recv"),
    (opcode::Send::CODE, "send"),
    (opcode::RecvMsg::CODE, "recvmsg"),
    (opcode::SendMsg::CODE, "sendmsg"),
    (opcode::Close::CODE, "close"),
];

/// The opcodes of the file operations (see `crate::fs`), by the name
/// `RINGTIDE_IO_URING_WITHOUT` takes. The `fs` layer hands one of these to a ring only
/// where the ring has it, and runs it on the blocking pool otherwise: a file is always
/// "ready", so a readiness wait cannot make it asynchronous.
const FILE_OPCODES: [(u8, &str); 14] = [
    (opcode::OpenAt::CODE, "openat"),
    (opcode::Read::CODE, "read"),
    (opcode::Write::CODE, "write"),
    (opcode::Readv::CODE, "readv"),
    (opcode::Writev::CODE, "writev"),
    (opcode::Fsync::CODE, "fsync"),
    (opcode::Fallocate::CODE, "fallocate"),
    (opcode::Ftruncate::CODE, "ftruncate"),
    (opcode::Statx::CODE, "statx"),
    (opcode::UnlinkAt::CODE, "unlinkat"),
    (opcode::MkDirAt::CODE, "mkdirat"),
    (opcode::RenameAt::CODE, "renameat"),
    (opcode::LinkAt::CODE, "linkat"),
    (opcode::SymlinkAt::CODE, "symlinkat"),
];

/// What the kernel offers, probed once when the ring is built.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Features {
    /// `io_uring_enter` takes a timeout (5.11+).
    pub(crate) ext_arg: bool,
    /// `IORING_OP_READ` (5.6+); otherwise the eventfd is watched with `POLL_ADD`.
    pub(crate) read: bool,
    /// `IORING_RECVSEND_POLL_FIRST` (5.19+; assumed where `DEFER_TASKRUN`, 6.1+, is).
    pub(crate) poll_first: bool,
    /// Setup flags that were accepted; shown by `Runtime`'s `Debug` output.
    pub(crate) setup: &'static str,
    /// Bit `n` set: the kernel has opcode `n` (opcodes past 63 are never used).
    pub(crate) opcodes: u64,
    /// Multishot receive into this ring's provided buffers (6.0+, with the buffer ring
    /// registered).
    pub(crate) recv_multishot: bool,
    /// Multishot accept (5.19+).
    pub(crate) accept_multishot: bool,
}

impl Features {
    fn supports(&self, opcode: u8) -> bool {
        supports(self.opcodes, opcode)
    }
}

/// Whether the opcode set `opcodes` (as in [`Features::opcodes`]) has `opcode`.
pub(crate) fn supports(opcodes: u64, opcode: u8) -> bool {
    opcode < 64 && opcodes & (1 << opcode) != 0
}

/// One worker's ring.
pub(crate) struct Ring {
    ring: IoUring,
    features: Features,
    eventfd: RawFd,
    /// Target of the eventfd read; owned by the kernel while `eventfd_armed`.
    eventfd_buf: *mut u64,
    eventfd_armed: bool,
    /// The fallback timeout, read by the kernel when the SQE is submitted.
    timeout_spec: Box<types::Timespec>,
    /// The fallback timeout the next park replaces (it is removed first).
    armed_timeout: Option<u64>,
    /// Generation of the last fallback timeout.
    timeout_generation: u32,
    /// Requests submitted and not yet completed.
    in_flight: usize,
    /// Longest single wait in the kernel (see [`super::longest_wait`]).
    max_wait: Option<Duration>,
    /// The operations among them, by slot.
    ops: OpTable,
    /// Wakers of operations that completed, for the worker to wake once the driver is
    /// no longer borrowed (a woken future may submit or cancel operations).
    woken: Vec<Waker>,
    counts: IoCounts,
    /// The provided buffers of multishot receives (where `features.recv_multishot`).
    bufs: Option<BufRing>,
}

/// Checks that this process can use io_uring as ringtide needs it: a ring of `entries`
/// can be set up and has the opcodes ringtide cannot do without. Returns what the kernel
/// offers. The error names the cause and what to do.
pub(crate) fn probe(entries: u32) -> io::Result<Features> {
    let (ring, setup) = build_ring(entries)?;
    let mut features = probe_features(&ring, setup)?;
    if features.recv_multishot {
        // Buffer rings (5.19) registered as the workers' rings will register them.
        let config = RecvBufferConfig {
            initial: 1,
            max: 1,
            ..RecvBufferConfig::default()
        };
        match BufRing::register(&ring.submitter(), &config) {
            Ok(bufs) => bufs.unregister(&ring.submitter()),
            Err(_) => features.recv_multishot = false,
        }
    }
    Ok(features)
}

/// What the kernel offers this ring; an error if it lacks what ringtide needs.
fn probe_features(ring: &IoUring, setup: &'static str) -> io::Result<Features> {
    let without = without_opcodes();
    let ext_arg = ring.params().is_feature_ext_arg() && !without.iter().any(|w| w == "ext_arg");
    let mut probe = Probe::new();
    // IORING_REGISTER_PROBE arrived in 5.6, with IORING_OP_READ and everything else
    // ringtide submits to a ring.
    if ring.submitter().register_probe(&mut probe).is_err() {
        return Err(SetupError::missing_opcode("IORING_REGISTER_PROBE"));
    }
    for (code, name) in REQUIRED {
        if !probe.is_supported(code) {
            return Err(SetupError::missing_opcode(name));
        }
    }
    if !ext_arg && !probe.is_supported(opcode::Timeout::CODE) {
        return Err(SetupError::missing_opcode("IORING_OP_TIMEOUT"));
    }
    let mut opcodes = 0u64;
    for code in 0..64u8 {
        if probe.is_supported(code) {
            opcodes |= 1 << code;
        }
    }
    for name in &without {
        let mut known = FALLIBLE.iter().chain(FILE_OPCODES.iter());
        if let Some((code, _)) = known.find(|(_, n)| n == name) {
            opcodes &= !(1 << code);
        }
    }
    let without = |name: &str| without.iter().any(|w| w == name);
    // The probe lists opcodes, not their flags: the multishot variants are known by an
    // opcode of the same release (SEND_ZC came with multishot receive in 6.0, SOCKET
    // with multishot accept in 5.19). The receive also needs the ring's buffer ring,
    // whose registration is checked when it is set up.
    Ok(Features {
        ext_arg,
        read: probe.is_supported(opcode::Read::CODE),
        poll_first: setup == DEFER_TASKRUN_SETUP,
        setup,
        opcodes,
        recv_multishot: supports(opcodes, opcode::Recv::CODE)
            && probe.is_supported(opcode::SendZc::CODE)
            && !without("recv_multishot"),
        accept_multishot: supports(opcodes, opcode::Accept::CODE)
            && probe.is_supported(opcode::Socket::CODE)
            && !without("accept_multishot"),
    })
}

/// What `RINGTIDE_IO_URING_WITHOUT` (a comma-separated list) asks the ring to do without,
/// as on an older kernel, so that those paths are exercised on a kernel that has it all:
/// the operations `accept`, `connect`, `recv`, `send`, `recvmsg`, `sendmsg` and `close`
/// then run as readiness waits, the file operations of [`FILE_OPCODES`] (`openat`,
/// `read`, `statx`, ...) on the blocking pool, and `ext_arg` makes a parked worker's
/// timeout a `TIMEOUT` request (replaced on every park) as before 5.11.
/// `recv_multishot` and `accept_multishot` turn the multishot variants off (receive
/// streams then take one-shot receives into pooled buffers, `incoming` loops `accept`),
/// as before 6.0 and 5.19.
fn without_opcodes() -> Vec<String> {
    std::env::var("RINGTIDE_IO_URING_WITHOUT")
        .map(|v| {
            v.split(',')
                .map(|s| s.trim().to_ascii_lowercase())
                .collect()
        })
        .unwrap_or_default()
}

impl Ring {
    /// Builds a ring of `entries` submission entries that watches `eventfd`.
    ///
    /// Must run on the worker thread that will use the ring: with
    /// `IORING_SETUP_SINGLE_ISSUER` the creating thread is the only one allowed to submit.
    pub(crate) fn new(
        entries: u32,
        eventfd: RawFd,
        recv_buffers: &RecvBufferConfig,
    ) -> io::Result<Ring> {
        let (ring, setup) = build_ring(entries)?;
        let mut features = probe_features(&ring, setup)?;
        let bufs = if features.recv_multishot {
            BufRing::register(&ring.submitter(), recv_buffers).ok()
        } else {
            None
        };
        features.recv_multishot = bufs.is_some();
        Ok(Ring {
            bufs,
            ring,
            features,
            eventfd,
            eventfd_buf: Box::into_raw(Box::new(0u64)),
            eventfd_armed: false,
            timeout_spec: Box::new(types::Timespec::new()),
            armed_timeout: None,
            timeout_generation: 0,
            in_flight: 0,
            max_wait: super::longest_wait(),
            ops: OpTable::new(),
            woken: Vec::new(),
            counts: IoCounts::default(),
        })
    }

    pub(crate) fn features(&self) -> Features {
        self.features
    }

    /// What this ring has counted since it was built.
    pub(crate) fn counts(&self) -> IoCounts {
        self.counts
    }

    /// Submits what is queued and reaps what has completed, without blocking. Makes no
    /// syscall when nothing is queued and the kernel has no deferred completions to post
    /// (with `DEFER_TASKRUN` they are posted only inside `io_uring_enter`; the kernel
    /// raises the `TASKRUN` flag when it has some).
    pub(crate) fn poll(&mut self) -> io::Result<()> {
        let mut sq = self.ring.submission();
        sq.sync();
        let needs_enter = !sq.is_empty() || (!self.ops.is_empty() && sq.taskrun());
        drop(sq);
        if needs_enter {
            self.enter_getevents()?;
        }
        self.reap();
        Ok(())
    }

    /// Takes the completions already in the completion queue, with no system call
    /// (unless the queue overflowed, which only a call can flush).
    pub(crate) fn reap_ready(&mut self) {
        self.reap();
    }

    /// Wakers of operations completed since the last call.
    pub(crate) fn take_woken(&mut self, into: &mut Vec<Waker>) {
        into.append(&mut self.woken);
    }

    /// Puts an operation in the submission queue (submitted at the next poll or park).
    pub(crate) fn submit(&mut self, op: OpRef) -> io::Result<()> {
        if !self.features.supports(op.opcode()) || !op.runs_on(&self.features) {
            return self.submit_by_readiness(op);
        }
        // SAFETY: each operation is submitted once, here, on the ring's thread.
        let sqe = unsafe { op.sqe(&self.features) };
        op.set_slot(self.ops.insert(op.user_data()));
        let at_once = op.submit_at_once();
        let sqe = sqe.user_data(op.into_raw());
        // SAFETY: the ring now holds a reference to the operation, which owns every
        // buffer the entry points at, until the completion is reaped.
        unsafe { self.push(&sqe)? };
        if at_once {
            // Hands over what is queued, without waiting for completions.
            self.enter(0)?;
        }
        Ok(())
    }

    /// Runs an operation whose opcode the kernel lacks: tries it now, and waits for its
    /// descriptor's readiness if that finds it not ready.
    fn submit_by_readiness(&mut self, op: OpRef) -> io::Result<()> {
        self.counts.syscall();
        // SAFETY: the operation was just handed to this ring, on the ring's thread.
        let result = unsafe { op.attempt() };
        if result == -libc::EAGAIN {
            op.set_slot(self.ops.insert(op.user_data() | READINESS_TAG));
            return self.arm_readiness(op);
        }
        if let Some(waker) = op.complete(Completion { result, flags: 0 }) {
            self.woken.push(waker);
        }
        Ok(())
    }

    /// Arms a one-shot poll for the descriptor `op` waits on; the ring keeps `op`'s
    /// reference until it completes.
    fn arm_readiness(&mut self, op: OpRef) -> io::Result<()> {
        // SAFETY: the operation is with this ring and not completed.
        let readiness = unsafe { op.readiness() };
        let events = readiness.interest.poll_events();
        let sqe = opcode::PollAdd::new(types::Fd(readiness.fd), events as u32)
            .build()
            .user_data(op.into_raw() | READINESS_TAG);
        // SAFETY: a poll refers to no memory; the operation's reference, which keeps its
        // descriptor open, is the ring's until the completion.
        unsafe { self.push(&sqe) }
    }

    /// Asks the kernel to cancel an operation of this ring, if it is still in flight
    /// (as itself, or as a readiness wait).
    pub(crate) fn cancel(&mut self, op: &OpRef) -> io::Result<()> {
        if op.is_completed() {
            return Ok(());
        }
        for user_data in [op.user_data(), op.user_data() | READINESS_TAG] {
            if self.ops.contains(op.slot(), user_data) {
                return self.push_cancel(user_data);
            }
        }
        Ok(())
    }

    fn push_cancel(&mut self, user_data: u64) -> io::Result<()> {
        let sqe = opcode::AsyncCancel::new(user_data)
            .build()
            .user_data(INTERNAL_TOKEN);
        // SAFETY: a cancellation refers to no memory.
        unsafe { self.push(&sqe) }
    }

    /// Closes a descriptor through the ring.
    pub(crate) fn close(&mut self, fd: RawFd) -> io::Result<()> {
        if !self.features.supports(opcode::Close::CODE) {
            self.counts.syscall();
            // SAFETY: the caller gives up the descriptor.
            unsafe { libc::close(fd) };
            return Ok(());
        }
        let sqe = opcode::Close::new(types::Fd(fd))
            .build()
            .user_data(INTERNAL_TOKEN);
        // SAFETY: a close refers to no memory; the caller gives up the descriptor.
        unsafe { self.push(&sqe) }
    }

    /// Blocks until a completion arrives or `timeout` passes (`None`: no timeout).
    pub(crate) fn park(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.arm_eventfd()?;
        let timeout = match (timeout, self.max_wait) {
            (Some(t), Some(max)) => Some(t.min(max)),
            (t, max) => t.or(max),
        };
        match timeout {
            Some(d) if d.is_zero() => self.enter(0)?,
            Some(d) if self.features.ext_arg => {
                let ts = types::Timespec::from(d);
                let args = types::SubmitArgs::new().timespec(&ts);
                self.counts.enter();
                match self.ring.submitter().submit_with_args(1, &args) {
                    Ok(_) => {}
                    Err(e) if is_transient(&e) => {}
                    Err(e) => return Err(e),
                }
            }
            Some(d) => {
                self.arm_timeout(d)?;
                self.enter(1)?;
            }
            None => self.enter(1)?,
        }
        self.reap();
        Ok(())
    }

    /// `io_uring_enter` with `GETEVENTS` but no wait: submits, and has the kernel post
    /// deferred completions.
    fn enter_getevents(&mut self) -> io::Result<()> {
        let to_submit = self.ring.submission().len() as u32;
        self.counts.enter();
        // SAFETY: no argument pointer is passed.
        let result = unsafe {
            self.ring.submitter().enter::<libc::sigset_t>(
                to_submit,
                0,
                io_uring::EnterFlags::GETEVENTS.bits(),
                None,
            )
        };
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_transient(&e) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// `io_uring_enter` that tolerates interruption and a full completion queue.
    fn enter(&mut self, want: usize) -> io::Result<()> {
        self.counts.enter();
        match self.ring.submit_and_wait(want) {
            Ok(_) => Ok(()),
            Err(e) if is_transient(&e) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Pushes an SQE, submitting to make room when the submission queue is full.
    ///
    /// # Safety
    ///
    /// Every buffer and pointer the entry refers to must stay valid, and not be accessed
    /// in a way that conflicts with the kernel's use, until its completion is reaped.
    unsafe fn push(&mut self, sqe: &squeue::Entry) -> io::Result<()> {
        loop {
            // SAFETY: the caller guarantees the entry's buffers outlive its completion.
            if unsafe { self.ring.submission().push(sqe) }.is_ok() {
                self.in_flight += 1;
                self.counts.submitted += 1;
                return Ok(());
            }
            self.enter(0)?;
            self.reap();
        }
    }

    fn arm_eventfd(&mut self) -> io::Result<()> {
        if self.eventfd_armed {
            return Ok(());
        }
        let sqe = if self.features.read {
            opcode::Read::new(types::Fd(self.eventfd), self.eventfd_buf.cast::<u8>(), 8)
                .build()
                .user_data(EVENTFD_TOKEN)
        } else {
            opcode::PollAdd::new(types::Fd(self.eventfd), libc::POLLIN as u32)
                .build()
                .user_data(EVENTFD_TOKEN)
        };
        // SAFETY: `eventfd_buf` is a heap allocation owned by the driver that is freed only
        // after this read's completion has been reaped (see `Drop`), and nothing reads it
        // while `eventfd_armed` is set. The eventfd outlives the driver.
        unsafe { self.push(&sqe)? };
        self.eventfd_armed = true;
        Ok(())
    }

    fn arm_timeout(&mut self, timeout: Duration) -> io::Result<()> {
        if let Some(previous) = self.armed_timeout.take() {
            let remove = opcode::TimeoutRemove::new(previous)
                .build()
                .user_data(INTERNAL_TOKEN);
            // SAFETY: a timeout removal refers to no memory.
            unsafe { self.push(&remove)? };
        }
        self.timeout_generation = self.timeout_generation.wrapping_add(1);
        let token = TIMEOUT_BASE | u64::from(self.timeout_generation);
        *self.timeout_spec = types::Timespec::from(timeout);
        let sqe = opcode::Timeout::new(&*self.timeout_spec)
            .build()
            .user_data(token);
        // SAFETY: the kernel copies the timespec when it prepares the request, during the
        // `io_uring_enter` that submits it (the one that follows, or an earlier one if the
        // queue is full); the box lives as long as the driver and is only rewritten
        // before the next timeout is pushed, after this one was submitted.
        unsafe { self.push(&sqe)? };
        self.armed_timeout = Some(token);
        Ok(())
    }

    /// Processes every completion in the queue.
    fn reap(&mut self) {
        let mut rearm = Vec::new();
        // Receives that found the buffer ring empty in this pass: it grows once for all
        // of them, not once each.
        let mut ran_dry = false;
        // Multishot requests whose futures fell behind (see `multishot`): cancelled once
        // the queue is let go, as the submission queue cannot be touched while it is held.
        let mut behind = Vec::new();
        loop {
            let mut drained_any = false;
            let mut cq = self.ring.completion();
            for cqe in &mut cq {
                drained_any = true;
                self.in_flight -= 1;
                self.counts.completions += 1;
                match cqe.user_data() {
                    EVENTFD_TOKEN => {
                        self.eventfd_armed = false;
                        if !self.features.read {
                            clear_eventfd(self.eventfd);
                        }
                    }
                    INTERNAL_TOKEN => {}
                    token if token & TIMEOUT_MASK == TIMEOUT_BASE => {
                        if self.armed_timeout == Some(token) {
                            self.armed_timeout = None;
                        }
                    }
                    user_data => {
                        // SAFETY: every other `user_data` is the reference `submit` gave
                        // the ring (tagged for a readiness wait), taken back once, here.
                        let op = unsafe { OpRef::from_raw(user_data & !READINESS_TAG) };
                        if user_data & READINESS_TAG == 0 && op.is_multishot() {
                            let (result, flags) = (cqe.result(), cqe.flags());
                            let more = io_uring::cqueue::more(flags);
                            let buf = io_uring::cqueue::buffer_select(flags).and_then(|bid| {
                                let bufs = self.bufs.as_ref()?;
                                Some(bufs.take(bid, result.max(0) as u32))
                            });
                            if result == -libc::ENOBUFS {
                                ran_dry = true;
                                if let Some(bufs) = &self.bufs {
                                    bufs.count_enobufs();
                                }
                            }
                            if more {
                                // Still armed: not the request's last completion.
                                self.in_flight += 1;
                            } else {
                                self.ops.remove(op.slot());
                            }
                            let completion = Completion { result, flags };
                            let delivered = op.deliver(Shot { completion, buf }, more);
                            self.woken.extend(delivered.waker);
                            if delivered.cancel {
                                // Its last completion, which comes after this entry is
                                // submitted, frees its address for a new request.
                                behind.push(user_data);
                            }
                            if more {
                                // The ring keeps its reference until the last completion.
                                let _ = op.into_raw();
                            }
                            continue;
                        }
                        let mut completion = Completion {
                            result: cqe.result(),
                            flags: cqe.flags(),
                        };
                        if user_data & READINESS_TAG == 0
                            && completion.result == -libc::EAGAIN
                            && !op.is_dropped()
                        {
                            // A non-blocking socket (handed in that way, or set so by a
                            // readiness driver): wait for it as for a missing opcode.
                            self.ops.remove(op.slot());
                            op.set_slot(self.ops.insert(op.user_data() | READINESS_TAG));
                            rearm.push(op);
                            continue;
                        }
                        if user_data & READINESS_TAG != 0 && completion.result >= 0 {
                            // The descriptor is ready: try the operation again, unless
                            // its future is gone (a retried accept would lose a client).
                            completion.result = if op.is_dropped() {
                                -libc::ECANCELED
                            } else {
                                self.counts.syscall();
                                // SAFETY: the operation is with this ring, not completed.
                                unsafe { op.attempt() }
                            };
                            completion.flags = 0;
                            if completion.result == -libc::EAGAIN {
                                rearm.push(op);
                                continue;
                            }
                        }
                        self.ops.remove(op.slot());
                        if let Some(waker) = op.complete(completion) {
                            self.woken.push(waker);
                        }
                    }
                }
            }
            drop(cq);
            // With IORING_FEAT_NODROP the kernel keeps completions that did not fit in the
            // queue and hands them over on the next enter with GETEVENTS: flush rather
            // than leave them (and whoever waits on them) stranded.
            if self.ring.submission().cq_overflow() && drained_any {
                let _ = self.enter(0);
                continue;
            }
            break;
        }
        if ran_dry {
            if let Some(bufs) = &mut self.bufs {
                bufs.grow();
            }
        }
        for user_data in behind {
            // A cancellation that cannot be queued leaves the request armed: its queue
            // grows, nothing is lost.
            let _ = self.push_cancel(user_data);
        }
        for op in rearm {
            if let Err(e) = self.arm_readiness(op) {
                // The submission queue is flushed as it fills, so this is a broken ring.
                eprintln!("ringtide: io_uring could not re-arm a readiness wait: {e}");
                std::process::abort();
            }
        }
    }
}

impl std::fmt::Debug for Ring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ring")
            .field("features", &self.features)
            .field("in_flight", &self.in_flight)
            .field("ops", &self.ops.len)
            .finish_non_exhaustive()
    }
}

impl Drop for Ring {
    /// Waits for every request in flight before the buffers they use are freed.
    fn drop(&mut self) {
        if self.eventfd_armed {
            // Completing the read is simpler and more portable than cancelling it.
            super::wake_eventfd(self.eventfd);
        }
        // Earlier timeouts already have a removal in flight; remove the last one too, so
        // that every timeout completes now rather than at its deadline.
        if let Some(timeout) = self.armed_timeout.take() {
            let remove = opcode::TimeoutRemove::new(timeout)
                .build()
                .user_data(INTERNAL_TOKEN);
            // SAFETY: a timeout removal refers to no memory.
            let _ = unsafe { self.push(&remove) };
        }
        // Operations whose futures are still alive (leaked, or held outside the runtime).
        for user_data in self.ops.live() {
            let _ = self.push_cancel(user_data);
        }
        let give_up = Instant::now() + Duration::from_secs(5);
        while self.in_flight > 0 && Instant::now() < give_up {
            let _ = if self.features.ext_arg {
                let ts = types::Timespec::from(Duration::from_millis(100));
                let args = types::SubmitArgs::new().timespec(&ts);
                self.counts.enter();
                self.ring.submitter().submit_with_args(1, &args).map(drop)
            } else {
                self.enter(1)
            };
            self.reap();
        }
        if self.in_flight > 0 {
            // A request the kernel would not finish or cancel (or a lost wake-up of the
            // eventfd read): worth knowing, as its memory stays allocated for good.
            eprintln!(
                "ringtide: a worker's ring was dropped with {} requests still in flight \
                 after waiting 5 s for them; their memory is leaked rather than freed \
                 while the kernel may use it",
                self.in_flight
            );
        }
        // Wakers of operations completed here go to futures that outlived the runtime.
        for waker in self.woken.drain(..) {
            waker.wake();
        }
        if let Some(bufs) = self.bufs.take() {
            // With a receive still in flight, which may pick a buffer and write it, the
            // group stays registered and its buffers leak (see `BufRing`'s `Drop`).
            if self.ops.is_empty() {
                bufs.unregister(&self.ring.submitter());
            }
        }
        if self.eventfd_armed {
            // The kernel may still write the buffer: leak it rather than free it (as the
            // references of operations still in flight are).
            return;
        }
        // SAFETY: the pointer came from `Box::into_raw` and no request refers to it.
        drop(unsafe { Box::from_raw(self.eventfd_buf) });
    }
}

/// Errors of `io_uring_enter` that only mean "look again".
fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ETIME | libc::EINTR | libc::EAGAIN | libc::EBUSY)
    )
}

const DEFER_TASKRUN_SETUP: &str = "SINGLE_ISSUER|DEFER_TASKRUN";

/// Builds the ring with the most helpful setup flags this kernel accepts.
fn build_ring(entries: u32) -> io::Result<(IoUring, &'static str)> {
    let cq_entries = entries.saturating_mul(4).max(entries);
    type Setup = fn(&mut io_uring::Builder, u32);
    let attempts: [(&'static str, Setup); 4] = [
        (DEFER_TASKRUN_SETUP, |b, cq| {
            b.setup_single_issuer()
                .setup_defer_taskrun()
                .setup_taskrun_flag()
                .setup_cqsize(cq)
                .setup_clamp();
        }),
        ("COOP_TASKRUN", |b, cq| {
            b.setup_coop_taskrun()
                .setup_taskrun_flag()
                .setup_cqsize(cq)
                .setup_clamp();
        }),
        ("CQSIZE", |b, cq| {
            b.setup_cqsize(cq).setup_clamp();
        }),
        ("none", |_, _| {}),
    ];
    let mut last = None;
    for (name, setup) in attempts {
        let mut builder = IoUring::builder();
        setup(&mut builder, cq_entries);
        match builder.build(entries) {
            Ok(ring) => return Ok((ring, name)),
            // An older kernel rejects flags it does not know with EINVAL: try fewer.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => last = Some(e),
            Err(e) => return Err(SetupError::from_ring_setup(e, entries)),
        }
    }
    Err(SetupError::from_ring_setup(
        last.unwrap_or_else(|| io::Error::from_raw_os_error(libc::EINVAL)),
        entries,
    ))
}

/// Resets the eventfd counter after a `POLL_ADD` completion (kernels before 5.6).
fn clear_eventfd(fd: RawFd) {
    let mut value: u64 = 0;
    // SAFETY: reads 8 bytes into a valid local. POLLIN said the counter is non-zero, and
    // only this worker reads it, so the read does not block.
    let _ = unsafe { libc::read(fd, (&mut value as *mut u64).cast(), 8) };
}
