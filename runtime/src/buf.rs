//! Buffers that I/O operations own while the kernel uses them.
//!
//! An io_uring request reads or writes its buffer after the call that submitted it has
//! returned, possibly after the future that made it was dropped. So buffers go into an
//! operation by value and come back with its result: the caller cannot free or touch
//! the memory while the kernel may still use it, and a dropped operation keeps its buffer
//! alive inside the runtime until the kernel reports that it is done with it.
//!
//! # What a read does to the buffer
//!
//! Every read ([`TcpStream::read`](crate::net::TcpStream::read),
//! [`UdpSocket::recv`](crate::net::UdpSocket::recv),
//! [`UdpSocket::recv_from`](crate::net::UdpSocket::recv_from)) fills the buffer from
//! index 0, up to its capacity ([`IoBuf::bytes_total`]), whatever it held before, and a
//! `Vec` comes back with its length set to exactly the number of bytes read: a read of
//! `n` bytes leaves `buf.len() == n`, so the data is `buf[..n]`, which is all of
//! `&buf[..]`. A `Box<[u8]>` keeps its fixed length; the data is `buf[..n]`.
//!
//! Why not append to the spare capacity, or keep the old length when it is longer:
//!
//! * a buffer reused in a loop needs no `clear()` between reads;
//! * `vec![0; N]` and `Vec::with_capacity(N)` behave the same: both read up to `N` bytes;
//! * a return of 0 always means end of stream (or a buffer of capacity 0): with appending,
//!   a full `Vec` would read 0 bytes and look like the end of the stream;
//! * the data read is always `buf[..n]`, and for a `Vec` that is `&buf[..]`, never old
//!   bytes left behind a shorter read.
//!
//! ```
//! use ringtide::buf::{IoBuf, IoBufMut};
//!
//! let mut buf = b"ABCDEF".to_vec();
//! buf.reserve(10);
//! assert_eq!(buf.bytes_init(), 6);
//! assert!(buf.bytes_total() >= 16);
//! // A read of 2 bytes writes them at the start and ends with `set_init(2)`.
//! # // SAFETY: 2 bytes fit in the buffer's capacity.
//! # unsafe { std::ptr::copy_nonoverlapping(b"hi".as_ptr(), buf.stable_mut_ptr(), 2) };
//! // SAFETY: the first 2 bytes were just written.
//! unsafe { buf.set_init(2) };
//! assert_eq!(&buf[..], b"hi");
//! ```

mod aligned;

pub use aligned::AlignedBuf;

/// A buffer an operation can read from (a write or send) while the kernel holds it.
///
/// # Safety
///
/// The memory `stable_ptr` points at must stay valid and unchanged at that address for
/// as long as the value lives, even when the value itself is moved: it must be heap or
/// static memory, not memory inside the value. `bytes_init` bytes from there must be
/// initialized, and `bytes_total` must be the size of the allocation from there.
pub unsafe trait IoBuf: Unpin + Send + 'static {
    /// Where the buffer's bytes start; unaffected by moving `self`.
    fn stable_ptr(&self) -> *const u8;

    /// How many bytes are initialized (what a write sends).
    fn bytes_init(&self) -> usize;

    /// How many bytes the buffer can hold (what a read may fill).
    fn bytes_total(&self) -> usize;
}

/// A buffer an operation can write into (a read or receive) while the kernel holds it.
///
/// A read of `n` bytes writes `stable_mut_ptr()[..n]`, from index 0 whatever the buffer
/// held, then calls `set_init(n)`, which makes those `n` bytes the buffer's contents: a
/// `Vec`'s length becomes exactly `n`, shorter or longer than before; a `Box<[u8]>` keeps
/// its length. See [the module docs](self#what-a-read-does-to-the-buffer) for why.
///
/// # Safety
///
/// As for [`IoBuf`], and `stable_mut_ptr` must point at the same `bytes_total` bytes,
/// writable.
pub unsafe trait IoBufMut: IoBuf {
    /// Where the buffer's bytes start, writable; unaffected by moving `self`.
    fn stable_mut_ptr(&mut self) -> *mut u8;

    /// Records that a read wrote the first `pos` bytes: they are now the buffer's
    /// contents (a growable buffer's length becomes `pos`, even if it was longer).
    ///
    /// # Safety
    ///
    /// The first `pos` bytes must have been written (`pos <= bytes_total()`).
    unsafe fn set_init(&mut self, pos: usize);
}

// SAFETY: a Vec's elements live on the heap (or at a dangling, never-dereferenced address
// when the capacity is zero), so moving the Vec does not move them; `len` elements are
// initialized out of `capacity`.
unsafe impl IoBuf for Vec<u8> {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }

    fn bytes_init(&self) -> usize {
        self.len()
    }

    fn bytes_total(&self) -> usize {
        self.capacity()
    }
}

// SAFETY: as for `IoBuf`; `as_mut_ptr` points at the same allocation.
unsafe impl IoBufMut for Vec<u8> {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.as_mut_ptr()
    }

    unsafe fn set_init(&mut self, pos: usize) {
        // Shrinking too: the bytes past `pos` are what an earlier use left behind, not
        // data of this read.
        // SAFETY: the caller guarantees `pos` bytes were written, within capacity.
        unsafe { self.set_len(pos) };
    }
}

/// `IoBuf` for byte containers whose bytes are all initialized and never move.
macro_rules! impl_io_buf_for_full_slices {
    ($($ty:ty),*) => {$(
        // SAFETY: every type given to this macro keeps its bytes in heap or static
        // memory that does not move with the value, all of them initialized (see the
        // call below).
        unsafe impl IoBuf for $ty {
            fn stable_ptr(&self) -> *const u8 {
                self.as_ptr()
            }

            fn bytes_init(&self) -> usize {
                self.len()
            }

            fn bytes_total(&self) -> usize {
                self.len()
            }
        }
    )*};
}

// A boxed slice's bytes live on the heap; static memory never moves and is never freed.
impl_io_buf_for_full_slices!(Box<[u8]>, &'static [u8], &'static str);

// SAFETY: as for `IoBuf`; every byte is already initialized.
unsafe impl IoBufMut for Box<[u8]> {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.as_mut_ptr()
    }

    /// A fixed length: the data read is `self[..pos]`, and the bytes after it are kept.
    unsafe fn set_init(&mut self, _pos: usize) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes `data` at the start of `buf` as a read would, and records it.
    fn read_into<B: IoBufMut>(buf: &mut B, data: &[u8]) {
        assert!(data.len() <= buf.bytes_total());
        // SAFETY: within the buffer's `bytes_total` writable bytes (checked above).
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), buf.stable_mut_ptr(), data.len()) };
        // SAFETY: `data.len()` bytes were just written from the start.
        unsafe { buf.set_init(data.len()) };
    }

    #[test]
    fn a_vec_holds_exactly_what_the_last_read_wrote() {
        let mut v = Vec::with_capacity(16);
        v.extend_from_slice(b"ABCDEF");
        assert_eq!((v.bytes_init(), v.bytes_total()), (6, 16));
        read_into(&mut v, b"hi");
        assert_eq!(v, b"hi", "a shorter read shrinks the Vec");
        read_into(&mut v, b"0123456789abcdef");
        assert_eq!(v, b"0123456789abcdef", "a read fills up to the capacity");
        read_into(&mut v, b"");
        assert!(v.is_empty(), "a read of 0 bytes leaves nothing behind");
        assert_eq!(v.bytes_total(), 16, "the capacity is kept");
    }

    #[test]
    fn a_full_vec_reads_as_much_as_an_empty_one() {
        let mut full = vec![0u8; 8];
        let mut empty = Vec::with_capacity(8);
        assert_eq!(full.bytes_total(), empty.bytes_total());
        read_into(&mut full, b"12345678");
        read_into(&mut empty, b"12345678");
        assert_eq!(full, empty);
    }

    #[test]
    fn a_boxed_slice_keeps_its_length() {
        let mut b: Box<[u8]> = vec![b'x'; 4].into_boxed_slice();
        read_into(&mut b, b"ab");
        assert_eq!(&b[..], b"abxx");
    }

    #[test]
    fn boxed_and_static_buffers() {
        let b: Box<[u8]> = vec![7; 3].into_boxed_slice();
        assert_eq!((b.bytes_init(), b.bytes_total()), (3, 3));
        let s: &'static [u8] = b"abc";
        assert_eq!(s.bytes_init(), 3);
        assert_eq!("hi".bytes_total(), 2);
    }
}
