//! `TcpSocket` options before connecting or listening, and host names looked up off the
//! workers.

mod support;

use std::net::SocketAddr;

use ringtide::net::{TcpListener, TcpSocket, TcpStream};
use support::runtimes_on_each_driver as both_drivers;

#[test]
fn a_client_bound_first_connects_from_its_address() {
    for rt in both_drivers() {
        rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let client = TcpSocket::new_v4().unwrap();
            client.set_reuseaddr(true).unwrap();
            client.bind("127.0.0.1:0".parse().unwrap()).unwrap();
            let from = client.local_addr().unwrap();
            let stream = client
                .connect(listener.local_addr().unwrap())
                .await
                .unwrap();
            let (_, peer) = listener.accept().await.unwrap();
            assert_eq!(peer, from);
            assert_eq!(stream.local_addr().unwrap(), from);
        });
    }
}

#[test]
fn two_listeners_share_a_port_with_reuseport() {
    for rt in both_drivers() {
        rt.block_on(async {
            let first = TcpSocket::new_v4().unwrap();
            first.set_reuseport(true).unwrap();
            assert!(first.reuseport().unwrap());
            first.bind("127.0.0.1:0".parse().unwrap()).unwrap();
            let addr = first.local_addr().unwrap();
            let first = first.listen(16).unwrap();
            let second = TcpSocket::new_v4().unwrap();
            second.set_reuseport(true).unwrap();
            second.bind(addr).unwrap();
            let second = second.listen(16).unwrap();
            assert_eq!(second.local_addr().unwrap(), addr);

            // Without the option, the port is taken.
            let third = TcpSocket::new_v4().unwrap();
            let err = third.bind(addr).unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
            drop((first, second));
        });
    }
}

#[test]
fn buffer_sizes_are_set_before_connecting() {
    let socket = TcpSocket::new_v6().unwrap();
    socket.set_send_buffer_size(64 * 1024).unwrap();
    socket.set_recv_buffer_size(64 * 1024).unwrap();
    // The kernel doubles what it is given, within its limits.
    assert!(socket.send_buffer_size().unwrap() >= 64 * 1024);
    assert!(socket.recv_buffer_size().unwrap() >= 64 * 1024);
    socket.set_keepalive(true).unwrap();
    socket.set_nodelay(true).unwrap();
}

#[test]
fn host_names_are_looked_up_for_connect() {
    for rt in both_drivers() {
        rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let port = listener.local_addr().unwrap().port();
            // `localhost` may stand for ::1 first, where nobody listens: the next
            // address is tried.
            for target in [format!("localhost:{port}"), format!("127.0.0.1:{port}")] {
                let stream = TcpStream::connect(target.as_str()).await.unwrap();
                let peer: SocketAddr = stream.peer_addr().unwrap();
                assert_eq!(peer.port(), port);
                drop(listener.accept().await.unwrap());
            }
            let stream = TcpStream::connect(("localhost", port)).await.unwrap();
            assert_eq!(stream.peer_addr().unwrap().port(), port);

            let err = TcpStream::connect("no-such-host.invalid:80")
                .await
                .unwrap_err();
            assert!(err.to_string().contains("no-such-host.invalid"), "{err}");
        });
    }
}

#[test]
fn a_lookup_outside_a_runtime_is_an_error_not_a_panic() {
    let err = futures::executor::block_on(TcpStream::connect("localhost:1")).unwrap_err();
    assert!(
        err.to_string().contains("outside a ringtide runtime"),
        "{err}"
    );
}
