//! The functions of `ringtide::fs` that mirror `std::fs`: whole-file read and write,
//! directories, renames and links, and metadata that matches `std::fs::metadata`. Each
//! test runs on io_uring and on epoll.

mod fs_support;
mod support;

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use fs_support::{pattern, runtimes, TempDir};
use ringtide::fs;

#[test]
fn whole_files_round_trip() {
    for rt in runtimes() {
        let dir = TempDir::new("fs-whole");
        rt.block_on(async {
            fs::write(dir.join("empty"), Vec::new()).await.unwrap();
            assert!(fs::read(dir.join("empty")).await.unwrap().is_empty());
            fs::write(dir.join("str"), "text").await.unwrap();
            fs::write(dir.join("string"), String::from("owned"))
                .await
                .unwrap();
            assert_eq!(fs::read(dir.join("str")).await.unwrap(), b"text");
            assert_eq!(fs::read(dir.join("string")).await.unwrap(), b"owned");
            // Larger than one read's worth of the size hint: one byte over a MiB.
            let big = pattern((1 << 20) + 1, 3);
            fs::write(dir.join("big"), big.clone()).await.unwrap();
            assert!(fs::read(dir.join("big")).await.unwrap() == big);
            // Replacing keeps nothing of the old contents.
            fs::write(dir.join("big"), "short").await.unwrap();
            assert_eq!(std::fs::read(dir.join("big")).unwrap(), b"short");
            // A file whose size says nothing of its contents.
            let status = fs::read("/proc/self/status").await.unwrap();
            assert!(String::from_utf8_lossy(&status).contains("Pid:"));
        });
    }
}

#[test]
fn directories_are_created_and_removed() {
    for rt in runtimes() {
        let dir = TempDir::new("fs-dirs");
        rt.block_on(async {
            let deep = dir.join("a/b/c/d");
            fs::create_dir_all(&deep).await.unwrap();
            assert!(std::fs::metadata(&deep).unwrap().is_dir());
            fs::create_dir_all(&deep).await.unwrap(); // exists: fine
            fs::create_dir_all(dir.path()).await.unwrap();
            // Many tasks making overlapping trees at once all succeed.
            let tasks: Vec<_> = (0..8)
                .map(|i| {
                    let path = dir.join(&format!("x/y/{}", i % 2));
                    ringtide::spawn(async move { fs::create_dir_all(path).await })
                })
                .collect();
            for task in tasks {
                task.await.unwrap().unwrap();
            }
            assert!(std::fs::metadata(dir.join("x/y/1")).unwrap().is_dir());
            fs::create_dir(dir.join("plain")).await.unwrap();
            for sub in [
                "plain", "a/b/c/d", "a/b/c", "a/b", "a", "x/y/0", "x/y/1", "x/y", "x",
            ] {
                fs::remove_dir(dir.join(sub)).await.unwrap();
            }
            assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        });
    }
}

#[test]
fn renames_and_links() {
    for rt in runtimes() {
        let dir = TempDir::new("fs-links");
        rt.block_on(async {
            fs::write(dir.join("one"), "1").await.unwrap();
            fs::write(dir.join("two"), "2").await.unwrap();
            fs::rename(dir.join("one"), dir.join("two")).await.unwrap();
            assert_eq!(std::fs::read(dir.join("two")).unwrap(), b"1", "replaced");
            assert!(!dir.join("one").exists());

            fs::hard_link(dir.join("two"), dir.join("hard"))
                .await
                .unwrap();
            let (a, b) = (
                fs::metadata(dir.join("two")).await.unwrap(),
                fs::metadata(dir.join("hard")).await.unwrap(),
            );
            assert_eq!((a.ino(), a.nlink()), (b.ino(), 2));

            fs::symlink("two", dir.join("soft")).await.unwrap();
            assert_eq!(
                std::fs::read_link(dir.join("soft")).unwrap(),
                Path::new("two")
            );
            let link = fs::symlink_metadata(dir.join("soft")).await.unwrap();
            assert!(link.is_symlink() && !link.is_file());
            let target = fs::metadata(dir.join("soft")).await.unwrap();
            assert!(target.is_file() && !target.is_symlink());
            assert_eq!(target.ino(), a.ino());

            fs::remove_file(dir.join("soft")).await.unwrap();
            assert!(
                dir.join("two").exists(),
                "removing a link leaves its target"
            );
            fs::remove_file(dir.join("hard")).await.unwrap();
            assert_eq!(fs::metadata(dir.join("two")).await.unwrap().nlink(), 1);
        });
    }
}

/// Compares every field both sides have.
fn assert_same(ours: &fs::Metadata, std: &std::fs::Metadata, what: &str) {
    assert_eq!(ours.len(), std.len(), "{what}: len");
    assert_eq!(ours.is_file(), std.is_file(), "{what}: is_file");
    assert_eq!(ours.is_dir(), std.is_dir(), "{what}: is_dir");
    assert_eq!(ours.is_symlink(), std.is_symlink(), "{what}: is_symlink");
    assert_eq!(ours.permissions(), std.permissions(), "{what}: permissions");
    assert_eq!(ours.mode(), std.mode(), "{what}: mode");
    assert_eq!(ours.dev(), std.dev(), "{what}: dev");
    assert_eq!(ours.ino(), std.ino(), "{what}: ino");
    assert_eq!(ours.nlink(), std.nlink(), "{what}: nlink");
    assert_eq!(ours.uid(), std.uid(), "{what}: uid");
    assert_eq!(ours.gid(), std.gid(), "{what}: gid");
    assert_eq!(ours.rdev(), std.rdev(), "{what}: rdev");
    assert_eq!(ours.blksize(), std.blksize(), "{what}: blksize");
    assert_eq!(ours.blocks(), std.blocks(), "{what}: blocks");
    assert_eq!(
        ours.modified().unwrap(),
        std.modified().unwrap(),
        "{what}: mtime"
    );
    assert_eq!(
        ours.accessed().unwrap(),
        std.accessed().unwrap(),
        "{what}: atime"
    );
    assert_eq!(ours.created().ok(), std.created().ok(), "{what}: btime");
}

#[test]
fn metadata_matches_std() {
    for rt in runtimes() {
        let dir = TempDir::new("fs-meta");
        std::fs::write(dir.join("f"), pattern(12_345, 5)).unwrap();
        std::os::unix::fs::symlink("f", dir.join("l")).unwrap();
        rt.block_on(async {
            for name in ["f", "l", ""] {
                let path = dir.join(name);
                let ours = fs::metadata(&path).await.unwrap();
                assert_same(&ours, &std::fs::metadata(&path).unwrap(), name);
                let ours = fs::symlink_metadata(&path).await.unwrap();
                assert_same(&ours, &std::fs::symlink_metadata(&path).unwrap(), name);
            }
            let file = fs::File::open(dir.join("f")).await.unwrap();
            let ours = file.metadata().await.unwrap();
            assert_same(
                &ours,
                &std::fs::metadata(dir.join("f")).unwrap(),
                "open file",
            );
            assert!(!ours.is_empty());
            assert_same(
                &fs::metadata("/dev/null").await.unwrap(),
                &std::fs::metadata("/dev/null").unwrap(),
                "/dev/null",
            );
        });
    }
}
