//! Buffers that I/O operations own while the kernel uses them.
//!
//! An io_uring request reads or writes its buffer after the call that submitted it has
//! returned, possibly after the future that made it was dropped. So buffers go into an
//! operation by value and come back with its result: the caller cannot free or touch
//! the memory while the kernel may still use it, and a dropped operation keeps its buffer
//! alive inside the runtime until the kernel reports that it is done with it.
//!
//! ```
//! use ringtide::buf::{IoBuf, IoBufMut};
//!
//! let mut buf = Vec::with_capacity(4096);
//! assert_eq!(buf.bytes_init(), 0);
//! assert_eq!(buf.bytes_total(), 4096);
//! // A read of 5 bytes ends with `set_init(5)`; the data is then `buf[..5]`.
//! # unsafe { std::ptr::copy_nonoverlapping(b"hello".as_ptr(), buf.stable_mut_ptr(), 5) };
//! unsafe { buf.set_init(5) };
//! assert_eq!(&buf[..], b"hello");
//! ```

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
/// A read of `n` bytes writes `stable_mut_ptr()[..n]`, then calls `set_init(n)`.
///
/// # Safety
///
/// As for [`IoBuf`], and `stable_mut_ptr` must point at the same `bytes_total` bytes,
/// writable.
pub unsafe trait IoBufMut: IoBuf {
    /// Where the buffer's bytes start, writable; unaffected by moving `self`.
    fn stable_mut_ptr(&mut self) -> *mut u8;

    /// Records that the first `pos` bytes are initialized.
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
        if pos > self.len() {
            // SAFETY: the caller guarantees `pos` bytes were written, within capacity.
            unsafe { self.set_len(pos) };
        }
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

    unsafe fn set_init(&mut self, _pos: usize) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vec_reads_fill_spare_capacity() {
        let mut v = Vec::with_capacity(8);
        v.push(1u8);
        assert_eq!((v.bytes_init(), v.bytes_total()), (1, 8));
        let p = v.stable_mut_ptr();
        // SAFETY: within capacity.
        unsafe { p.add(1).write(2) };
        // SAFETY: two bytes are written.
        unsafe { v.set_init(2) };
        assert_eq!(v, [1, 2]);
        // SAFETY: never shrinks.
        unsafe { v.set_init(1) };
        assert_eq!(v, [1, 2]);
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
