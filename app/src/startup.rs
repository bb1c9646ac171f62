//! Start-up of a wasm binary (the page's and the worker's). The wasm linker makes a module
//! whose exports never call `__wasm_call_ctors` a "command": it wraps every export so that the
//! static constructors run again on each call into the module. Burn's kernel IR registers
//! thousands of entries through `inventory` constructors, and wasm-bindgen calls an export for
//! every JS object it hands over, so every GPU launch re-ran all of them: 1.75 ms a kernel on
//! SwiftShader where native wgpu takes 50 us. Calling the constructors once, here, makes the
//! linker leave the exports alone (inventory's documentation recommends exactly this).

#[cfg(target_family = "wasm")]
unsafe extern "C" {
    fn __wasm_call_ctors();
}

/// Run the static constructors; call first thing in `main`, once.
pub fn run_constructors() {
    #[cfg(target_family = "wasm")]
    // SAFETY: the linker's constructor list, called once before anything that relies on it.
    unsafe {
        __wasm_call_ctors();
    }
}
