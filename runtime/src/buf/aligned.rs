//! [`AlignedBuf`]: heap memory at an address aligned as `O_DIRECT` needs.

use std::alloc::{self, Layout};
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;

use super::{IoBuf, IoBufMut};

/// A fixed-capacity byte buffer whose address is a multiple of a given power of two: the
/// buffer for reads and writes of a file opened with `O_DIRECT`, which the kernel refuses
/// (`EINVAL`) unless the memory, the file offset and the length are aligned to the
/// storage's block size ([`File::dio_alignment`](crate::fs::File::dio_alignment) says
/// how much).
///
/// It works like a `Vec<u8>` that cannot grow: `len` bytes of data (what
/// it derefs to) in [`capacity`](Self::capacity) bytes of memory. As for a `Vec`, a read
/// fills it from the start up to its capacity and sets its length to the count read
/// (see [`crate::buf`]); a write sends its `len` bytes. All of its memory is zeroed when
/// it is allocated, so [`set_len`](Self::set_len) is safe.
///
/// # Examples
///
/// ```
/// use ringtide::buf::AlignedBuf;
///
/// let mut buf = AlignedBuf::with_capacity(8192, 4096);
/// assert_eq!(buf.as_ptr() as usize % 4096, 0);
/// assert!(buf.is_empty());
/// buf.extend_from_slice(b"header");
/// buf.set_len(4096); // a whole block: the rest is zeros
/// assert_eq!(&buf[..6], b"header");
/// assert_eq!(buf[4095], 0);
/// ```
///
/// With `O_DIRECT`:
///
/// ```
/// use ringtide::buf::AlignedBuf;
/// use ringtide::fs::OpenOptions;
///
/// # let dir = std::env::temp_dir().join(format!("ringtide-doc-direct-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// # let path = dir.join("blocks");
/// ringtide::Runtime::new()?.block_on(async {
///     let file = OpenOptions::new()
///         .read(true)
///         .write(true)
///         .create(true)
///         .custom_flags(libc::O_DIRECT)
///         .open(&path)
///         .await;
///     let Ok(file) = file else {
///         return Ok(()); // a file system without O_DIRECT (tmpfs before 6.6)
///     };
///     let Ok(align) = file.dio_alignment() else { return Ok(()) };
///     let block = align.offset().max(align.memory());
///     let mut buf = AlignedBuf::zeroed(block, align.memory());
///     buf[..5].copy_from_slice(b"hello");
///     file.write_all_at(buf, 0).await.0?;
///     let (n, buf) = file.read_at(AlignedBuf::with_capacity(block, align.memory()), 0).await;
///     assert_eq!(n?, block);
///     assert_eq!(&buf[..5], b"hello");
///     Ok::<_, std::io::Error>(())
/// })?;
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct AlignedBuf {
    ptr: NonNull<u8>,
    len: usize,
    capacity: usize,
    align: usize,
}

// SAFETY: the buffer owns its memory outright, like a `Vec<u8>`.
unsafe impl Send for AlignedBuf {}
// SAFETY: shared references only read.
unsafe impl Sync for AlignedBuf {}

impl AlignedBuf {
    /// An empty buffer of `capacity` bytes at an address that is a multiple of `align`.
    ///
    /// # Panics
    ///
    /// If `align` is not a power of two, or `capacity` rounded up to it overflows
    /// `isize`; aborts if the allocation fails.
    pub fn with_capacity(capacity: usize, align: usize) -> AlignedBuf {
        let layout = Layout::from_size_align(capacity, align)
            .expect("AlignedBuf: the alignment must be a power of two, the size below isize::MAX");
        let ptr = if capacity == 0 {
            // A dangling pointer with the alignment asked for; never dereferenced.
            NonNull::new(align as *mut u8).expect("a power of two is not zero")
        } else {
            // SAFETY: the layout has a non-zero size.
            let ptr = unsafe { alloc::alloc_zeroed(layout) };
            NonNull::new(ptr).unwrap_or_else(|| alloc::handle_alloc_error(layout))
        };
        AlignedBuf {
            ptr,
            len: 0,
            capacity,
            align,
        }
    }

    /// A buffer of `len` zero bytes (its capacity too), aligned to `align`.
    ///
    /// # Panics
    ///
    /// As [`with_capacity`](Self::with_capacity).
    pub fn zeroed(len: usize, align: usize) -> AlignedBuf {
        let mut buf = AlignedBuf::with_capacity(len, align);
        buf.len = len;
        buf
    }

    /// What the address is a multiple of.
    pub fn align(&self) -> usize {
        self.align
    }

    /// How many bytes it can hold.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Sets the length: the first `len` bytes become the buffer's data (bytes not written
    /// since the allocation are zeros).
    ///
    /// # Panics
    ///
    /// If `len` is above the capacity.
    pub fn set_len(&mut self, len: usize) {
        assert!(
            len <= self.capacity,
            "AlignedBuf::set_len({len}) past the capacity of {}",
            self.capacity
        );
        self.len = len;
    }

    /// Sets the length to 0.
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Appends `data` after the buffer's data.
    ///
    /// # Panics
    ///
    /// If it does not fit in the capacity: the buffer never reallocates (that would
    /// lose the alignment's purpose, a stable address).
    pub fn extend_from_slice(&mut self, data: &[u8]) {
        let end = self
            .len
            .checked_add(data.len())
            .filter(|&e| e <= self.capacity);
        let end = end.unwrap_or_else(|| {
            panic!(
                "AlignedBuf::extend_from_slice: {} + {} bytes past the capacity of {}",
                self.len,
                data.len(),
                self.capacity
            )
        });
        // SAFETY: `end <= capacity`, so the bytes from `len` on are inside the
        // allocation, which `data` (a shared borrow) cannot overlap while `self` is
        // borrowed mutably.
        unsafe {
            std::ptr::copy_nonoverlapping(
                data.as_ptr(),
                self.ptr.as_ptr().add(self.len),
                data.len(),
            );
        }
        self.len = end;
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        if self.capacity == 0 {
            return;
        }
        // SAFETY: allocated in `with_capacity` with this very layout.
        unsafe {
            alloc::dealloc(
                self.ptr.as_ptr(),
                Layout::from_size_align_unchecked(self.capacity, self.align),
            );
        }
    }
}

impl Clone for AlignedBuf {
    fn clone(&self) -> AlignedBuf {
        let mut copy = AlignedBuf::with_capacity(self.capacity, self.align);
        copy.extend_from_slice(self);
        copy
    }
}

impl Deref for AlignedBuf {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        // SAFETY: `len <= capacity` bytes of the allocation, all initialized (zeroed at
        // allocation); a dangling, aligned pointer for a length of 0.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl DerefMut for AlignedBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `deref`; `&mut self` makes the borrow unique.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl AsRef<[u8]> for AlignedBuf {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl AsMut<[u8]> for AlignedBuf {
    fn as_mut(&mut self) -> &mut [u8] {
        self
    }
}

impl fmt::Debug for AlignedBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlignedBuf")
            .field("len", &self.len)
            .field("capacity", &self.capacity)
            .field("align", &self.align)
            .finish_non_exhaustive()
    }
}

// SAFETY: the memory is a heap allocation that moving the value does not move; `len`
// bytes of its `capacity` are initialized (all of them are).
unsafe impl IoBuf for AlignedBuf {
    fn stable_ptr(&self) -> *const u8 {
        self.ptr.as_ptr()
    }

    fn bytes_init(&self) -> usize {
        self.len
    }

    fn bytes_total(&self) -> usize {
        self.capacity
    }
}

// SAFETY: as for `IoBuf`; the same memory, writable.
unsafe impl IoBufMut for AlignedBuf {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    unsafe fn set_init(&mut self, pos: usize) {
        // As for a Vec: the bytes read are the data, however long it was before.
        self.set_len(pos);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_aligned() {
        for align in [1, 512, 4096, 1 << 16] {
            for capacity in [0, 1, 4096, 100_000] {
                let buf = AlignedBuf::with_capacity(capacity, align);
                assert_eq!(buf.stable_ptr() as usize % align, 0);
                assert_eq!((buf.bytes_init(), buf.bytes_total()), (0, capacity));
            }
        }
    }

    #[test]
    fn reads_set_the_length_as_for_a_vec() {
        let mut buf = AlignedBuf::zeroed(16, 8);
        assert_eq!(buf.len(), 16);
        // SAFETY: 3 bytes fit.
        unsafe { std::ptr::copy_nonoverlapping(b"abc".as_ptr(), buf.stable_mut_ptr(), 3) };
        // SAFETY: the first 3 bytes were written.
        unsafe { buf.set_init(3) };
        assert_eq!(&buf[..], b"abc");
        let copy = buf.clone();
        assert_eq!(&copy[..], b"abc");
        assert_eq!(copy.align(), 8);
    }

    #[test]
    #[should_panic(expected = "past the capacity")]
    fn it_never_grows() {
        let mut buf = AlignedBuf::with_capacity(4, 4);
        buf.extend_from_slice(b"12345");
    }

    #[test]
    #[should_panic(expected = "power of two")]
    fn the_alignment_is_a_power_of_two() {
        let _ = AlignedBuf::with_capacity(4, 3);
    }
}
