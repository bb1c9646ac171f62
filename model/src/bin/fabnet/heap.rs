//! The C allocator's settings for a process that allocates large tensors again and again.
//!
//! glibc hands every block above its mmap threshold (at most 32 MiB) to the kernel with `mmap`
//! and back with `munmap` when freed, and gives the top of its heap back above 128 KiB. A
//! tensor on the CPU backend is such a block, freshly mapped at every op, so its first touch
//! page-faults page by page and every unmap flushes the other cores' TLBs: a fifth of
//! `prepare`'s time went there. Kept in the heap instead, freed blocks are reused by the next
//! op of the same size. The peak is the same (the same tensors live at once); what is freed is
//! kept for reuse rather than returned, which suits a command that ends when its work is done.

/// Keep every block in the heap and never trim it (glibc only; elsewhere nothing to do).
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // glibc's mallopt parameters (malloc.h).
        const M_TRIM_THRESHOLD: i32 = -1;
        const M_TOP_PAD: i32 = -2;
        const M_MMAP_MAX: i32 = -4;
        unsafe extern "C" {
            fn mallopt(param: i32, value: i32) -> i32;
        }
        // SAFETY: mallopt only changes the allocator's tunables; called before any other thread
        // exists. A value it refuses leaves the default, which is only slower.
        unsafe {
            mallopt(M_MMAP_MAX, 0);
            mallopt(M_TRIM_THRESHOLD, i32::MAX);
            mallopt(M_TOP_PAD, 256 << 20);
        }
    }
}
