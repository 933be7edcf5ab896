//! Incremental construction of an [`EventStore`]: rows are appended as they are decoded (row group
//! by row group), dictionaries grow as new strings appear, and [`StoreBuilder::finish`] sorts once
//! by (user, time), stably.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::error::IngestError;
use super::intern::StrIndex;
use super::store::{Dictionary, DurationMs, EventStore};

/// A user key as it appears in a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserKeyRef<'a> {
    Int(i64),
    Str(&'a str),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum UserKey {
    Int(i64),
    Str(String),
}

/// The Fx hash (as in rustc): a multiply-rotate over 8-byte words. The interners hash every
/// distinct label once per decoded batch (page ids are high-cardinality, so that is most rows);
/// std's SipHash was ~20 % of a native load. HashDoS resistance buys nothing here: the keys come
/// from the user's own file, in their own tab.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FxHasher {
    hash: u64,
}

const FX_SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(FX_SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 59));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(i as u64);
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(i as u64);
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    fn write_i64(&mut self, i: i64) {
        self.add(i as u64);
    }

    #[inline]
    fn write_u128(&mut self, i: u128) {
        self.add(i as u64);
        self.add((i >> 64) as u64);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        // The multiply leaves the entropy in the high bits; hashbrown indexes with the low ones.
        self.hash.rotate_left(26)
    }
}

impl FxHasher {
    /// The state as it is: the multiply leaves the best-mixed bits at the top, which is where
    /// [`crate::engine::intern`] takes its table position from.
    #[inline]
    pub(crate) fn finish_raw(&self) -> u64 {
        self.hash
    }
}

pub(crate) type FxBuildHasher = BuildHasherDefault<FxHasher>;
type FxHashMap<K, V> = HashMap<K, V, FxBuildHasher>;

/// Maps labels to dense codes in first-seen order; code 0 is null, so the first label seen is 1.
#[derive(Debug)]
pub(crate) struct Interner {
    index: StrIndex,
    dict: Dictionary,
}

impl Interner {
    fn new() -> Self {
        Interner {
            index: StrIndex::default(),
            dict: Dictionary::with_null(),
        }
    }

    /// The dictionary, dropping the look-up table.
    fn into_dict(self) -> Dictionary {
        self.dict
    }

    /// The code of `value` (0 for `None`), assigning the next one to a label not seen before.
    pub(crate) fn intern(&mut self, value: Option<&str>) -> u32 {
        let Some(v) = value else { return 0 };
        let (i, new) = self.index.insert(v);
        if new {
            self.dict.push(v);
        }
        // `dict` holds the null and one value per index, so the code fits whenever the index did.
        i.saturating_add(1)
    }

    /// [`Interner::intern`] of each of `values` in order, appended to `out` (see
    /// [`StrIndex::insert_all`]).
    pub(crate) fn intern_all(&mut self, values: &[&str], out: &mut Vec<u32>) {
        let base = out.len();
        // New values get the next indices in order of first occurrence.
        let mut next = self.dict.len().saturating_sub(1) as u32;
        self.index.insert_all(values, out);
        for (code, v) in out
            .get_mut(base..)
            .unwrap_or_default()
            .iter_mut()
            .zip(values)
        {
            if *code == next {
                self.dict.push(v);
                next += 1;
            }
            // As in `intern`: `dict` holds the null and one value per index.
            *code = code.saturating_add(1);
        }
    }

    /// [`Interner::intern`] for a column stored as `u16` (`column` names it in the error).
    pub(crate) fn intern_u16(
        &mut self,
        value: Option<&str>,
        column: &'static str,
    ) -> Result<u16, IngestError> {
        let i = self.intern(value);
        u16::try_from(i).map_err(|_| IngestError::TooManyDistinct {
            column,
            limit: u16::MAX as usize,
        })
    }
}

/// Dense temporary user indices in first-seen order (renumbered by key in
/// [`StoreBuilder::finish`]).
#[derive(Debug, Default)]
pub(crate) struct UserKeys {
    int: FxHashMap<i64, u32>,
    /// String keys by their [`StrIndex`] index …
    str_index: StrIndex,
    /// … and that index's temporary user index.
    str_user: Vec<u32>,
    keys: Vec<UserKey>,
}

impl UserKeys {
    /// See [`StrIndex::warm`]; `keys` are string keys (not integer-like ones).
    pub(crate) fn warm_str(&self, keys: &[&str]) -> u32 {
        self.str_index.warm(keys)
    }

    /// The temporary index of `key`, assigning the next one to a key not seen before.
    pub(crate) fn index(&mut self, key: UserKeyRef<'_>) -> u32 {
        let next = self.keys.len() as u32;
        match key {
            UserKeyRef::Int(v) => {
                let i = *self.int.entry(v).or_insert(next);
                if i == next {
                    self.keys.push(UserKey::Int(v));
                }
                i
            }
            UserKeyRef::Str(s) => {
                let (si, new) = self.str_index.insert(s);
                if new {
                    self.keys.push(UserKey::Str(s.to_owned()));
                    self.str_user.push(next);
                    return next;
                }
                self.str_user.get(si as usize).copied().unwrap_or(next)
            }
        }
    }
}

/// Mutable views of a [`StoreBuilder`]'s columns and dictionaries, so a loader can append a
/// batch column by column. The caller appends the same number of rows to every column.
pub(crate) struct Columns<'b> {
    pub user: &'b mut Vec<u32>,
    pub users: &'b mut UserKeys,
    pub time_ms: &'b mut Vec<i64>,
    pub action: &'b mut Vec<u16>,
    pub actions: &'b mut Interner,
    pub page: &'b mut Vec<u32>,
    pub pages: &'b mut Interner,
    pub duration_ms: &'b mut Vec<DurationMs>,
    pub app_version: &'b mut Vec<u16>,
    pub versions: &'b mut Interner,
}

/// Collects rows, then sorts them into an [`EventStore`].
#[derive(Debug)]
pub struct StoreBuilder {
    user_tmp: Vec<u32>,
    time_ms: Vec<i64>,
    action: Vec<u16>,
    page: Vec<u32>,
    duration_ms: Vec<DurationMs>,
    app_version: Vec<u16>,
    users: UserKeys,
    actions: Interner,
    pages: Interner,
    versions: Interner,
}

impl Default for StoreBuilder {
    fn default() -> Self {
        Self::with_capacity(0)
    }
}

impl StoreBuilder {
    /// `rows` is a hint (e.g. the Parquet footer's row count) so columns are allocated once.
    pub fn with_capacity(rows: usize) -> Self {
        StoreBuilder {
            user_tmp: Vec::with_capacity(rows),
            time_ms: Vec::with_capacity(rows),
            action: Vec::with_capacity(rows),
            page: Vec::with_capacity(rows),
            duration_ms: Vec::with_capacity(rows),
            app_version: Vec::with_capacity(rows),
            users: UserKeys::default(),
            actions: Interner::new(),
            pages: Interner::new(),
            versions: Interner::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.time_ms.len()
    }

    pub fn is_empty(&self) -> bool {
        self.time_ms.is_empty()
    }

    /// Dense temporary index for a user key (first-seen order; renumbered in `finish`).
    pub fn user_index(&mut self, key: UserKeyRef<'_>) -> u32 {
        self.users.index(key)
    }

    pub fn action_index(&mut self, action: Option<&str>) -> Result<u16, IngestError> {
        self.actions.intern_u16(action, "action")
    }

    pub fn version_index(&mut self, version: Option<&str>) -> Result<u16, IngestError> {
        self.versions.intern_u16(version, "app version")
    }

    pub fn page_index(&mut self, page: Option<&str>) -> u32 {
        self.pages.intern(page)
    }

    /// The columns and dictionaries, for appending a batch a column at a time.
    pub(crate) fn columns(&mut self) -> Columns<'_> {
        Columns {
            user: &mut self.user_tmp,
            users: &mut self.users,
            time_ms: &mut self.time_ms,
            action: &mut self.action,
            actions: &mut self.actions,
            page: &mut self.page,
            pages: &mut self.pages,
            duration_ms: &mut self.duration_ms,
            app_version: &mut self.app_version,
            versions: &mut self.versions,
        }
    }

    /// Append one row whose strings were already interned.
    pub fn push_indexed(
        &mut self,
        user: u32,
        time_ms: i64,
        action: u16,
        page: u32,
        duration: DurationMs,
        version: u16,
    ) {
        self.user_tmp.push(user);
        self.time_ms.push(time_ms);
        self.action.push(action);
        self.page.push(page);
        self.duration_ms.push(duration);
        self.app_version.push(version);
    }

    /// Append one row.
    pub fn push(
        &mut self,
        user: UserKeyRef<'_>,
        time_ms: i64,
        action: Option<&str>,
        page: Option<&str>,
        duration: DurationMs,
        version: Option<&str>,
    ) -> Result<(), IngestError> {
        let u = self.user_index(user);
        let a = self.action_index(action)?;
        let p = self.page_index(page);
        let v = self.version_index(version)?;
        self.push_indexed(u, time_ms, a, p, duration, v);
        Ok(())
    }

    /// Renumber users by key and sort rows by (user, time), stably.
    pub fn finish(self) -> EventStore {
        let StoreBuilder {
            user_tmp,
            time_ms,
            action,
            page,
            duration_ms,
            app_version,
            users,
            actions,
            pages,
            versions,
            ..
        } = self;
        // Only the keys and dictionaries are kept; the look-up tables (48 MiB for the ~900k
        // page ids of 10M events) are freed here, before the columns are moved. Taking a field
        // with `let x = s.field` would not do it: the rest of a partly moved value lives to the
        // end of the scope, which kept the page table alive through the whole sort.
        let UserKeys {
            keys: user_keys, ..
        } = users;
        let [actions, pages, versions] = [actions, pages, versions].map(Interner::into_dict);

        // Users ordered by key: all-integer keys numerically, otherwise as strings.
        let all_int = user_keys.iter().all(|k| matches!(k, UserKey::Int(_)));
        let mut order: Vec<u32> = (0..user_keys.len() as u32).collect();
        if all_int {
            order.sort_unstable_by_key(|&i| match user_keys[i as usize] {
                UserKey::Int(v) => v,
                UserKey::Str(_) => 0,
            });
        } else {
            let text: Vec<String> = user_keys.iter().map(key_text).collect();
            order.sort_unstable_by(|&a, &b| text[a as usize].cmp(&text[b as usize]));
        }
        let mut rank = vec![0u32; user_keys.len()];
        for (r, &i) in order.iter().enumerate() {
            rank[i as usize] = r as u32;
        }
        let users = Dictionary::from_values(
            order
                .iter()
                .map(|&i| key_text(&user_keys[i as usize]))
                .collect(),
        );

        // Counting sort by user (stable): each row's destination, in file order.
        let n = time_ms.len();
        let mut offsets = vec![0u32; user_keys.len() + 1];
        for &u in &user_tmp {
            offsets[rank[u as usize] as usize + 1] += 1;
        }
        for i in 1..offsets.len() {
            offsets[i] += offsets[i - 1];
        }
        // Each row's destination overwrites its user index in place: the user column is not
        // needed once the destinations are known, and a second 4-byte column would raise the
        // load's peak (wasm memory never shrinks after one).
        let mut cursor = offsets.clone();
        let mut dest = user_tmp;
        let mut in_user_order = true;
        for (row, slot) in dest.iter_mut().enumerate() {
            let r = rank[*slot as usize] as usize;
            *slot = cursor[r];
            in_user_order &= cursor[r] as usize == row;
            cursor[r] += 1;
        }
        drop(cursor);
        debug_assert_eq!(dest.len(), n);
        // A file already grouped by user in key order needs no move at all.
        let dest = (!in_user_order).then_some(dest);

        // Move one column at a time, freeing each original as soon as it is copied, so the peak
        // is the builder's columns + the destinations + one column (not two full copies). Rows
        // are scattered (sequential reads, independent writes) rather than gathered through a
        // permutation (a dependent random read per row and column).
        let mut time_ms = scatter(time_ms, dest.as_deref());
        // Then a stable sort by time inside each user's range that is not in time order yet
        // (rare: files are mostly written in time order); the same reordering is applied to the
        // other columns below.
        let mut reorders: Vec<(usize, Vec<u32>)> = Vec::new();
        for w in offsets.windows(2) {
            let range = w[0] as usize..w[1] as usize;
            let Some(times) = time_ms.get_mut(range.clone()) else {
                continue;
            };
            if times.windows(2).any(|p| p[0] > p[1]) {
                let mut order: Vec<u32> = (0..times.len() as u32).collect();
                order.sort_by_key(|&i| times.get(i as usize).copied().unwrap_or_default());
                reorder(times, &order);
                reorders.push((range.start, order));
            }
        }
        let action = move_column(action, dest.as_deref(), &reorders);
        let page = move_column(page, dest.as_deref(), &reorders);
        let duration_ms = move_column(duration_ms, dest.as_deref(), &reorders);
        let app_version = move_column(app_version, dest.as_deref(), &reorders);
        drop(dest);

        let mut store = EventStore {
            user_offsets: offsets,
            users,
            time_ms,
            action,
            actions,
            page,
            pages,
            duration_ms,
            app_version,
            app_versions: versions,
            duplicate_rows: Vec::new(),
        };
        store.duplicate_rows = exact_duplicates(&store);
        store
    }
}

/// Rows that exactly repeat an earlier row of the same user at the same time (same action, page,
/// duration and version), ascending. After the stable sort such rows sit in the same time tie;
/// within a tie the first occurrence (in file order) is the original and later ones are listed.
///
/// Ties are tiny in practice, so they are compared pairwise; a long tie (a bot, a batch import
/// stamped with one time) is sorted instead to stay O(k log k).
pub fn exact_duplicates(store: &EventStore) -> Vec<u32> {
    const PAIRWISE_MAX: usize = 16;
    let mut out = Vec::new();
    let key = |r: usize| {
        (
            store.action.get(r).copied().unwrap_or(0),
            store.page.get(r).copied().unwrap_or(0),
            store.duration_ms.get(r).map_or(0, |d| d.0),
            store.app_version.get(r).copied().unwrap_or(0),
        )
    };
    let mut scratch: Vec<((u16, u32, i32, u16), u32)> = Vec::new();
    for (_, rows) in store.users_with_rows() {
        let times = store.time_ms.get(rows.clone()).unwrap_or(&[]);
        let mut start = 0;
        while start < times.len() {
            let mut end = start + 1;
            while end < times.len() && times.get(end) == times.get(start) {
                end += 1;
            }
            let len = end - start;
            if len > 1 {
                let base = rows.start + start;
                if len <= PAIRWISE_MAX {
                    for j in 1..len {
                        let kj = key(base + j);
                        if (0..j).any(|i| key(base + i) == kj) {
                            out.push((base + j) as u32);
                        }
                    }
                } else {
                    scratch.clear();
                    scratch.extend((0..len).map(|i| (key(base + i), (base + i) as u32)));
                    scratch.sort_unstable();
                    for w in scratch.windows(2) {
                        if let [a, b] = w {
                            if a.0 == b.0 {
                                out.push(b.1);
                            }
                        }
                    }
                }
            }
            start = end;
        }
    }
    out.sort_unstable();
    out
}

fn key_text(k: &UserKey) -> String {
    match k {
        UserKey::Int(v) => v.to_string(),
        UserKey::Str(s) => s.clone(),
    }
}

/// `column` with row `i` moved to `dest[i]` (`dest` is a permutation; `None` = already in
/// place). Consumed, so its memory is released on return.
///
/// A copy, not an in-place cycle walk: walking the permutation's cycles in place would save one
/// column of memory but makes every step a dependent pair of cache misses — measured 8.8–9.2 s
/// instead of 0.30 s for the sort at 10M events natively.
fn scatter<T: Copy + Default>(column: Vec<T>, dest: Option<&[u32]>) -> Vec<T> {
    let Some(dest) = dest else { return column };
    let mut out = vec![T::default(); column.len()];
    for (&v, &d) in column.iter().zip(dest) {
        if let Some(slot) = out.get_mut(d as usize) {
            *slot = v;
        }
    }
    out
}

/// `values` rearranged so that position `i` holds what was at `order[i]`.
fn reorder<T: Copy>(values: &mut [T], order: &[u32]) {
    let before: Vec<T> = values.to_vec();
    for (slot, &from) in values.iter_mut().zip(order) {
        if let Some(&v) = before.get(from as usize) {
            *slot = v;
        }
    }
}

/// [`scatter`], then the per-user time reorderings `(start of range, order)` of `finish`.
fn move_column<T: Copy + Default>(
    column: Vec<T>,
    dest: Option<&[u32]>,
    reorders: &[(usize, Vec<u32>)],
) -> Vec<T> {
    let mut column = scatter(column, dest);
    for (start, order) in reorders {
        if let Some(range) = column.get_mut(*start..*start + order.len()) {
            reorder(range, order);
        }
    }
    column
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_by_user_then_time_stably() {
        let mut b = StoreBuilder::default();
        let d = DurationMs(1);
        b.push(UserKeyRef::Int(10), 5, Some("a"), None, d, None)
            .unwrap();
        b.push(UserKeyRef::Int(2), 7, Some("b"), None, d, None)
            .unwrap();
        b.push(UserKeyRef::Int(10), 1, Some("c"), None, d, None)
            .unwrap();
        b.push(UserKeyRef::Int(10), 5, Some("d"), None, d, None)
            .unwrap();
        let s = b.finish();
        s.check_invariants().unwrap();
        assert_eq!(
            s.users.iter().collect::<Vec<_>>(),
            &["2".to_string(), "10".to_string()]
        );
        assert_eq!(s.user_offsets, vec![0, 1, 4]);
        assert_eq!(s.time_ms, vec![7, 1, 5, 5]);
        let names: Vec<&str> = s
            .action
            .iter()
            .map(|&a| s.actions.get(a as usize))
            .collect();
        // Ties (user 10 at t=5) keep file order: "a" before "d".
        assert_eq!(names, vec!["b", "c", "a", "d"]);
    }

    #[test]
    fn moves_every_column_with_its_row() {
        let mut b = StoreBuilder::default();
        // User 2's rows arrive out of time order (9 before 3), user 1's in order.
        let rows = [
            (2, 9, "a", "p9", 90, "v9"),
            (1, 1, "b", "p1", 10, "v1"),
            (2, 3, "c", "p3", 30, "v3"),
            (1, 2, "d", "p2", 20, "v2"),
        ];
        for (u, t, a, p, d, v) in rows {
            b.push(
                UserKeyRef::Int(u),
                t,
                Some(a),
                Some(p),
                DurationMs(d),
                Some(v),
            )
            .unwrap();
        }
        let s = b.finish();
        s.check_invariants().unwrap();
        assert_eq!(s.user_offsets, vec![0, 2, 4]);
        assert_eq!(s.time_ms, vec![1, 2, 3, 9]);
        let text = |i: usize| {
            (
                s.actions.get(s.action[i] as usize).to_string(),
                s.pages.get(s.page[i] as usize).to_string(),
                s.duration_ms[i].0,
                s.app_versions.get(s.app_version[i] as usize).to_string(),
            )
        };
        let got: Vec<_> = (0..4).map(text).collect();
        let want = [
            ("b", "p1", 10, "v1"),
            ("d", "p2", 20, "v2"),
            ("c", "p3", 30, "v3"),
            ("a", "p9", 90, "v9"),
        ];
        for (g, w) in got.iter().zip(want) {
            assert_eq!((g.0.as_str(), g.1.as_str(), g.2, g.3.as_str()), w);
        }
        // Codes keep first-seen order: "a" (row 0) is action 1.
        assert_eq!(s.actions.get(1), "a");
    }

    #[test]
    fn rows_already_in_user_and_time_order_stay() {
        let mut b = StoreBuilder::default();
        for (u, t) in [(1, 5), (1, 6), (2, 1), (3, 0), (3, 0)] {
            b.push(UserKeyRef::Int(u), t, Some("x"), None, DurationMs(1), None)
                .unwrap();
        }
        let s = b.finish();
        assert_eq!(s.user_offsets, vec![0, 2, 3, 5]);
        assert_eq!(s.time_ms, vec![5, 6, 1, 0, 0]);
        assert_eq!(s.duplicate_rows, vec![4]);
        // In user order but not in time order inside a user.
        let mut b = StoreBuilder::default();
        for (u, t, a) in [(1, 5, "late"), (1, 2, "early"), (2, 1, "other")] {
            b.push(UserKeyRef::Int(u), t, Some(a), None, DurationMs(1), None)
                .unwrap();
        }
        let s = b.finish();
        assert_eq!(s.time_ms, vec![2, 5, 1]);
        let names: Vec<&str> = s
            .action
            .iter()
            .map(|&a| s.actions.get(a as usize))
            .collect();
        assert_eq!(names, vec!["early", "late", "other"]);
    }

    #[test]
    fn string_users_sort_lexicographically() {
        let mut b = StoreBuilder::default();
        for u in ["u_b", "u_a", "u_c", "u_a"] {
            b.push(UserKeyRef::Str(u), 0, None, None, DurationMs::NULL, None)
                .unwrap();
        }
        let s = b.finish();
        assert_eq!(s.users.iter().collect::<Vec<_>>(), &["u_a", "u_b", "u_c"]);
        assert_eq!(s.user_offsets, vec![0, 2, 3, 4]);
    }
}
