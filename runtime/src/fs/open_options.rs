//! [`OpenOptions`]: how a file is opened, as `std::fs::OpenOptions` says it.

use std::io;
use std::path::Path;

use super::file::{File, FileFd};
use super::path_ops::{OpenAt, PathArg};
use super::run::run;

/// How to open a file: the options of [`std::fs::OpenOptions`], with
/// [`mode`](Self::mode) and [`custom_flags`](Self::custom_flags) (for `O_DIRECT`, say)
/// as inherent methods. The open itself is an `IORING_OP_OPENAT` on the ring where the
/// kernel has it, else `openat(2)` on the blocking pool.
///
/// # Examples
///
/// ```
/// use ringtide::fs::OpenOptions;
///
/// # let dir = std::env::temp_dir().join(format!("ringtide-doc-open-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// # let path = dir.join("log.txt");
/// ringtide::Runtime::new()?.block_on(async {
///     let file = OpenOptions::new().write(true).create_new(true).open(&path).await?;
///     file.write_all_at(&b"first\n"[..], 0).await.0?;
///     let again = OpenOptions::new().write(true).create_new(true).open(&path).await;
///     assert_eq!(again.unwrap_err().kind(), std::io::ErrorKind::AlreadyExists);
///     Ok::<_, std::io::Error>(())
/// })?;
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct OpenOptions {
    read: bool,
    write: bool,
    append: bool,
    truncate: bool,
    create: bool,
    create_new: bool,
    custom_flags: i32,
    mode: u32,
}

impl Default for OpenOptions {
    fn default() -> OpenOptions {
        OpenOptions::new()
    }
}

impl OpenOptions {
    /// No access at all (set at least one of [`read`](Self::read),
    /// [`write`](Self::write) and [`append`](Self::append)), mode `0o666`.
    pub fn new() -> OpenOptions {
        OpenOptions {
            read: false,
            write: false,
            append: false,
            truncate: false,
            create: false,
            create_new: false,
            custom_flags: 0,
            mode: 0o666,
        }
    }

    /// Open for reading.
    pub fn read(&mut self, read: bool) -> &mut OpenOptions {
        self.read = read;
        self
    }

    /// Open for writing.
    pub fn write(&mut self, write: bool) -> &mut OpenOptions {
        self.write = write;
        self
    }

    /// Open for appending (`O_APPEND`): every write goes to the end of the file,
    /// whatever offset it names.
    pub fn append(&mut self, append: bool) -> &mut OpenOptions {
        self.append = append;
        self
    }

    /// Truncate an existing file to 0 bytes (needs write access).
    pub fn truncate(&mut self, truncate: bool) -> &mut OpenOptions {
        self.truncate = truncate;
        self
    }

    /// Create the file if it does not exist (needs write or append access).
    pub fn create(&mut self, create: bool) -> &mut OpenOptions {
        self.create = create;
        self
    }

    /// Create the file, failing with [`AlreadyExists`](io::ErrorKind::AlreadyExists) if
    /// it exists (`O_CREAT | O_EXCL`); [`create`](Self::create) and
    /// [`truncate`](Self::truncate) are then ignored.
    pub fn create_new(&mut self, create_new: bool) -> &mut OpenOptions {
        self.create_new = create_new;
        self
    }

    /// The permission bits of a created file, before the umask (default `0o666`).
    pub fn mode(&mut self, mode: u32) -> &mut OpenOptions {
        self.mode = mode;
        self
    }

    /// More `open(2)` flags, such as `libc::O_DIRECT` or `libc::O_NOATIME`; the access
    /// mode bits (`O_ACCMODE`) are ignored, and `O_CLOEXEC` is always set.
    ///
    /// A file opened with `O_DIRECT` needs aligned buffers, offsets and lengths (see
    /// [`File::dio_alignment`] and [`AlignedBuf`](crate::buf::AlignedBuf)); a read or
    /// write that is not aligned fails with an error that says what alignment it needs.
    pub fn custom_flags(&mut self, flags: i32) -> &mut OpenOptions {
        self.custom_flags = flags;
        self
    }

    /// Opens `path` with these options.
    pub async fn open(&self, path: impl AsRef<Path>) -> io::Result<File> {
        let path = path.as_ref();
        let flags = self
            .flags()
            .map_err(|e| super::run::path_error(e, "open", path))?;
        let (fd, path) = run(OpenAt::new(PathArg::new(path)?, flags, self.mode)).await?;
        let direct = flags & libc::O_DIRECT != 0;
        Ok(File::from_fd(FileFd::new(fd, Some(path), direct)))
    }

    /// The `open(2)` flags, as the standard library computes them (and with its errors
    /// for combinations that make no sense).
    fn flags(&self) -> io::Result<i32> {
        let access = match (self.read, self.write, self.append) {
            (true, false, false) => libc::O_RDONLY,
            (false, true, false) => libc::O_WRONLY,
            (true, true, false) => libc::O_RDWR,
            (false, _, true) => libc::O_WRONLY | libc::O_APPEND,
            (true, _, true) => libc::O_RDWR | libc::O_APPEND,
            (false, false, false) => {
                return Err(invalid("no access mode: set read, write or append"));
            }
        };
        match (self.write, self.append) {
            (true, false) => {}
            (false, false) if self.truncate || self.create || self.create_new => {
                return Err(invalid("create and truncate need write or append access"));
            }
            (_, true) if self.truncate && !self.create_new => {
                return Err(invalid("truncate and append cannot be combined"));
            }
            _ => {}
        }
        let creation = match (self.create, self.truncate, self.create_new) {
            (_, _, true) => libc::O_CREAT | libc::O_EXCL,
            (false, false, false) => 0,
            (true, false, false) => libc::O_CREAT,
            (false, true, false) => libc::O_TRUNC,
            (true, true, false) => libc::O_CREAT | libc::O_TRUNC,
        };
        Ok(libc::O_CLOEXEC | access | creation | (self.custom_flags & !libc::O_ACCMODE))
    }
}

fn invalid(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_as_the_standard_library_makes_them() {
        let flags = |o: &OpenOptions| o.flags().unwrap() & !libc::O_CLOEXEC;
        assert_eq!(flags(OpenOptions::new().read(true)), libc::O_RDONLY);
        assert_eq!(
            flags(OpenOptions::new().write(true).create(true).truncate(true)),
            libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC
        );
        assert_eq!(
            flags(OpenOptions::new().append(true).create_new(true)),
            libc::O_WRONLY | libc::O_APPEND | libc::O_CREAT | libc::O_EXCL
        );
        assert_eq!(
            flags(
                OpenOptions::new()
                    .read(true)
                    .custom_flags(libc::O_DIRECT | libc::O_WRONLY)
            ),
            libc::O_RDONLY | libc::O_DIRECT,
            "custom flags cannot change the access mode"
        );
    }

    #[test]
    fn nonsense_combinations_are_refused() {
        for options in [
            OpenOptions::new(),
            OpenOptions::new().read(true).create(true).clone(),
            OpenOptions::new().append(true).truncate(true).clone(),
        ] {
            let e = options.flags().unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        }
    }
}
