//! UDP through the ring.

mod support;

use ringtide::net::UdpSocket;
use support::{rt_test, used_buffer};

rt_test! {
    fn datagrams_round_trip_with_their_senders(rt) {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let server_addr = server.local_addr().unwrap();
        let echo = rt.spawn(async move {
            let mut buf = vec![0u8; 2048];
            for _ in 0..500 {
                let (got, back) = server.recv_from(buf).await;
                let (n, from) = got.unwrap();
                let reply = back[..n].to_vec();
                buf = back;
                let (sent, _) = server.send_to(reply, from).await;
                assert_eq!(sent.unwrap(), n);
            }
        });
        rt.block_on(async move {
            let client = UdpSocket::bind("127.0.0.1:0").unwrap();
            for i in 0..500u32 {
                let msg = support::pattern(u64::from(i), 1 + (i as usize * 37) % 1400);
                let (sent, msg) = client.send_to(msg, server_addr).await;
                assert_eq!(sent.unwrap(), msg.len());
                let (got, buf) = client.recv_from(vec![0u8; 2048]).await;
                let (n, from) = got.unwrap();
                assert_eq!(from, server_addr);
                assert_eq!(&buf[..n], &msg[..]);
            }
        });
        rt.block_on(echo).unwrap();
    }

    fn connected_sockets_send_and_receive(rt) {
        rt.block_on(async {
            let a = UdpSocket::bind("127.0.0.1:0").unwrap();
            let b = UdpSocket::bind("127.0.0.1:0").unwrap();
            a.connect(b.local_addr().unwrap()).unwrap();
            b.connect(a.local_addr().unwrap()).unwrap();
            assert_eq!(a.peer_addr().unwrap(), b.local_addr().unwrap());
            for i in 0..100u8 {
                let (sent, _) = a.send(vec![i; 100]).await;
                assert_eq!(sent.unwrap(), 100);
                let (n, buf) = b.recv(Vec::with_capacity(100)).await;
                assert_eq!(n.unwrap(), 100);
                assert!(buf.iter().all(|&x| x == i));
            }
            // A datagram larger than the buffer is cut to the buffer's size.
            let (sent, _) = b.send(vec![7u8; 1000]).await;
            assert_eq!(sent.unwrap(), 1000);
            let (n, buf) = a.recv(vec![0u8; 10]).await;
            assert_eq!((n.unwrap(), buf), (10, vec![7u8; 10]));
        });
    }
}

#[test]
fn a_datagram_leaves_exactly_its_bytes_in_a_vec() {
    let rt = support::one_worker();
    rt.block_on(async {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        b.connect(a.local_addr().unwrap()).unwrap();
        let b_addr = b.local_addr().unwrap();

        let (sent, _) = a.send_to(&b"hi"[..], b_addr).await;
        assert_eq!(sent.unwrap(), 2);
        let (n, buf) = b.recv(used_buffer()).await;
        assert_eq!((n.unwrap(), &buf[..]), (2, &b"hi"[..]));

        // Reused without clearing, a longer datagram fills it past its old length.
        let (sent, _) = a.send_to(&b"0123456789"[..], b_addr).await;
        assert_eq!(sent.unwrap(), 10);
        let (n, buf) = b.recv(buf).await;
        assert_eq!((n.unwrap(), &buf[..]), (10, &b"0123456789"[..]));

        // recv_from follows the same rule.
        let (sent, _) = b.send(&b"yo"[..]).await;
        assert_eq!(sent.unwrap(), 2);
        let (got, buf) = a.recv_from(used_buffer()).await;
        let (n, from) = got.unwrap();
        assert_eq!((n, from, &buf[..]), (2, b_addr, &b"yo"[..]));

        // A full `vec![0; N]` still receives N bytes.
        let (sent, _) = a.send_to(&b"12345678"[..], b_addr).await;
        assert_eq!(sent.unwrap(), 8);
        let (n, buf) = b.recv(vec![0u8; 8]).await;
        assert_eq!((n.unwrap(), &buf[..]), (8, &b"12345678"[..]));

        // An empty datagram leaves the Vec empty.
        let (sent, _) = b.send(&b""[..]).await;
        assert_eq!(sent.unwrap(), 0);
        let (got, buf) = a.recv_from(used_buffer()).await;
        assert_eq!((got.unwrap().0, buf.len()), (0, 0));
    });
}
