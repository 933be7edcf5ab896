//! On wasm32 this is the dashboard (Trunk's main binary); natively it is the `pulse` CLI.

#[cfg(target_arch = "wasm32")]
fn main() {
    console_error_panic_hook::set_once();
    pulse::ui::mount();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    pulse::cli::main()
}
