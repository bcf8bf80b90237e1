//! Compile-time checks that public types are `Send`/`Sync`/`Unpin` where users need them.

#![allow(dead_code)]

use std::rc::Rc;

fn send<T: Send>() {}
fn sync<T: Sync>() {}
fn unpin<T: Unpin>() {}
fn error<T: std::error::Error + Send + Sync + 'static>() {}
fn clone_debug<T: Clone + std::fmt::Debug>() {}

#[test]
fn public_types_have_the_expected_auto_traits() {
    send::<ringtide::Runtime>();
    sync::<ringtide::Runtime>();
    send::<ringtide::Builder>();
    sync::<ringtide::Builder>();
    send::<ringtide::Handle>();
    sync::<ringtide::Handle>();
    clone_debug::<ringtide::Handle>();
    error::<ringtide::TryCurrentError>();

    send::<ringtide::JoinHandle<u32>>();
    sync::<ringtide::JoinHandle<u32>>();
    unpin::<ringtide::JoinHandle<u32>>();
    unpin::<ringtide::JoinHandle<Rc<u32>>>();
    error::<ringtide::JoinError>();
    error::<ringtide::SetupError>();

    send::<ringtide::time::Sleep>();
    sync::<ringtide::time::Sleep>();
    send::<ringtide::time::Interval>();
    sync::<ringtide::time::Interval>();
    unpin::<ringtide::time::Interval>();
    send::<ringtide::time::Timeout<ringtide::time::Sleep>>();
    error::<ringtide::time::Elapsed>();
    send::<ringtide::task::YieldNow>();

    // Metrics snapshots travel to whatever thread reports them.
    send::<ringtide::metrics::RuntimeMetrics>();
    sync::<ringtide::metrics::RuntimeMetrics>();
    clone_debug::<ringtide::metrics::RuntimeMetrics>();
    send::<ringtide::metrics::WorkerMetrics>();
    sync::<ringtide::metrics::WorkerMetrics>();
    clone_debug::<ringtide::metrics::WorkerMetrics>();
    send::<ringtide::net::RecvStream>();
    sync::<ringtide::net::RecvStream>();
    unpin::<ringtide::net::RecvStream>();
    send::<ringtide::net::RecvBuf>();
    sync::<ringtide::net::RecvBuf>();
    unpin::<ringtide::net::RecvBuf>();
    send::<ringtide::net::Incoming<'static>>();
    sync::<ringtide::net::Incoming<'static>>();
    clone_debug::<ringtide::net::RecvBufferStats>();
}

/// The futures of receive and incoming streams may be awaited in spawned tasks.
fn stream_futures_are_send(
    stream: &mut ringtide::net::RecvStream,
    incoming: &mut ringtide::net::Incoming<'_>,
) {
    fn send_value<T: Send>(_: T) {}
    send_value(stream.next());
    send_value(incoming.next());
}

/// A `JoinHandle` of a `!Send` output must not be `Send`: this is checked by the type
/// system, so it is asserted with a trait-resolution trick rather than at run time.
#[test]
fn join_handle_of_non_send_output_is_not_send() {
    trait AmbiguousIfSend<A> {
        fn some_item() {}
    }
    impl<T: ?Sized> AmbiguousIfSend<()> for T {}
    struct Invalid;
    impl<T: ?Sized + Send> AmbiguousIfSend<Invalid> for T {}
    // Compiles only while `JoinHandle<Rc<u32>>` is not `Send` (otherwise the call is
    // ambiguous between the two impls).
    <ringtide::JoinHandle<Rc<u32>> as AmbiguousIfSend<_>>::some_item();
}
