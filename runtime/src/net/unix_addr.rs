//! Unix socket addresses: std's [`SocketAddr`] to the kernel's `sockaddr_un` and back,
//! and the errors that name the address they are about.
//!
//! # Why a conversion of our own
//!
//! The public type is [`std::os::unix::net::SocketAddr`], so that addresses mix with
//! std's Unix sockets. std has no public constructor from a raw `sockaddr_un`, so
//! [`to_std`] rebuilds each address the kernel writes (`accept`, `recvmsg`,
//! `getsockname`, `getpeername`) with std's public constructors, reading the raw bytes
//! as socket2's [`SockAddr`] holds them:
//!
//! * a length of at most `offsetof(sockaddr_un, sun_path)` (Linux writes 0 for a
//!   datagram's unbound sender) is the unnamed address;
//! * a first path byte of 0 is an abstract name: every byte after it up to the length
//!   (abstract names are not NUL-terminated and may contain NULs), through
//!   [`SocketAddrExt::from_abstract_name`];
//! * anything else is a path: the bytes up to the first NUL (Linux counts the
//!   terminating NUL in the length), through [`SocketAddr::from_pathname`].
//!
//! Each round-trips: the kernel gets back the bytes it gave. The one address std cannot
//! hold is a path of exactly 108 bytes with no terminating NUL (Linux accepts one from a
//! program that binds without std's checks): it is reported as
//! [`InvalidData`](io::ErrorKind::InvalidData) rather than shortened.
//!
//! std has no constructor for the unnamed address either: an empty path makes one today,
//! which [`unnamed`] checks before relying on it, and falls back to the kernel's own
//! answer (an unbound socket's address, as std parses it).

use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::SocketAddr;
use std::path::Path;
use std::sync::OnceLock;

use socket2::{Domain, SockAddr, Socket, Type};

/// `sun_path`'s size: a path takes at most one byte less, for its terminating NUL.
const SUN_PATH_LEN: usize = 108;

/// Where `sun_path` starts in a `sockaddr_un`: an address of this length or less is
/// unnamed.
const SUN_PATH_OFFSET: usize = std::mem::offset_of!(libc::sockaddr_un, sun_path);

/// The kernel's address for `path`, checked first so that every mistake names its path.
pub(crate) fn path_sockaddr(path: &Path) -> io::Result<SockAddr> {
    let bytes = path.as_os_str().as_bytes();
    if bytes.is_empty() {
        return Err(invalid_path(path, "is empty"));
    }
    if bytes.contains(&0) {
        return Err(invalid_path(path, "contains a NUL byte"));
    }
    if bytes.len() >= SUN_PATH_LEN {
        let limit = SUN_PATH_LEN - 1;
        let what = format!(
            "is {} bytes long, over the limit of {limit}: sockaddr_un's sun_path holds \
             {SUN_PATH_LEN} bytes with the terminating NUL (use a shorter path, or a \
             relative one from a nearby working directory)",
            bytes.len()
        );
        return Err(invalid_path(path, &what));
    }
    SockAddr::unix(path)
}

fn invalid_path(path: &Path, what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("Unix socket path {path:?} {what}"),
    )
}

/// The kernel's form of `addr`. Binding the unnamed address asks Linux to pick an
/// abstract name (autobind).
pub(crate) fn from_std(addr: &SocketAddr) -> io::Result<SockAddr> {
    if let Some(path) = addr.as_pathname() {
        return path_sockaddr(path);
    }
    match addr.as_abstract_name() {
        Some(name) => {
            let mut bytes = Vec::with_capacity(name.len() + 1);
            bytes.push(0);
            bytes.extend_from_slice(name);
            SockAddr::unix(OsStr::from_bytes(&bytes))
        }
        None => SockAddr::unix(""),
    }
}

/// std's form of an address the kernel wrote (see the module docs).
pub(crate) fn to_std(addr: &SockAddr) -> io::Result<SocketAddr> {
    if addr.len() as usize <= SUN_PATH_OFFSET {
        return unnamed();
    }
    if !addr.is_unix() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "the kernel gave a non-Unix address for a Unix socket",
        ));
    }
    // SAFETY: the storage is a `sockaddr_storage`, larger than a `sockaddr_un` and
    // aligned for one, and holds one (its family is AF_UNIX).
    let un = unsafe { &*addr.as_ptr().cast::<libc::sockaddr_un>() };
    let len = (addr.len() as usize - SUN_PATH_OFFSET).min(SUN_PATH_LEN);
    // SAFETY: `sun_path` is `SUN_PATH_LEN` bytes (of `c_char`, the size of `u8`), and
    // `len` is at most that.
    let bytes: &[u8] = unsafe { std::slice::from_raw_parts(un.sun_path.as_ptr().cast(), len) };
    if let Some(name) = bytes.strip_prefix(&[0]) {
        return SocketAddr::from_abstract_name(name);
    }
    let bytes = bytes.split(|&b| b == 0).next().unwrap_or_default();
    SocketAddr::from_pathname(OsStr::from_bytes(bytes)).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "the kernel gave a {}-byte Unix socket path with no terminating NUL, which \
                 std::os::unix::net::SocketAddr cannot hold",
                bytes.len()
            ),
        )
    })
}

/// The unnamed address (see the module docs).
fn unnamed() -> io::Result<SocketAddr> {
    static UNNAMED: OnceLock<SocketAddr> = OnceLock::new();
    if let Some(addr) = UNNAMED.get() {
        return Ok(addr.clone());
    }
    let addr = match SocketAddr::from_pathname("") {
        Ok(addr) if addr.is_unnamed() => addr,
        _ => std::os::unix::net::UnixDatagram::unbound()?.local_addr()?,
    };
    Ok(UNNAMED.get_or_init(|| addr).clone())
}

/// An address as error messages show it: a quoted path, or `abstract name "…"` with
/// non-printing bytes escaped.
struct Shown<'a>(&'a SockAddr);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(path) = self.0.as_pathname() {
            write!(f, "{path:?}")
        } else if let Some(name) = self.0.as_abstract_namespace() {
            write!(f, "abstract name \"{}\"", name.escape_ascii())
        } else {
            f.write_str("the unnamed address")
        }
    }
}

/// An OS error with a message that names the address and what to check. Its
/// [`kind`](io::Error::kind) is the OS error's; the OS error itself is its
/// [`source`](std::error::Error::source).
#[derive(Debug)]
struct AddrError {
    message: String,
    source: io::Error,
}

impl fmt::Display for AddrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for AddrError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

fn explained(source: io::Error, message: String) -> io::Error {
    io::Error::new(source.kind(), AddrError { message, source })
}

/// A new Unix socket of type `ty` bound to `addr`.
pub(crate) fn bound_socket(ty: Type, addr: &SockAddr) -> io::Result<Socket> {
    let socket = Socket::new(Domain::UNIX, ty, None)?;
    socket.bind(addr).map_err(|e| bind_error(e, addr))?;
    Ok(socket)
}

/// A failed `bind(2)` of `addr`, explained where the cause is the usual one.
fn bind_error(e: io::Error, addr: &SockAddr) -> io::Error {
    let shown = Shown(addr);
    match e.raw_os_error() {
        Some(libc::EADDRINUSE) if addr.as_pathname().is_some() => explained(
            e,
            format!(
                "cannot bind a Unix socket to {shown}: a file already exists at that path, \
                 perhaps a socket a previous server left behind (it is not removed \
                 automatically: delete it if no server is using it)"
            ),
        ),
        Some(libc::EADDRINUSE) => explained(
            e,
            format!("cannot bind a Unix socket to {shown}: another socket holds that name"),
        ),
        Some(libc::ENOENT) => explained(
            e,
            format!("cannot bind a Unix socket to {shown}: its directory does not exist"),
        ),
        _ => e,
    }
}

/// A failed `connect(2)` or `sendmsg(2)` to `addr`, explained where the cause is the
/// usual one.
pub(crate) fn connect_error(e: io::Error, addr: &SockAddr) -> io::Error {
    let shown = Shown(addr);
    match e.raw_os_error() {
        Some(libc::ENOENT) => explained(
            e,
            format!(
                "no Unix socket at {shown}: no such file (is the server running, and \
                 bound to that path?)"
            ),
        ),
        Some(libc::ECONNREFUSED) if addr.as_pathname().is_some() => explained(
            e,
            format!(
                "nothing listens on the Unix socket {shown}: the socket file is there, \
                 but no server has it open (perhaps a previous server left it behind)"
            ),
        ),
        Some(libc::ECONNREFUSED) => {
            explained(e, format!("nothing listens on the Unix socket {shown}"))
        }
        _ => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_and_abstract_addresses_round_trip() {
        let path = SocketAddr::from_pathname("/tmp/ringtide.sock").unwrap();
        let back = to_std(&from_std(&path).unwrap()).unwrap();
        assert_eq!(back.as_pathname(), Some(Path::new("/tmp/ringtide.sock")));

        let name = SocketAddr::from_abstract_name(b"ringtide\0with nul").unwrap();
        let back = to_std(&from_std(&name).unwrap()).unwrap();
        assert_eq!(back.as_abstract_name(), Some(&b"ringtide\0with nul"[..]));

        let unnamed = unnamed().unwrap();
        assert!(unnamed.is_unnamed());
        assert!(to_std(&from_std(&unnamed).unwrap()).unwrap().is_unnamed());
    }

    #[test]
    fn an_empty_kernel_address_is_unnamed() {
        // SAFETY: zero bytes of the zeroed storage are claimed initialized.
        let empty = unsafe { SockAddr::new(socket2::SockAddrStorage::zeroed(), 0) };
        assert!(to_std(&empty).unwrap().is_unnamed());
    }

    #[test]
    fn a_path_too_long_names_the_limit() {
        let long = "x".repeat(SUN_PATH_LEN);
        let err = path_sockaddr(Path::new(&long)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("limit of 107"), "{err}");
        assert!(path_sockaddr(Path::new(&long[1..])).is_ok());
    }
}
