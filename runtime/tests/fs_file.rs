//! `ringtide::fs::File`: positional reads and writes round trip at every size, short
//! reads at the end of a file, vectored I/O, the size and durability calls. Each test
//! runs on io_uring and on epoll.

mod fs_support;
mod support;

use std::io;
use std::os::unix::fs::FileExt;

use fs_support::{os_error, pattern, runtimes, TempDir};
use ringtide::fs::{File, OpenOptions};

const GIB: u64 = 1 << 30;

#[test]
fn round_trips_at_every_size_and_at_a_sparse_gibibyte() {
    for rt in runtimes() {
        let dir = TempDir::new("fs-round-trip");
        let path = dir.join("file");
        rt.block_on(async {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .open(&path)
                .await
                .unwrap();
            let cases = [(0, 0), (1, 0), (4096, 4096), (1 << 20, 8192), (4096, GIB)];
            for (i, &(size, pos)) in cases.iter().enumerate() {
                let data = pattern(size, i as u64);
                let (res, data) = file.write_all_at(data, pos).await;
                res.unwrap();
                let (res, back) = file.read_exact_at(Vec::with_capacity(size), pos).await;
                res.unwrap();
                assert!(back == data, "{size} bytes at {pos} came back changed");
                let mut std_back = vec![0; size];
                std::fs::File::open(&path)
                    .unwrap()
                    .read_exact_at(&mut std_back, pos)
                    .unwrap();
                assert!(std_back == data, "std reads other bytes at {pos}");
            }
            // The gap before the last write is a hole that reads as zeros.
            let meta = file.metadata().await.unwrap();
            assert_eq!(meta.len(), GIB + 4096);
            let (n, hole) = file.read_at(vec![1; 4096], GIB / 2).await;
            assert_eq!(n.unwrap(), 4096);
            assert!(hole.iter().all(|&b| b == 0));
            assert!(
                meta.blocks() * 512 < GIB / 2,
                "the file is sparse: {} blocks",
                meta.blocks()
            );
        });
    }
}

#[test]
fn reads_near_the_end_are_short_then_empty() {
    for rt in runtimes() {
        let dir = TempDir::new("fs-eof");
        let path = dir.join("ten");
        std::fs::write(&path, b"0123456789").unwrap();
        rt.block_on(async {
            let file = File::open(&path).await.unwrap();
            let (n, buf) = file.read_at(vec![0; 64], 4).await;
            assert_eq!(n.unwrap(), 6);
            assert_eq!(buf, b"456789", "a Vec holds exactly what was read");
            let (n, buf) = file.read_at(vec![7; 4], 8).await;
            assert_eq!(n.unwrap(), 2);
            assert_eq!(buf, b"89");
            for pos in [10, 11, 1 << 40] {
                let (n, buf) = file.read_at(vec![0; 8], pos).await;
                assert_eq!(n.unwrap(), 0, "at {pos}");
                assert!(buf.is_empty());
            }
            // A boxed slice keeps its length; the data is its first n bytes.
            let (n, boxed) = file.read_at(vec![b'x'; 12].into_boxed_slice(), 0).await;
            assert_eq!(n.unwrap(), 10);
            assert_eq!(&boxed[..], b"0123456789xx");

            let (res, buf) = file.read_exact_at(Vec::with_capacity(64), 3).await;
            let e = res.unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
            assert!(e.to_string().contains(&path.display().to_string()), "{e}");
            assert_eq!(buf, b"3456789", "what was read before the end is kept");
        });
    }
}

#[test]
fn vectored_reads_fill_each_buffer_in_turn() {
    for rt in runtimes() {
        let dir = TempDir::new("fs-vectored");
        rt.block_on(async {
            let file = File::create_new(dir.join("v")).await.unwrap();
            let parts = vec![b"abc".to_vec(), Vec::new(), b"defgh".to_vec()];
            let (n, parts) = file.writev_at(parts, 2).await;
            assert_eq!(n.unwrap(), 8);
            assert_eq!(parts[2], b"defgh", "the buffers come back");
            let bufs = vec![
                Vec::with_capacity(4),
                Vec::with_capacity(3),
                Vec::with_capacity(100),
                Vec::with_capacity(5),
            ];
            let (n, bufs) = file.readv_at(bufs, 0).await;
            assert_eq!(n.unwrap(), 10);
            let got: Vec<&[u8]> = bufs.iter().map(|b| &b[..]).collect();
            assert_eq!(got, [&b"\0\0ab"[..], b"cde", b"fgh", b""]);
        });
    }
}

#[test]
fn size_sync_and_an_explicit_close() {
    for rt in runtimes() {
        let dir = TempDir::new("fs-size");
        let path = dir.join("sized");
        rt.block_on(async {
            let file = File::create(&path).await.unwrap();
            file.write_all_at(pattern(5000, 9), 0).await.0.unwrap();
            file.sync_data().await.unwrap();
            file.sync_all().await.unwrap();
            file.set_len(100).await.unwrap();
            assert_eq!(std::fs::metadata(&path).unwrap().len(), 100);
            file.set_len(1 << 20).await.unwrap();
            assert_eq!(file.metadata().await.unwrap().len(), 1 << 20);
            match file.allocate(2 << 20, 4096).await {
                Ok(()) => {
                    let meta = file.metadata().await.unwrap();
                    assert_eq!(meta.len(), (2 << 20) + 4096, "allocate extends the file");
                    assert!(meta.blocks() >= 8, "the space is allocated");
                }
                Err(e) if os_error(&e) == Some(libc::EOPNOTSUPP) => {
                    eprintln!("skipped allocate: the file system has no fallocate");
                }
                Err(e) => panic!("allocate: {e}"),
            }
            file.close().await.unwrap();
        });
    }
}

#[test]
fn append_create_and_truncate_follow_std() {
    for rt in runtimes() {
        let dir = TempDir::new("fs-options");
        let path = dir.join("log");
        std::fs::write(&path, b"old contents").unwrap();
        rt.block_on(async {
            let log = OpenOptions::new().append(true).open(&path).await.unwrap();
            // O_APPEND: the offset is ignored, the bytes go to the end.
            log.write_all_at(&b"+more"[..], 0).await.0.unwrap();
            drop(log);
            assert_eq!(std::fs::read(&path).unwrap(), b"old contents+more");
            let file = File::create(&path).await.unwrap();
            assert_eq!(file.metadata().await.unwrap().len(), 0, "create truncates");
            assert_eq!(file.path(), Some(path.as_path()));
            let e = OpenOptions::new().read(true).create(true).open(&path).await;
            assert_eq!(e.unwrap_err().kind(), io::ErrorKind::InvalidInput);
        });
    }
}

#[test]
fn a_file_from_std_works_the_same() {
    for rt in runtimes() {
        let dir = TempDir::new("fs-from-std");
        let path = dir.join("std");
        std::fs::write(&path, b"from std").unwrap();
        rt.block_on(async {
            let file = File::from_std(std::fs::File::open(&path).unwrap());
            let (n, buf) = file.read_at(vec![0; 16], 5).await;
            assert_eq!(&buf[..n.unwrap()], b"std");
            assert_eq!(file.path(), None);
            let e = file.write_at(&b"x"[..], 0).await.0.unwrap_err();
            assert_eq!(os_error(&e), Some(libc::EBADF), "opened read-only: {e}");
        });
    }
}

/// The public types and futures of `ringtide::fs` can move between threads and tasks.
#[allow(dead_code)]
fn _ensure_send_and_sync() {
    fn is_send_sync<T: Send + Sync>(_: &T) {}
    fn is_send_static<T: Send + 'static>(_: &T) {}
    fn check(file: &File, options: &OpenOptions, meta: &ringtide::fs::Metadata) {
        is_send_sync(file);
        is_send_sync(options);
        is_send_sync(meta);
        is_send_sync(&ringtide::buf::AlignedBuf::with_capacity(0, 1));
        is_send_static(&file.read_at(Vec::new(), 0));
        is_send_static(&file.write_all_at(Vec::new(), 0));
        is_send_static(&file.readv_at(vec![Vec::new()], 0));
        is_send_static(&file.sync_all());
        is_send_static(&file.metadata());
        is_send_static(&ringtide::fs::read("x"));
        is_send_static(&ringtide::fs::create_dir_all("x"));
    }
    let _ = check;
}
