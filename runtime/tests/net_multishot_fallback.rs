//! Receive and incoming streams on rings told to do without the multishot variants
//! (`RINGTIDE_IO_URING_WITHOUT=recv_multishot,accept_multishot`), as on kernels before
//! 6.0 and 5.19: readiness waits, then one-shot receives into pooled buffers and
//! one-shot accepts, through the same API.

mod support;

use std::time::Duration;

use support::recv::{echo_bytes, run_echo};
use support::{env_usize, raise_nofile};

/// An io_uring runtime without the multishot variants (every test of this binary runs
/// on such rings).
fn runtime_without_multishot() -> ringtide::Runtime {
    support::ring_runtime_without("recv_multishot,accept_multishot")
}

#[test]
fn echo_through_one_shot_receives_and_accepts_is_byte_exact() {
    let conns = env_usize("RINGTIDE_MULTISHOT_ECHO_CONNS", 1000);
    raise_nofile(20_000);
    let rt = runtime_without_multishot();
    let received = run_echo(&rt, conns, 3, Duration::from_secs(120));
    assert_eq!(received.bytes, echo_bytes(conns, 3));
    assert_eq!(received.ring, 0, "no multishot receive: {received:?}");
    assert!(received.pooled > 0);
    let stats = rt.recv_buffer_stats();
    assert_eq!(stats.buffers, 0, "no buffer ring is registered: {stats:?}");
}

#[test]
fn a_one_shot_receive_stream_loses_nothing_to_a_dropped_next() {
    let rt = runtime_without_multishot();
    rt.block_on(async {
        let (client, server) = support::tcp_pair().await;
        let mut stream = server.recv_stream();
        // Waiting for readiness: a dropped `next` takes nothing from the socket.
        let idle = ringtide::time::timeout(Duration::from_millis(2), stream.next()).await;
        assert!(idle.is_err());
        client.write_all(&b"late"[..]).await.0.unwrap();
        let buf = stream.next().await.unwrap().unwrap();
        assert_eq!(&buf[..], b"late");
        assert!(!buf.is_ring_buffer());
    });
}
