//! Pulse: an in-browser product-analytics workbench.
//!
//! - [`engine`]: all metric logic, pure Rust (native and wasm32).
//! - [`protocol`]: the serde messages between the UI and the worker.
//! - `ui` (wasm32 only): the Leptos dashboard.
//! - `worker` (wasm32 only): the Web Worker glue around the engine.
//! - `cli` (native only): the headless `pulse` command.

pub mod engine;
pub mod protocol;

#[cfg(not(target_arch = "wasm32"))]
pub mod cli;
#[cfg(target_arch = "wasm32")]
pub mod ui;
#[cfg(target_arch = "wasm32")]
pub mod worker;
