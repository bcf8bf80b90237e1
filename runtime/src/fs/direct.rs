//! What `O_DIRECT` asks of a file's I/O: buffer addresses, file offsets and lengths
//! aligned to the storage's block size, and the error that says so when they are not.
//!
//! # Where the alignment comes from
//!
//! 1. `statx(STATX_DIOALIGN)` (Linux 6.1+): the file system says what it needs, for this
//!    file, separately for memory and for offsets and lengths; zeros mean the file does
//!    not support direct I/O.
//! 2. Else, for a block device, its logical block size (`BLKSSZGET`).
//! 3. Else the file system's block size (`st_blksize`), at least 512: always a multiple
//!    of the device's logical block size, so enough, if sometimes more than needed.

use std::io;
use std::os::fd::RawFd;

/// The alignment `O_DIRECT` needs for one file; see
/// [`File::dio_alignment`](super::File::dio_alignment).
///
/// Reads and writes of a file opened with `O_DIRECT` need a buffer whose address is a
/// multiple of [`memory`](Self::memory), and a file offset and a length that are
/// multiples of [`offset`](Self::offset). An
/// [`AlignedBuf`](crate::buf::AlignedBuf) of `memory` alignment and a length that is a
/// multiple of `offset` meets both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DioAlignment {
    memory: usize,
    offset: usize,
}

impl DioAlignment {
    /// What a buffer's address must be a multiple of.
    pub fn memory(&self) -> usize {
        self.memory
    }

    /// What a file offset and a length must be multiples of.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// Whether `len` bytes at address `addr`, at file offset `pos`, meet it.
    pub(crate) fn fits(&self, addr: usize, len: usize, pos: u64) -> bool {
        addr % self.memory == 0 && len % self.offset == 0 && pos % self.offset as u64 == 0
    }
}

/// The `O_DIRECT` alignment of the open file `fd` (see the module docs). Makes no I/O:
/// the attributes are the cached ones (`AT_STATX_DONT_SYNC`), so it may run anywhere.
pub(crate) fn query(fd: RawFd) -> io::Result<DioAlignment> {
    // SAFETY: all-zero is a valid statx.
    let mut stx: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: an empty path with AT_EMPTY_PATH names `fd` itself; `stx` is writable.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_statx,
            fd,
            c"".as_ptr(),
            libc::AT_EMPTY_PATH | libc::AT_STATX_DONT_SYNC,
            libc::STATX_TYPE | libc::STATX_DIOALIGN,
            &mut stx as *mut libc::statx,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    if stx.stx_mask & libc::STATX_DIOALIGN != 0 {
        if stx.stx_dio_mem_align == 0 || stx.stx_dio_offset_align == 0 {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "the file system does not support O_DIRECT for this file",
            ));
        }
        return Ok(DioAlignment {
            memory: stx.stx_dio_mem_align as usize,
            offset: stx.stx_dio_offset_align as usize,
        });
    }
    let block = if u32::from(stx.stx_mode) & libc::S_IFMT == libc::S_IFBLK {
        let mut size: libc::c_int = 0;
        // SAFETY: BLKSSZGET writes one int into a valid local.
        match unsafe { libc::ioctl(fd, libc::BLKSSZGET, &mut size) } {
            0 => size as usize,
            _ => stx.stx_blksize as usize,
        }
    } else {
        stx.stx_blksize as usize
    };
    let block = block.max(512);
    Ok(DioAlignment {
        memory: block,
        offset: block,
    })
}

/// The error for an `O_DIRECT` read or write that failed with `EINVAL` because `len`
/// bytes at `addr`, at file offset `pos`, do not meet `align`; `None` if they do (the
/// `EINVAL` meant something else).
pub(crate) fn misaligned(
    align: DioAlignment,
    addr: usize,
    len: usize,
    pos: u64,
) -> Option<io::Error> {
    if align.fits(addr, len, pos) {
        return None;
    }
    Some(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "O_DIRECT needs the buffer's address aligned to {} bytes and the file offset \
             and length to multiples of {} bytes, but the buffer is at {addr:#x} \
             ({} past an aligned address) with a length of {len}, at offset {pos}; \
             use ringtide::buf::AlignedBuf (File::dio_alignment says what this file needs)",
            align.memory,
            align.offset,
            addr % align.memory,
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alignment_of_an_ordinary_file() {
        let file = std::fs::File::open("/proc/self/exe").unwrap();
        let align = query(std::os::fd::AsRawFd::as_raw_fd(&file));
        // Some file systems refuse O_DIRECT; those that accept it need a power of two.
        if let Ok(align) = align {
            assert!(align.memory().is_power_of_two(), "{align:?}");
            assert!(align.offset().is_power_of_two(), "{align:?}");
        }
    }

    #[test]
    fn a_misaligned_buffer_names_what_it_needs() {
        let align = DioAlignment {
            memory: 512,
            offset: 4096,
        };
        assert!(misaligned(align, 0x1000, 4096, 8192).is_none());
        let e = misaligned(align, 0x1001, 4096, 0).unwrap();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        let text = e.to_string();
        assert!(text.contains("aligned to 512 bytes"), "{text}");
        assert!(text.contains("multiples of 4096"), "{text}");
        assert!(misaligned(align, 0x1000, 100, 0).is_some());
        assert!(misaligned(align, 0x1000, 4096, 512).is_some());
    }
}
