//! The Web Worker that owns the loaded data and runs the engine (wasm32 only).

#[cfg(target_arch = "wasm32")]
fn main() {
    pulse::worker::start();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("the worker binary only runs in a browser; use `pulse` for the command line");
}
