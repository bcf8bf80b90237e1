//! TaskGroup::start (a value from a child once it is ready, or why not) and shield (work
//! that outlives its awaiter).

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ringtide::net::{TcpListener, TcpStream};
use ringtide::time::sleep;
use ringtide_combinators::{
    shield, wait_for, ChildError, SpawnError, StartError, Started, TaskGroup,
};

/// A server child binds, reports its address through `start`, then accepts: the caller
/// connects to the address it was given.
#[test]
fn start_returns_the_address_a_server_bound() {
    let rt = common::runtime();
    rt.block_on(async {
        let group = TaskGroup::<u16, std::io::Error>::new();
        let addr = group
            .start(|started| async move {
                let listener = TcpListener::bind("127.0.0.1:0")?;
                started.started(listener.local_addr()?);
                let (_stream, peer) = listener.accept().await?;
                Ok(peer.port())
            })
            .await
            .expect("the server started");
        assert!(addr.ip().is_loopback());
        let client = TcpStream::connect(addr).await.unwrap();
        drop(client);
        let ports = group.join().await.unwrap();
        assert_eq!(ports.len(), 1);
        assert_ne!(ports[0], addr.port());
    });
}

#[test]
fn start_fails_when_the_child_errs_before_started() {
    let rt = common::runtime();
    rt.block_on(async {
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        let group = TaskGroup::<(), std::io::Error>::new();
        let start = group.start(|started: Started<u16>| async move {
            let listener = TcpListener::bind(addr)?; // in use: fails
            started.started(listener.local_addr()?.port());
            Ok(())
        });
        assert_eq!(start.await, Err(StartError::Failed));
        let err = group.join().await.unwrap_err();
        let [ChildError::Failed { index: 0, error }] = &err.errors[..] else {
            panic!("the bind should have failed: {err}");
        };
        assert_eq!(error.kind(), std::io::ErrorKind::AddrInUse);
    });
}

#[test]
fn start_reports_a_child_that_ended_panicked_was_aborted_or_let_go() {
    let rt = common::runtime();
    rt.block_on(async {
        let group = TaskGroup::<u8, ()>::new();
        let ended = group.start(|_started: Started<()>| async { Ok(1) });
        assert_eq!(ended.await, Err(StartError::Ended));
        let dropped = group.start(|started: Started<()>| async move {
            drop(started);
            sleep(Duration::from_millis(1)).await;
            Ok(2)
        });
        assert_eq!(dropped.await, Err(StartError::Dropped));
        assert_eq!(group.join().await.unwrap(), [1, 2]);

        let group = TaskGroup::<u8, ()>::new();
        let panicked = group.start(|_started: Started<()>| async {
            panic!("child panicked");
        });
        assert_eq!(panicked.await, Err(StartError::Failed));
        let err = group.join().await.unwrap_err();
        assert!(matches!(
            &err.errors[..],
            [ChildError::Panicked { index: 0, .. }]
        ));

        let group = TaskGroup::<u8, ()>::new();
        let aborted = group.start(|started: Started<()>| async move {
            let _kept = started;
            sleep(Duration::from_secs(3600)).await;
            Ok(0)
        });
        let report = group.shutdown(Duration::from_millis(1)).await;
        assert_eq!(report.aborted, [0]);
        assert_eq!(aborted.await, Err(StartError::Aborted));

        let group = TaskGroup::<u8, ()>::new();
        group.spawn(async { Err(()) }).unwrap();
        common::until("the group failed", || group.running() == 0).await;
        let refused = group.start(|started| async move {
            started.started(());
            Ok(0)
        });
        assert_eq!(refused.await, Err(StartError::Spawn(SpawnError::Failing)));
        assert!(group.join().await.is_err());
    });
}

/// The task awaiting a shielded future is aborted; the shielded future runs to the end.
#[test]
fn shield_keeps_running_when_its_awaiter_is_aborted() {
    let rt = common::runtime();
    rt.block_on(async {
        let gate = common::Gate::new();
        let finished = Arc::new(AtomicBool::new(false));
        let awaiter = ringtide::spawn({
            let (gate, finished) = (gate.clone(), finished.clone());
            async move {
                shield(async move {
                    gate.pass(()).await;
                    finished.store(true, Ordering::SeqCst);
                    "done"
                })
                .await
            }
        });
        sleep(Duration::from_millis(5)).await;
        awaiter.abort();
        assert!(awaiter.await.unwrap_err().is_cancelled());
        assert!(!finished.load(Ordering::SeqCst));
        gate.open();
        common::until_set("the shielded future finished", &finished).await;
    });
}

/// A child of a group being shut down awaits a shielded future; the child is aborted at
/// the end of the grace period, the shielded future is not.
#[test]
fn shield_outlives_a_group_shutdown() {
    let rt = common::runtime();
    rt.block_on(async {
        let finished = Arc::new(AtomicBool::new(false));
        let group = TaskGroup::<(), ()>::new();
        let flag = finished.clone();
        group
            .spawn(async move {
                shield(async move {
                    sleep(Duration::from_millis(30)).await;
                    flag.store(true, Ordering::SeqCst);
                })
                .await
                .map_err(drop)
            })
            .unwrap();
        let report = group.shutdown(Duration::from_millis(1)).await;
        assert_eq!(report.aborted, [0]);
        common::until_set("the shielded future finished", &finished).await;
    });
}

/// The awaiter survives a timeout around `&mut shield`, and still gets the output.
#[test]
fn a_surviving_awaiter_gets_the_output() {
    let rt = common::runtime();
    rt.block_on(async {
        let gate = common::Gate::new();
        let mut shielded = shield(gate.pass(42));
        assert!(wait_for(Duration::from_millis(2), &mut shielded)
            .await
            .is_err());
        assert!(!shielded.is_finished());
        gate.open();
        assert_eq!(shielded.await.unwrap(), 42);
    });
}
