//! Receive and incoming streams on rings told to do without the multishot variants
//! (`RINGTIDE_IO_URING_WITHOUT=recv_multishot,accept_multishot`), as on kernels before
//! 6.0 and 5.19: readiness waits, then one-shot receives into pooled buffers and
//! one-shot accepts, through the same API.

mod support;

use std::sync::Once;
use std::time::Duration;

use support::recv::{connected_pair, echo_bytes, run_echo};
use support::{env_usize, raise_nofile};

/// An io_uring runtime without the multishot variants. Every test of this binary runs
/// on such rings: the variable is set once, before any runtime reads it.
fn runtime_without_multishot() -> ringtide::Runtime {
    static WITHOUT: Once = Once::new();
    WITHOUT.call_once(|| {
        std::env::set_var(
            "RINGTIDE_IO_URING_WITHOUT",
            "recv_multishot,accept_multishot",
        )
    });
    ringtide::Builder::new()
        .worker_threads(2)
        .pin_workers(false)
        .driver(ringtide::Driver::IoUring)
        .build()
        .expect("runtime")
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
        let (client, server) = connected_pair().await;
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
