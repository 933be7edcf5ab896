//! Messages between the UI thread and the worker. Each message is one JSON string (plus, for
//! file loads, transferred `ArrayBuffer`s alongside it), so the protocol is plain serde and is
//! tested natively.
