//! "Load your data": a drop zone, a file picker and a folder picker. Dropped folders (Spark
//! output, Hive partitions) are walked recursively; each file keeps its relative path so the
//! engine can read partition values from it.

use js_sys::{Array, Function, Promise, Reflect};
use leptos::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    DragEvent, File, FileSystemDirectoryEntry, FileSystemDirectoryReader, FileSystemEntry,
    FileSystemFileEntry, HtmlInputElement,
};

use super::client::{EngineClient, FileKind};

#[component]
pub fn DropZone() -> impl IntoView {
    let client = expect_context::<EngineClient>();
    let (hover, set_hover) = signal(false);
    // `webkitdirectory` turns the picker into a folder picker; set as a plain DOM attribute.
    let folder_input = NodeRef::<leptos::html::Input>::new();
    Effect::new(move |_| {
        if let Some(el) = folder_input.get() {
            let _ = el.set_attribute("webkitdirectory", "");
        }
    });

    let pick = move |ev: leptos::ev::Event, kind: FileKind| {
        let input: HtmlInputElement = event_target(&ev);
        if let Some(list) = input.files() {
            let files: Vec<File> = (0..list.length()).filter_map(|i| list.get(i)).collect();
            if !files.is_empty() {
                client.load_files(files, kind);
            }
        }
        // Allow picking the same file again.
        input.set_value("");
    };
    let on_pick = move |ev| pick(ev, FileKind::Events);
    let on_pick_metadata = move |ev| pick(ev, FileKind::Metadata);
    let on_drop = move |ev: DragEvent| {
        ev.prevent_default();
        set_hover.set(false);
        let Some(dt) = ev.data_transfer() else { return };
        // Entries must be taken synchronously, inside the event.
        let items = dt.items();
        let mut entries = Vec::new();
        for i in 0..items.length() {
            if let Some(item) = items.get(i) {
                if let Ok(Some(entry)) = item.webkit_get_as_entry() {
                    entries.push(entry);
                }
            }
        }
        let plain: Vec<File> = dt
            .files()
            .map(|l| (0..l.length()).filter_map(|i| l.get(i)).collect())
            .unwrap_or_default();
        wasm_bindgen_futures::spawn_local(async move {
            let mut files = Vec::new();
            if entries.is_empty() {
                files = plain;
            } else {
                for entry in entries {
                    collect(entry, &mut files).await;
                }
            }
            if !files.is_empty() {
                client.load_files(files, FileKind::Events);
            }
        });
    };

    view! {
        <section
            class="dropzone"
            class:hover=hover
            id="dropzone"
            on:dragover=move |ev: DragEvent| { ev.prevent_default(); set_hover.set(true); }
            on:dragleave=move |_| set_hover.set(false)
            on:drop=on_drop
        >
            <h2>"Load your data"</h2>
            <p>"Drop Parquet or CSV files, or a Spark output folder, here. Nothing is uploaded."</p>
            <div class="pickers">
                <label class="button">
                    "Choose files…"
                    <input id="file-input" type="file" multiple accept=".parquet,.csv,.tsv,.txt" on:change=on_pick class="visually-hidden" />
                </label>
                <label class="button">
                    "Choose folder…"
                    <input id="folder-input" type="file" node_ref=folder_input on:change=on_pick class="visually-hidden" />
                </label>
                <label class="button secondary" title="A table of user_id, join_date, country, device_type, subscription_type">
                    "Add user metadata…"
                    <input id="metadata-input" type="file" multiple accept=".parquet,.csv,.tsv,.txt" on:change=on_pick_metadata class="visually-hidden" />
                </label>
            </div>
        </section>
    }
}

/// Walk a dropped entry; files get a `pulsePath` property with their path inside the drop.
async fn collect(entry: FileSystemEntry, out: &mut Vec<File>) {
    let mut stack = vec![entry];
    while let Some(entry) = stack.pop() {
        if entry.is_file() {
            let file_entry: FileSystemFileEntry = entry.clone().unchecked_into();
            let promise = Promise::new(&mut |resolve: Function, reject: Function| {
                file_entry.file_with_callback_and_callback(&resolve, &reject);
            });
            if let Ok(file) = JsFuture::from(promise).await {
                let path = entry.full_path();
                let _ = Reflect::set(
                    &file,
                    &"pulsePath".into(),
                    &path.trim_start_matches('/').into(),
                );
                out.push(file.unchecked_into());
            }
        } else if entry.is_directory() {
            let dir: FileSystemDirectoryEntry = entry.unchecked_into();
            let reader = dir.create_reader();
            // readEntries returns batches until an empty one.
            loop {
                let batch = read_batch(&reader).await;
                if batch.is_empty() {
                    break;
                }
                stack.extend(batch);
            }
        }
    }
    out.sort_by_key(|f| {
        Reflect::get(f, &"pulsePath".into())
            .ok()
            .and_then(|p| p.as_string())
            .unwrap_or_else(|| f.name())
    });
}

async fn read_batch(reader: &FileSystemDirectoryReader) -> Vec<FileSystemEntry> {
    let promise = Promise::new(&mut |resolve: Function, reject: Function| {
        let _ = reader.read_entries_with_callback_and_callback(&resolve, &reject);
    });
    match JsFuture::from(promise).await {
        Ok(list) => Array::from(&list)
            .iter()
            .map(|e| e.unchecked_into::<FileSystemEntry>())
            .collect(),
        Err(_) => Vec::new(),
    }
}
