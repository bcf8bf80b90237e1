//! Signals raised at the process reach every listener, in any runtime or none. Each test
//! uses a signal of its own: they run in parallel in one process.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use ringtide::signal::{ctrl_c, signal, SignalKind};
use ringtide::time::timeout;

fn raise(kind: SignalKind) {
    // SAFETY: kill takes no pointers; the signal goes to this process.
    assert_eq!(unsafe { libc::kill(libc::getpid(), kind.as_raw()) }, 0);
}

fn runtime() -> ringtide::Runtime {
    ringtide::Builder::new()
        .worker_threads(2)
        .pin_workers(false)
        .build()
        .unwrap()
}

/// Long enough for any delivery on a loaded machine: only a hang takes this long.
const DELIVERY: Duration = Duration::from_secs(30);

#[test]
fn ctrl_c_completes_on_sigint() {
    // A listener first, so that the handler is in place before any SIGINT is raised
    // (until then, SIGINT ends the process).
    let _guard = signal(SignalKind::interrupt()).unwrap();
    let rt = runtime();
    rt.block_on(async {
        let waiting = ringtide::spawn(ctrl_c());
        // The listener exists once the task has polled once; raise until it is seen.
        let seen = timeout(DELIVERY, async {
            let mut waiting = waiting;
            loop {
                raise(SignalKind::interrupt());
                if let Ok(done) = timeout(Duration::from_millis(20), &mut waiting).await {
                    return done;
                }
            }
        })
        .await;
        seen.expect("SIGINT was seen").unwrap().unwrap();
    });
}

#[test]
fn every_listener_in_every_runtime_sees_the_signal() {
    let kind = SignalKind::user_defined1();
    let runtimes = [runtime(), runtime()];
    let mut listeners: Vec<_> = (0..4).map(|_| signal(kind).unwrap()).collect();
    let dropped = signal(kind).unwrap();
    drop(dropped);
    raise(kind);
    let (first, second) = listeners.split_at_mut(2);
    for (rt, listeners) in runtimes.iter().zip([first, second]) {
        rt.block_on(async {
            for listener in listeners.iter_mut() {
                let got = timeout(DELIVERY, listener.recv()).await;
                assert_eq!(got.expect("SIGUSR1 was seen"), Some(()));
            }
        });
    }
}

#[test]
fn a_signal_before_a_listener_existed_is_not_seen_and_kills_nobody() {
    let kind = SignalKind::user_defined2();
    // Installs the handler, then leaves: SIGUSR2 no longer terminates the process.
    drop(signal(kind).unwrap());
    raise(kind);
    // Give the signal thread time to pass the delivery on to nobody.
    std::thread::sleep(Duration::from_millis(50));
    let mut late = signal(kind).unwrap();
    let mut cx = Context::from_waker(Waker::noop());
    assert_eq!(
        late.poll_recv(&mut cx),
        Poll::Pending,
        "saw a signal from before it existed"
    );
    raise(kind);
    let rt = runtime();
    let got = rt.block_on(timeout(DELIVERY, late.recv()));
    assert_eq!(got.expect("the later SIGUSR2 was seen"), Some(()));
}

#[test]
fn a_burst_of_signals_is_seen_at_least_once_and_never_invented() {
    let kind = SignalKind::window_change();
    let mut listener = signal(kind).unwrap();
    for _ in 0..10 {
        raise(kind);
    }
    let rt = runtime();
    rt.block_on(async {
        assert_eq!(timeout(DELIVERY, listener.recv()).await.unwrap(), Some(()));
        // Merged or not, no more than were sent: drain what is there.
        let mut more = 0;
        while timeout(Duration::from_millis(50), listener.recv())
            .await
            .is_ok()
        {
            more += 1;
        }
        assert!(more < 10, "{more} more deliveries than signals sent");
    });
}

#[test]
fn signals_that_cannot_be_caught_are_refused() {
    for raw in [libc::SIGKILL, libc::SIGSTOP, libc::SIGSEGV, 0, 200] {
        let err = signal(SignalKind::from_raw(raw)).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "signal {raw}");
    }
}

#[test]
fn a_listener_works_outside_any_runtime() {
    let kind = SignalKind::hangup();
    let mut listener = signal(kind).unwrap();
    raise(kind);
    let got = futures::executor::block_on(async {
        let mut recv = pin!(listener.recv());
        std::future::poll_fn(|cx| recv.as_mut().poll(cx)).await
    });
    assert_eq!(got, Some(()));
}
