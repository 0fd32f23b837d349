//! Zeroed arrays for the live tables: memory that starts all-zero (an
//! empty entry in every table here), so a big array costs no writes until
//! its pages are touched.

use std::alloc::{alloc_zeroed, dealloc, handle_alloc_error, Layout};

/// From this size on, an array is mapped on its own (see [`Zeroed`]).
const MAP_FROM_BYTES: usize = 128 << 10;

/// Types for which all-zero bytes are a valid value.
///
/// # Safety
/// An implementor must be plain data with no invalid bit patterns at zero
/// (integers, raw pointers, and structs of them).
pub unsafe trait AllZeroValid: Copy {}

// SAFETY: an integer.
unsafe impl AllZeroValid for u64 {}

/// A fixed-length array of `T`, all zero at first.
///
/// From 128 KiB on it is mapped on its own, not taken from malloc: when a
/// table grows or is dropped, the array goes straight back to the system,
/// and the traced program's heap is left as it would be without the
/// recorder (glibc raises its mmap threshold when a block it mapped is
/// freed, after which the program's own large blocks would come from the
/// heap).
///
/// No huge pages are asked for. With `MADV_HUGEPAGE` each fault on a fresh
/// table had the kernel find and zero 2 MiB (compacting memory if need
/// be), which cost bigheap more than the TLB misses it saved: recording-on
/// time 1.01-1.10x of without, in alternating runs.
pub struct Zeroed<T: AllZeroValid> {
    ptr: *mut T,
    len: usize,
    /// Bytes mapped with mmap (0: allocated with the global allocator).
    mapped: usize,
}

// SAFETY: `Zeroed` owns its memory outright, like a Box<[T]>.
unsafe impl<T: AllZeroValid + Send> Send for Zeroed<T> {}
unsafe impl<T: AllZeroValid + Sync> Sync for Zeroed<T> {}

impl<T: AllZeroValid> Zeroed<T> {
    /// No elements, nothing allocated.
    pub fn none() -> Zeroed<T> {
        Zeroed {
            ptr: std::ptr::NonNull::dangling().as_ptr(),
            len: 0,
            mapped: 0,
        }
    }

    /// `len` zeroed elements; `len` must not be 0.
    pub fn new(len: usize) -> Zeroed<T> {
        let layout = Layout::array::<T>(len).expect("table size overflow");
        assert!(layout.size() > 0, "a zeroed array of no bytes");
        if layout.size() >= MAP_FROM_BYTES {
            if let Some(array) = Zeroed::map(len, layout.size()) {
                return array;
            }
        }
        // SAFETY: `layout` has non-zero size; all-zero bytes are a valid
        // `T` (`AllZeroValid`).
        let ptr = unsafe { alloc_zeroed(layout) } as *mut T;
        if ptr.is_null() {
            handle_alloc_error(layout);
        }
        Zeroed {
            ptr,
            len,
            mapped: 0,
        }
    }

    #[cfg(unix)]
    fn map(len: usize, bytes: usize) -> Option<Zeroed<T>> {
        // Populated at once: a growing table writes all over it right away,
        // and one call that maps every page costs far less than a fault per
        // page.
        #[cfg(target_os = "linux")]
        let populate = libc::MAP_POPULATE;
        #[cfg(not(target_os = "linux"))]
        let populate = 0;
        // SAFETY: a fresh anonymous private mapping, owned from here on.
        let raw = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | populate,
                -1,
                0,
            )
        };
        if raw == libc::MAP_FAILED {
            return None;
        }
        Some(Zeroed {
            ptr: raw as *mut T,
            len,
            mapped: bytes,
        })
    }

    #[cfg(not(unix))]
    fn map(_len: usize, _bytes: usize) -> Option<Zeroed<T>> {
        None
    }

    /// The first element, for pointers into the array that stay valid
    /// while others are made: no slice of the whole array is made (one
    /// would invalidate the pointers made before it).
    pub fn as_raw(&self) -> *mut T {
        self.ptr
    }

    /// Bytes of memory held.
    pub fn bytes(&self) -> usize {
        self.mapped.max(self.len * std::mem::size_of::<T>())
    }
}

impl<T: AllZeroValid> Drop for Zeroed<T> {
    fn drop(&mut self) {
        if self.mapped > 0 {
            // SAFETY: mapped by `Zeroed::map`, exactly this range.
            unsafe { libc::munmap(self.ptr as *mut libc::c_void, self.mapped) };
        } else if self.len > 0 {
            let layout = Layout::array::<T>(self.len).expect("was allocated");
            // SAFETY: allocated by `Zeroed::new` with this layout.
            unsafe { dealloc(self.ptr as *mut u8, layout) };
        }
    }
}

impl<T: AllZeroValid> std::ops::Deref for Zeroed<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        // SAFETY: `len` initialised elements (zeroed memory) at `ptr`, owned.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl<T: AllZeroValid> std::ops::DerefMut for Zeroed<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as above, and `&mut self` is the only access.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
}
