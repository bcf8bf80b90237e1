//! An open file, its descriptor shared with the operations in flight on it, and the
//! positional reads and writes.

use std::future::Future;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, IntoRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use super::direct::{self, DioAlignment};
use super::metadata::{Metadata, Statx};
use super::ops::{Close, Fallocate, Fsync, Ftruncate, ReadAt, ReadvAt, WriteAt, WritevAt};
use super::run::{path_error, run};
use super::OpenOptions;
use crate::buf::{IoBuf, IoBufMut};
use crate::context::{self, Current};

/// A file's descriptor, shared by the [`File`] and every operation in flight on it: it
/// is closed once all of them are gone, so the kernel never reads or writes a
/// descriptor number that was closed and reused meanwhile.
#[derive(Clone, Debug)]
pub(crate) struct FileFd(Arc<FileInner>);

#[derive(Debug)]
struct FileInner {
    /// -1 once handed to an explicit close.
    fd: RawFd,
    /// The path it was opened with, for error messages.
    path: Option<PathBuf>,
    /// Opened with `O_DIRECT`: an `EINVAL` may mean a misaligned buffer.
    direct: bool,
    /// What `O_DIRECT` needs, once asked.
    alignment: OnceLock<DioAlignment>,
}

impl FileFd {
    pub(crate) fn new(fd: OwnedFd, path: Option<PathBuf>, direct: bool) -> FileFd {
        FileFd(Arc::new(FileInner {
            fd: fd.into_raw_fd(),
            path,
            direct,
            alignment: OnceLock::new(),
        }))
    }

    pub(crate) fn raw(&self) -> RawFd {
        self.0.fd
    }

    /// Opened with `O_DIRECT`: its reads and writes go straight to the device.
    pub(crate) fn direct(&self) -> bool {
        self.0.direct
    }

    /// Tells this descriptor apart from any other open at the same time.
    pub(crate) fn key(&self) -> u64 {
        Arc::as_ptr(&self.0) as u64
    }

    /// What error messages call the file: its path, or its descriptor number.
    pub(crate) fn name(&self) -> PathBuf {
        match &self.0.path {
            Some(path) => path.clone(),
            None => PathBuf::from(format!("<fd {}>", self.0.fd)),
        }
    }

    /// `e`, saying that it came from `op` on this file.
    pub(crate) fn error(&self, e: io::Error, op: &str) -> io::Error {
        path_error(e, op, &self.name())
    }

    /// The error of a read or write of the memory `segments` (address, length) at file
    /// offset `pos`: for an `O_DIRECT` file whose `EINVAL` came from a misaligned
    /// segment, one that says what alignment the file needs.
    pub(crate) fn rw_error(
        &self,
        e: io::Error,
        op: &str,
        segments: &[(usize, usize)],
        pos: u64,
    ) -> io::Error {
        if self.0.direct && e.raw_os_error() == Some(libc::EINVAL) {
            if let Ok(align) = self.alignment() {
                let clear = segments
                    .iter()
                    .find_map(|&(addr, len)| direct::misaligned(align, addr, len, pos));
                if let Some(clear) = clear {
                    return self.error(clear, op);
                }
            }
        }
        self.error(e, op)
    }

    fn alignment(&self) -> io::Result<DioAlignment> {
        if let Some(align) = self.0.alignment.get() {
            return Ok(*align);
        }
        let align = direct::query(self.0.fd).map_err(|e| self.error(e, "dio_alignment"))?;
        Ok(*self.0.alignment.get_or_init(|| align))
    }

    /// The descriptor, if nothing else holds it: for an explicit close.
    fn into_unique(self) -> Result<(RawFd, PathBuf), FileFd> {
        let name = self.name();
        match Arc::try_unwrap(self.0) {
            Ok(mut inner) => Ok((std::mem::replace(&mut inner.fd, -1), name)),
            Err(shared) => Err(FileFd(shared)),
        }
    }
}

impl Drop for FileInner {
    fn drop(&mut self) {
        if self.fd < 0 {
            return;
        }
        // Through the worker's ring where there is one (the close joins its next batch);
        // else with close(2).
        let fd = self.fd;
        let queued = context::with_current(|current| match current {
            Current::Worker(core) => core.close_fd(fd),
            _ => false,
        });
        if !queued {
            // SAFETY: the last reference to the descriptor gives it up.
            unsafe { libc::close(fd) };
        }
    }
}

/// An open file, read and written at explicit offsets with owned buffers.
///
/// Reads and writes take the buffer by value and give it back with the result, as
/// [`TcpStream::read`](crate::net::TcpStream::read) does, so that the kernel can use it
/// after the call returns; the futures own what they need (they borrow neither the file
/// nor the buffer), so one file can be read by many tasks at once, each at its own
/// offset (there is no cursor). The descriptor is closed once the `File` and every
/// operation on it are gone, or by [`close`](File::close), which reports the error of
/// the close itself.
///
/// Each operation runs on the io_uring ring of the worker that polls it where that ring
/// has the opcode, and on the blocking pool otherwise (always on the epoll driver); see
/// [`crate::fs`].
///
/// # Examples
///
/// ```
/// use ringtide::fs::File;
///
/// # let dir = std::env::temp_dir().join(format!("ringtide-doc-file-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// # let path = dir.join("data.bin");
/// ringtide::Runtime::new()?.block_on(async {
///     let file = File::create_new(&path).await?; // for reading and writing
///     let (res, _) = file.write_all_at(&b"hello, world"[..], 0).await;
///     res?;
///     let (n, buf) = file.read_at(vec![0; 5], 7).await;
///     assert_eq!(&buf[..n?], b"world");
///     // Past the end: a short read, then 0 bytes.
///     let (n, buf) = file.read_at(Vec::with_capacity(100), 7).await;
///     assert_eq!(&buf[..n?], b"world");
///     assert_eq!(file.read_at(vec![0; 8], 12).await.0?, 0);
///     file.close().await
/// })?;
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct File {
    fd: FileFd,
}

impl File {
    /// Opens `path` for reading.
    pub async fn open(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new().read(true).open(path).await
    }

    /// Opens `path` for writing, creating it if it does not exist and truncating it if
    /// it does.
    pub async fn create(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .await
    }

    /// Creates `path` and opens it for reading and writing; fails with
    /// [`AlreadyExists`](io::ErrorKind::AlreadyExists) if it exists.
    pub async fn create_new(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)
            .await
    }

    /// Options for opening a file: the same as [`OpenOptions::new`].
    pub fn options() -> OpenOptions {
        OpenOptions::new()
    }

    pub(crate) fn from_fd(fd: FileFd) -> File {
        File { fd }
    }

    /// Takes over a file opened with the standard library.
    pub fn from_std(file: std::fs::File) -> File {
        // SAFETY: F_GETFL takes no pointer.
        let flags = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GETFL) };
        let direct = flags >= 0 && flags & libc::O_DIRECT != 0;
        File::from_fd(FileFd::new(file.into(), None, direct))
    }

    /// The path the file was opened with (`None` for [`from_std`](Self::from_std)).
    pub fn path(&self) -> Option<&Path> {
        self.fd.0.path.as_deref()
    }

    /// Reads into `buf` from file offset `pos`; gives back the count `n` and the buffer,
    /// whose data is then `buf[..n]`.
    ///
    /// As with [`TcpStream::read`](crate::net::TcpStream::read), the read fills `buf`
    /// from its start up to its capacity, whatever it held, and a `Vec` comes back with
    /// its length set to `n` (see [`crate::buf`]). Near the end of the file the read is
    /// short: it returns what there was, and `Ok(0)` at or past the end.
    pub fn read_at<B: IoBufMut>(
        &self,
        buf: B,
        pos: u64,
    ) -> impl Future<Output = (io::Result<usize>, B)> + Send + 'static {
        run(ReadAt::new(self.fd.clone(), buf, pos, 0))
    }

    /// Reads into the spare capacity of `buf`, after what it holds, from `pos`.
    pub(crate) fn read_rest(
        &self,
        buf: Vec<u8>,
        pos: u64,
    ) -> impl Future<Output = (io::Result<usize>, Vec<u8>)> + Send + 'static {
        let start = buf.len();
        run(ReadAt::new(self.fd.clone(), buf, pos, start))
    }

    /// Fills `buf` (up to its capacity, [`IoBuf::bytes_total`]) from file offset `pos`,
    /// in as many reads as it takes. Fails with
    /// [`UnexpectedEof`](io::ErrorKind::UnexpectedEof) if the file ends first; the
    /// buffer then holds what was read (a `Vec`'s length says how much).
    pub fn read_exact_at<B: IoBufMut>(
        &self,
        buf: B,
        pos: u64,
    ) -> impl Future<Output = (io::Result<()>, B)> + Send + 'static {
        let fd = self.fd.clone();
        let step_fd = fd.clone();
        until_done(
            fd,
            buf,
            B::bytes_total,
            move |buf, filled| {
                run(ReadAt::new(
                    step_fd.clone(),
                    buf,
                    pos + filled as u64,
                    filled,
                ))
            },
            move |filled| {
                let eof = format!("the file ends {filled} bytes after offset {pos}");
                (
                    io::Error::new(io::ErrorKind::UnexpectedEof, eof),
                    "read_exact_at",
                )
            },
        )
    }

    /// Writes `buf`'s initialized bytes at file offset `pos`, or as many as one write
    /// takes; gives back the count and the buffer.
    pub fn write_at<B: IoBuf>(
        &self,
        buf: B,
        pos: u64,
    ) -> impl Future<Output = (io::Result<usize>, B)> + Send + 'static {
        run(WriteAt::new(self.fd.clone(), buf, pos, 0))
    }

    /// Writes all of `buf`'s initialized bytes at file offset `pos`, in as many writes
    /// as it takes.
    pub fn write_all_at<B: IoBuf>(
        &self,
        buf: B,
        pos: u64,
    ) -> impl Future<Output = (io::Result<()>, B)> + Send + 'static {
        let fd = self.fd.clone();
        let step_fd = fd.clone();
        until_done(
            fd,
            buf,
            B::bytes_init,
            move |buf, written| {
                run(WriteAt::new(
                    step_fd.clone(),
                    buf,
                    pos + written as u64,
                    written,
                ))
            },
            |_| (io::ErrorKind::WriteZero.into(), "write_all_at"),
        )
    }

    /// Reads into `bufs` in order from file offset `pos` (one `preadv`): each is filled
    /// from its start up to its capacity before the next, and holds what was read into
    /// it (a `Vec` past the end of the data comes back empty). Gives back the total
    /// count and the buffers.
    pub fn readv_at<B: IoBufMut>(
        &self,
        bufs: Vec<B>,
        pos: u64,
    ) -> impl Future<Output = (io::Result<usize>, Vec<B>)> + Send + 'static {
        run(ReadvAt::new(self.fd.clone(), bufs, pos))
    }

    /// Writes the initialized bytes of `bufs` in order at file offset `pos` (one
    /// `pwritev`, which may write less than all of them); gives back the count and the
    /// buffers.
    pub fn writev_at<B: IoBuf>(
        &self,
        bufs: Vec<B>,
        pos: u64,
    ) -> impl Future<Output = (io::Result<usize>, Vec<B>)> + Send + 'static {
        run(WritevAt::new(self.fd.clone(), bufs, pos))
    }

    /// Flushes the file's data and metadata to the device (`fsync`).
    pub fn sync_all(&self) -> impl Future<Output = io::Result<()>> + Send + 'static {
        run(Fsync::new(self.fd.clone(), false))
    }

    /// Flushes the file's data, and only the metadata needed to read it back
    /// (`fdatasync`).
    pub fn sync_data(&self) -> impl Future<Output = io::Result<()>> + Send + 'static {
        run(Fsync::new(self.fd.clone(), true))
    }

    /// Truncates or extends the file to `size` bytes (`ftruncate`; through the ring
    /// from Linux 6.9 on, on the blocking pool before).
    pub fn set_len(&self, size: u64) -> impl Future<Output = io::Result<()>> + Send + 'static {
        run(Ftruncate::new(self.fd.clone(), size))
    }

    /// Allocates disk space for `len` bytes from `offset` (`fallocate` with mode 0),
    /// extending the file if they reach past its end, so that later writes there cannot
    /// fail for lack of space.
    pub fn allocate(
        &self,
        offset: u64,
        len: u64,
    ) -> impl Future<Output = io::Result<()>> + Send + 'static {
        run(Fallocate::new(self.fd.clone(), offset, len))
    }

    /// The file's metadata (`statx` of the open file).
    pub fn metadata(&self) -> impl Future<Output = io::Result<Metadata>> + Send + 'static {
        run(Statx::file(self.fd.clone()))
    }

    /// What reads and writes of this file need to be aligned to with `O_DIRECT`: from
    /// `statx(STATX_DIOALIGN)` on Linux 6.1+, else the device's logical block size for
    /// a block device, else the file system's block size (never below 512). Fails with
    /// [`Unsupported`](io::ErrorKind::Unsupported) where the file system says the file
    /// cannot do direct I/O. Makes no I/O: the attributes are the cached ones.
    pub fn dio_alignment(&self) -> io::Result<DioAlignment> {
        self.fd.alignment()
    }

    /// Closes the file and reports the close's own error, which dropping a `File`
    /// cannot (`close` can report a write-back error of some file systems, NFS's for
    /// one). If a read or write on the file is still in flight (its future was dropped
    /// before its completion), the descriptor is closed when that completes instead, and
    /// this returns `Ok(())`.
    pub fn close(self) -> impl Future<Output = io::Result<()>> + Send + 'static {
        let unique = self.fd.into_unique();
        async move {
            match unique {
                Ok((fd, name)) => run(Close::new(fd, name.display().to_string())).await,
                Err(shared) => {
                    drop(shared);
                    Ok(())
                }
            }
        }
    }
}

/// The loop of `read_exact_at` and `write_all_at`: `step(buf, done)` moves bytes after
/// the first `done` until `goal(&buf)` are done; a step that moves none ends it with
/// the error (and operation name) `short(done)` gives.
async fn until_done<B, Step, Fut>(
    fd: FileFd,
    mut buf: B,
    goal: fn(&B) -> usize,
    mut step: Step,
    short: impl Fn(usize) -> (io::Error, &'static str),
) -> (io::Result<()>, B)
where
    Step: FnMut(B, usize) -> Fut,
    Fut: Future<Output = (io::Result<usize>, B)>,
{
    let mut done = 0;
    while done < goal(&buf) {
        let (result, back) = step(buf, done).await;
        buf = back;
        match result {
            Ok(0) => {
                let (e, op) = short(done);
                return (Err(fd.error(e, op)), buf);
            }
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (Err(e), buf),
        }
    }
    (Ok(()), buf)
}

impl AsFd for File {
    fn as_fd(&self) -> BorrowedFd<'_> {
        // SAFETY: the descriptor is open for as long as `self` lives.
        unsafe { BorrowedFd::borrow_raw(self.fd.raw()) }
    }
}

impl AsRawFd for File {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.raw()
    }
}

impl From<std::fs::File> for File {
    fn from(file: std::fs::File) -> File {
        File::from_std(file)
    }
}
