//! Addresses to connect to, and host names looked up off the workers.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use crate::context;

/// What [`TcpStream::connect`](super::TcpStream::connect) accepts: a socket address,
/// an `(ip, port)` pair, a slice of addresses, or a `"host:port"` string or
/// `("host", port)` pair.
///
/// A host name is looked up with the system resolver (`getaddrinfo`, which may block
/// for as long as DNS takes) on a [blocking thread](crate::task::spawn_blocking), never
/// on a worker, so a slow lookup stalls no other task. Addresses written as numbers are
/// used as they are, with no lookup.
///
/// This trait is sealed: it is implemented for the standard library's address types
/// and strings only.
///
/// ```
/// use ringtide::net::{TcpListener, TcpStream};
///
/// ringtide::Runtime::new()?.block_on(async {
///     let listener = TcpListener::bind("127.0.0.1:0")?;
///     let port = listener.local_addr()?.port();
///     // Looked up on a blocking thread, then connected.
///     let stream = TcpStream::connect(("localhost", port)).await?;
///     assert_eq!(stream.peer_addr()?.port(), port);
///     Ok::<_, std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub trait ToSocketAddrs: sealed::Sealed {}

mod sealed {
    /// The addresses, or the name to look up for them.
    pub trait Sealed {
        fn lookup(&self) -> super::Lookup;
    }
}

/// Where addresses come from.
#[derive(Debug)]
pub enum Lookup {
    /// Known without a lookup.
    Known(Vec<SocketAddr>),
    /// A `host:port` for the resolver.
    Name(String),
}

/// The addresses `addr` stands for, looking its name up on a blocking thread if it has
/// one.
pub(crate) async fn resolve<A: ToSocketAddrs + ?Sized>(addr: &A) -> io::Result<Vec<SocketAddr>> {
    let name = match addr.lookup() {
        Lookup::Known(addrs) => return Ok(addrs),
        Lookup::Name(name) => name,
    };
    if context::with_runtime(|rt| rt.is_none()) {
        return Err(io::Error::other(
            "ringtide I/O used outside a ringtide runtime: \
             await it inside a task or inside Runtime::block_on",
        ));
    }
    let lookup = crate::task::spawn_blocking(move || {
        std::net::ToSocketAddrs::to_socket_addrs(&name.as_str())
            .map(Iterator::collect)
            .map_err(|e| io::Error::new(e.kind(), format!("looking up {name}: {e}")))
    });
    lookup.await.unwrap_or_else(|e| {
        Err(io::Error::other(format!(
            "the host name lookup did not finish: {e}"
        )))
    })
}

macro_rules! known {
    ($($ty:ty => |$this:ident| $addrs:expr;)*) => {$(
        impl ToSocketAddrs for $ty {}
        impl sealed::Sealed for $ty {
            fn lookup(&self) -> Lookup {
                let $this = self;
                Lookup::Known($addrs)
            }
        }
    )*};
}

known! {
    SocketAddr => |a| vec![*a];
    SocketAddrV4 => |a| vec![SocketAddr::V4(*a)];
    SocketAddrV6 => |a| vec![SocketAddr::V6(*a)];
    (IpAddr, u16) => |a| vec![SocketAddr::new(a.0, a.1)];
    (Ipv4Addr, u16) => |a| vec![SocketAddr::new(IpAddr::V4(a.0), a.1)];
    (Ipv6Addr, u16) => |a| vec![SocketAddr::new(IpAddr::V6(a.0), a.1)];
    [SocketAddr] => |a| a.to_vec();
    Vec<SocketAddr> => |a| a.clone();
}

impl ToSocketAddrs for str {}
impl sealed::Sealed for str {
    fn lookup(&self) -> Lookup {
        match self.parse() {
            Ok(addr) => Lookup::Known(vec![addr]),
            Err(_) => Lookup::Name(self.to_owned()),
        }
    }
}

impl ToSocketAddrs for String {}
impl sealed::Sealed for String {
    fn lookup(&self) -> Lookup {
        self.as_str().lookup()
    }
}

impl ToSocketAddrs for (&str, u16) {}
impl sealed::Sealed for (&str, u16) {
    fn lookup(&self) -> Lookup {
        let (host, port) = *self;
        match host.parse::<IpAddr>() {
            Ok(ip) => Lookup::Known(vec![SocketAddr::new(ip, port)]),
            Err(_) => Lookup::Name(format!("{host}:{port}")),
        }
    }
}

impl ToSocketAddrs for (String, u16) {}
impl sealed::Sealed for (String, u16) {
    fn lookup(&self) -> Lookup {
        (self.0.as_str(), self.1).lookup()
    }
}

impl<T: ToSocketAddrs + ?Sized> ToSocketAddrs for &T {}
impl<T: ToSocketAddrs + ?Sized> sealed::Sealed for &T {
    fn lookup(&self) -> Lookup {
        (**self).lookup()
    }
}

#[cfg(test)]
mod tests {
    use super::sealed::Sealed;
    use super::*;

    fn known(addr: &(impl ToSocketAddrs + ?Sized)) -> Vec<SocketAddr> {
        match addr.lookup() {
            Lookup::Known(addrs) => addrs,
            Lookup::Name(name) => panic!("{name} needed a lookup"),
        }
    }

    #[test]
    fn numeric_addresses_need_no_lookup_and_names_do() {
        let v4: SocketAddr = "127.0.0.1:80".parse().unwrap();
        let v6: SocketAddr = "[::1]:443".parse().unwrap();
        assert_eq!(known("127.0.0.1:80"), [v4]);
        assert_eq!(known(&String::from("[::1]:443")), [v6]);
        assert_eq!(known(&("::1", 443)), [v6]);
        assert_eq!(known(&(Ipv4Addr::LOCALHOST, 80)), [v4]);
        assert_eq!(known(&[v4, v6][..]), [v4, v6]);
        assert!(matches!("localhost:80".lookup(), Lookup::Name(n) if n == "localhost:80"));
        assert!(matches!(("example.test", 8).lookup(), Lookup::Name(n) if n == "example.test:8"));
    }
}
