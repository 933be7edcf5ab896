//! Which column plays which role, detected from names and kinds and overridable by the user.
//!
//! Detection normalises column names (lower case, only letters and digits: `userId`, `user_id`
//! and `User ID` all become `userid`) and picks, per role, the column matching the earliest
//! synonym in that role's list whose kind can play the role. A column is used for one role at
//! most. The mapping is part of the permalink (`col.user=…&col.time=…`).

use serde::{Deserialize, Serialize};

use super::schema::{ColumnInfo, ColumnKind, DatasetSchema};
use crate::engine::error::IngestError;

/// Synonyms per role, in priority order (already normalised).
const USER_SYNONYMS: &[&str] = &[
    "userid",
    "uid",
    "user",
    "distinctid",
    "userkey",
    "customerid",
];
const TIME_SYNONYMS: &[&str] = &[
    "timestamp",
    "eventtime",
    "eventtimestamp",
    "ts",
    "time",
    "createdat",
    "datetime",
    "eventts",
];
const ACTION_SYNONYMS: &[&str] = &["actiontype", "event", "eventtype", "action", "eventname"];
const PAGE_SYNONYMS: &[&str] = &["pageid", "page", "url", "pageurl", "path"];
const DURATION_SYNONYMS: &[&str] = &["durationms", "duration"];
const VERSION_SYNONYMS: &[&str] = &["appversion", "version"];
const JOIN_SYNONYMS: &[&str] = &[
    "joindate",
    "signupdate",
    "joinedat",
    "registrationdate",
    "createdat",
    "joined",
];

/// Roles → column names for an event dataset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnMapping {
    /// The user id column (required).
    pub user: String,
    /// The event time column (required).
    pub time: String,
    /// Action / event name.
    pub action: Option<String>,
    pub page: Option<String>,
    /// Duration in milliseconds.
    pub duration: Option<String>,
    pub version: Option<String>,
}

/// Query-string keys, in the order they are written.
pub const QUERY_KEYS: [&str; 6] = [
    "col.user",
    "col.time",
    "col.action",
    "col.page",
    "col.duration",
    "col.version",
];

fn normalise(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The best column for a role, skipping columns already taken.
fn pick<'a>(
    columns: &'a [ColumnInfo],
    synonyms: &[&str],
    ok: impl Fn(ColumnKind) -> bool,
    taken: &[&str],
) -> Option<&'a ColumnInfo> {
    let normalised: Vec<String> = columns.iter().map(|c| normalise(&c.name)).collect();
    synonyms.iter().find_map(|syn| {
        columns
            .iter()
            .zip(&normalised)
            .find(|(c, n)| n == syn && ok(c.kind) && !taken.contains(&c.name.as_str()))
            .map(|(c, _)| c)
    })
}

impl ColumnMapping {
    /// Detect the roles from a dataset's columns. Fails with [`IngestError::MissingRole`] naming
    /// the columns found when no user id or time column can be identified.
    pub fn detect(file: &str, columns: &[ColumnInfo]) -> Result<ColumnMapping, IngestError> {
        let found = || {
            let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
            if names.is_empty() {
                "(none)".to_string()
            } else {
                names.join(", ")
            }
        };
        let user = pick(columns, USER_SYNONYMS, ColumnKind::can_be_user, &[]).ok_or_else(|| {
            IngestError::MissingRole {
                file: file.to_string(),
                role: "user id",
                found: found(),
            }
        })?;
        let time = pick(
            columns,
            TIME_SYNONYMS,
            ColumnKind::can_be_time,
            &[&user.name],
        )
        .ok_or_else(|| IngestError::MissingRole {
            file: file.to_string(),
            role: "event time",
            found: found(),
        })?;
        let mut taken: Vec<&str> = vec![&user.name, &time.name];
        let mut optional = |syn: &[&str], ok: fn(ColumnKind) -> bool| {
            let c = pick(columns, syn, ok, &taken).map(|c| c.name.as_str());
            if let Some(c) = c {
                taken.push(c);
            }
            c.map(str::to_string)
        };
        let action = optional(ACTION_SYNONYMS, ColumnKind::can_be_label);
        let page = optional(PAGE_SYNONYMS, ColumnKind::can_be_label);
        let duration = optional(DURATION_SYNONYMS, ColumnKind::can_be_duration);
        let version = optional(VERSION_SYNONYMS, ColumnKind::can_be_label);
        Ok(ColumnMapping {
            user: user.name.clone(),
            time: time.name.clone(),
            action,
            page,
            duration,
            version,
        })
    }

    fn values(&self) -> [Option<&str>; 6] {
        [
            Some(self.user.as_str()),
            Some(self.time.as_str()),
            self.action.as_deref(),
            self.page.as_deref(),
            self.duration.as_deref(),
            self.version.as_deref(),
        ]
    }

    /// (role name for messages, column) for every mapped role.
    pub fn roles(&self) -> Vec<(&'static str, &str)> {
        const NAMES: [&str; 6] = [
            "user id",
            "event time",
            "action",
            "page",
            "duration",
            "app version",
        ];
        NAMES
            .iter()
            .zip(self.values())
            .filter_map(|(n, v)| v.map(|v| (*n, v)))
            .collect()
    }

    /// All six keys (`col.user` … `col.version`); an empty value means "not mapped". Lossless:
    /// `from_query_pairs(&m.to_query_pairs(), anything) == Ok(m)`.
    pub fn to_query_pairs(&self) -> Vec<(String, String)> {
        QUERY_KEYS
            .iter()
            .zip(self.values())
            .map(|(k, v)| (k.to_string(), v.unwrap_or("").to_string()))
            .collect()
    }

    /// Only the keys where `self` differs from `detected` — what the UI writes into the URL so
    /// that a permalink without overrides keeps following detection.
    pub fn overrides(&self, detected: &ColumnMapping) -> Vec<(String, String)> {
        QUERY_KEYS
            .iter()
            .zip(self.values().into_iter().zip(detected.values()))
            .filter(|(_, (mine, theirs))| mine != theirs)
            .map(|(k, (mine, _))| (k.to_string(), mine.unwrap_or("").to_string()))
            .collect()
    }

    /// Apply the `col.*` pairs of a query string on top of `detected`. Keys not starting with
    /// `col.` belong to other parts of the permalink and are ignored. Errors name the bad key:
    /// an unknown `col.*` key, an empty user/time, or a user/time missing when nothing was
    /// detected.
    pub fn from_query_pairs(
        pairs: &[(String, String)],
        detected: Option<&ColumnMapping>,
    ) -> Result<ColumnMapping, String> {
        let mut vals: [Option<String>; 6] = match detected {
            Some(d) => d.values().map(|v| v.map(str::to_string)),
            None => Default::default(),
        };
        for (k, v) in pairs {
            if !k.starts_with("col.") {
                continue;
            }
            let Some(i) = QUERY_KEYS.iter().position(|q| q == k) else {
                return Err(format!(
                    "{k}: unknown column role (expected one of {})",
                    QUERY_KEYS.join(", ")
                ));
            };
            let v = v.trim();
            if v.is_empty() && i < 2 {
                return Err(format!(
                    "{k}: the user id and event time columns cannot be empty"
                ));
            }
            if let Some(slot) = vals.get_mut(i) {
                *slot = (!v.is_empty()).then(|| v.to_string());
            }
        }
        let [user, time, action, page, duration, version] = vals;
        let user = user.ok_or("col.user: no user id column was detected; choose one")?;
        let time = time.ok_or("col.time: no event time column was detected; choose one")?;
        Ok(ColumnMapping {
            user,
            time,
            action,
            page,
            duration,
            version,
        })
    }
}

/// Roles → columns for a user-metadata file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetaMapping {
    pub user: String,
    /// Join / signup date column, read as a calendar day.
    pub join_date: Option<String>,
}

impl MetaMapping {
    /// Detect from names: the user id as for events, the join date from `join_date`,
    /// `signup_date`, `joined_at`, `registration_date`, `created_at`, `joined`. Every other
    /// string, integer or boolean column becomes a categorical attribute.
    pub fn detect(file: &str, columns: &[ColumnInfo]) -> Result<MetaMapping, IngestError> {
        let user = pick(columns, USER_SYNONYMS, ColumnKind::can_be_user, &[]).ok_or_else(|| {
            IngestError::MissingRole {
                file: file.to_string(),
                role: "user id",
                found: columns
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            }
        })?;
        let join = pick(
            columns,
            JOIN_SYNONYMS,
            ColumnKind::can_be_time,
            &[&user.name],
        );
        Ok(MetaMapping {
            user: user.name.clone(),
            join_date: join.map(|c| c.name.clone()),
        })
    }
}

/// The roles in [`QUERY_KEYS`] order, for the mapping editor: (query key, label, required).
pub const ROLES: [(&str, &str, bool); 6] = [
    ("col.user", "User id", true),
    ("col.time", "Event time", true),
    ("col.action", "Action", false),
    ("col.page", "Page", false),
    ("col.duration", "Duration (ms)", false),
    ("col.version", "App version", false),
];

/// Whether a column of `kind` can play the role with query key `key` (the same rule the
/// loader enforces; the editor offers only these columns).
pub fn role_fits(key: &str, kind: ColumnKind) -> bool {
    match key {
        "col.user" => kind.can_be_user(),
        "col.time" => kind.can_be_time(),
        "col.duration" => kind.can_be_duration(),
        _ => kind.can_be_label(),
    }
}

/// Check the `col.*` keys of a permalink before any data is loaded: each bad key with the
/// reason (unknown role, or an empty user id / event time). Other keys are ignored.
pub fn url_key_issues(pairs: &[(String, String)]) -> Vec<(String, String, String)> {
    pairs
        .iter()
        .filter(|(k, _)| k.starts_with("col."))
        .filter_map(|(k, v)| {
            ColumnMapping::from_query_pairs(
                &[(k.clone(), v.clone())],
                Some(&ColumnMapping {
                    user: "-".into(),
                    time: "-".into(),
                    action: None,
                    page: None,
                    duration: None,
                    version: None,
                }),
            )
            .err()
            .map(|reason| {
                let reason = reason
                    .strip_prefix(&format!("{k}: "))
                    .map(str::to_string)
                    .unwrap_or(reason);
                (k.clone(), v.clone(), reason)
            })
        })
        .collect()
}

/// The mapping a load uses, and how it was reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedMapping {
    pub mapping: ColumnMapping,
    /// What detection alone picks (`None`: no usable user id or time column).
    pub detected: Option<ColumnMapping>,
    /// Set when the permalink's `col.*` keys named columns this data lacks and detection was
    /// used instead — a link made for another file must not block loading this one.
    pub note: Option<String>,
}

impl ResolvedMapping {
    /// The `col.*` pairs the URL should carry for this mapping: only where it differs from
    /// detection, so a link without overrides keeps following detection.
    pub fn url_pairs(&self) -> Vec<(String, String)> {
        match &self.detected {
            Some(d) => self.mapping.overrides(d),
            None => self.mapping.to_query_pairs(),
        }
    }
}

impl DatasetSchema {
    /// Apply the permalink's `col.*` pairs (other keys are ignored) on top of detection.
    ///
    /// Rules: no `col.*` pairs → detection (its error names the columns found when it fails);
    /// a malformed `col.*` key → [`IngestError::BadMapping`]; pairs naming columns the data does
    /// not have → detection plus a note (the link was made for another file); otherwise the
    /// overridden mapping (types are checked by the loader, with a specific message).
    pub fn resolve_mapping(
        &self,
        pairs: &[(String, String)],
    ) -> Result<ResolvedMapping, IngestError> {
        let detected = self.detected.clone();
        let col_pairs: Vec<(String, String)> = pairs
            .iter()
            .filter(|(k, _)| k.starts_with("col."))
            .cloned()
            .collect();
        if col_pairs.is_empty() {
            return Ok(ResolvedMapping {
                mapping: self.detect_mapping()?,
                detected,
                note: None,
            });
        }
        let mapping = ColumnMapping::from_query_pairs(&col_pairs, detected.as_ref())
            .map_err(|detail| IngestError::BadMapping { detail })?;
        let missing: Vec<String> = col_pairs
            .iter()
            .filter(|(_, v)| !v.trim().is_empty() && self.column(v.trim()).is_none())
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        if missing.is_empty() {
            return Ok(ResolvedMapping {
                mapping,
                detected,
                note: None,
            });
        }
        let fallback = self.detect_mapping()?;
        Ok(ResolvedMapping {
            mapping: fallback,
            detected,
            note: Some(format!(
                "The link's column mapping ({}) names columns this data does not have, so the detected mapping is used. Columns found: {}.",
                missing.join(", "),
                self.column_list()
            )),
        })
    }
}

impl DatasetSchema {
    /// Run detection again, returning the [`IngestError::MissingRole`] that explains a `None`
    /// in [`DatasetSchema::detected`].
    pub fn detect_mapping(&self) -> Result<ColumnMapping, IngestError> {
        let file = self.files.first().map(String::as_str).unwrap_or("dataset");
        ColumnMapping::detect(file, &self.columns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str, kind: ColumnKind) -> ColumnInfo {
        ColumnInfo {
            name: name.to_string(),
            data_type: String::new(),
            kind,
            from_partition: false,
        }
    }

    #[test]
    fn detects_canonical_names() {
        let cols = [
            col("user_id", ColumnKind::String),
            col("timestamp", ColumnKind::Timestamp),
            col("action_type", ColumnKind::String),
            col("page_id", ColumnKind::String),
            col("duration_ms", ColumnKind::Integer),
            col("app_version", ColumnKind::String),
        ];
        let m = ColumnMapping::detect("f", &cols).unwrap();
        assert_eq!(m.user, "user_id");
        assert_eq!(m.time, "timestamp");
        assert_eq!(m.action.as_deref(), Some("action_type"));
        assert_eq!(m.page.as_deref(), Some("page_id"));
        assert_eq!(m.duration.as_deref(), Some("duration_ms"));
        assert_eq!(m.version.as_deref(), Some("app_version"));
    }

    #[test]
    fn detects_synonyms_and_respects_kinds() {
        let cols = [
            col("event", ColumnKind::String),
            col("ts", ColumnKind::Integer),
            col("userId", ColumnKind::Integer),
            col("version", ColumnKind::String),
            col("duration", ColumnKind::Boolean),
        ];
        let m = ColumnMapping::detect("f", &cols).unwrap();
        assert_eq!(m.user, "userId");
        assert_eq!(m.time, "ts");
        assert_eq!(m.action.as_deref(), Some("event"));
        assert_eq!(m.page, None);
        assert_eq!(m.duration, None, "a boolean cannot be a duration");
        assert_eq!(m.version.as_deref(), Some("version"));

        // Priority: `user_id` beats `user`, `timestamp` beats `time`, wherever they appear.
        let cols = [
            col("user", ColumnKind::String),
            col("time", ColumnKind::String),
            col("user_id", ColumnKind::String),
            col("timestamp", ColumnKind::String),
        ];
        let m = ColumnMapping::detect("f", &cols).unwrap();
        assert_eq!((m.user.as_str(), m.time.as_str()), ("user_id", "timestamp"));

        // A float user id is refused; `uid` is taken instead.
        let cols = [
            col("user_id", ColumnKind::Float),
            col("uid", ColumnKind::String),
            col("created_at", ColumnKind::Timestamp),
        ];
        let m = ColumnMapping::detect("f", &cols).unwrap();
        assert_eq!((m.user.as_str(), m.time.as_str()), ("uid", "created_at"));
    }

    #[test]
    fn missing_roles_name_the_columns() {
        let cols = [
            col("timestamp", ColumnKind::Timestamp),
            col("x", ColumnKind::String),
        ];
        let e = ColumnMapping::detect("a.parquet", &cols).unwrap_err();
        assert_eq!(
            e,
            IngestError::MissingRole {
                file: "a.parquet".into(),
                role: "user id",
                found: "timestamp, x".into()
            }
        );
        let cols = [col("distinct_id", ColumnKind::String)];
        let e = ColumnMapping::detect("a.parquet", &cols).unwrap_err();
        assert!(e.to_string().contains("event time"), "{e}");
        assert!(e.to_string().contains("distinct_id"), "{e}");
    }

    #[test]
    fn query_round_trip() {
        let detected = ColumnMapping {
            user: "user_id".into(),
            time: "timestamp".into(),
            action: Some("action_type".into()),
            page: Some("page_id".into()),
            duration: None,
            version: Some("app_version".into()),
        };
        let mine = ColumnMapping {
            time: "event_time".into(),
            page: None,
            duration: Some("dur".into()),
            ..detected.clone()
        };
        let all = mine.to_query_pairs();
        assert_eq!(all.len(), 6);
        assert_eq!(
            ColumnMapping::from_query_pairs(&all, None),
            Ok(mine.clone())
        );
        assert_eq!(
            ColumnMapping::from_query_pairs(&all, Some(&detected)),
            Ok(mine.clone())
        );
        let ov = mine.overrides(&detected);
        assert_eq!(
            ov,
            vec![
                ("col.time".to_string(), "event_time".to_string()),
                ("col.page".to_string(), String::new()),
                ("col.duration".to_string(), "dur".to_string()),
            ]
        );
        assert_eq!(
            ColumnMapping::from_query_pairs(&ov, Some(&detected)),
            Ok(mine)
        );
        assert_eq!(
            ColumnMapping::from_query_pairs(&[], Some(&detected)),
            Ok(detected.clone())
        );
        let other = vec![("range".to_string(), "30d".to_string())];
        assert_eq!(
            ColumnMapping::from_query_pairs(&other, Some(&detected)),
            Ok(detected.clone())
        );

        let bad = vec![("col.usr".to_string(), "x".to_string())];
        assert!(ColumnMapping::from_query_pairs(&bad, Some(&detected))
            .unwrap_err()
            .starts_with("col.usr"));
        let empty_user = vec![("col.user".to_string(), " ".to_string())];
        assert!(
            ColumnMapping::from_query_pairs(&empty_user, Some(&detected))
                .unwrap_err()
                .starts_with("col.user")
        );
        assert!(ColumnMapping::from_query_pairs(&[], None)
            .unwrap_err()
            .starts_with("col.user"));
    }

    #[test]
    fn metadata_detection() {
        let cols = [
            col("user_id", ColumnKind::Integer),
            col("join_date", ColumnKind::Date),
            col("country", ColumnKind::String),
        ];
        let m = MetaMapping::detect("m", &cols).unwrap();
        assert_eq!(m.user, "user_id");
        assert_eq!(m.join_date.as_deref(), Some("join_date"));
    }

    fn schema(cols: Vec<ColumnInfo>) -> DatasetSchema {
        let detected = ColumnMapping::detect("events.parquet", &cols).ok();
        DatasetSchema {
            format: super::super::schema::FileFormat::Parquet,
            files: vec!["events.parquet".into()],
            ignored_files: vec![],
            columns: cols,
            partition_columns: vec![],
            rows: 10,
            rows_exact: true,
            total_bytes: 100,
            row_groups: 1,
            detected,
        }
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn two_times() -> DatasetSchema {
        schema(vec![
            col("user_id", ColumnKind::String),
            col("timestamp", ColumnKind::Timestamp),
            col("received_at", ColumnKind::Timestamp),
            col("event", ColumnKind::String),
            col("screen", ColumnKind::String),
        ])
    }

    #[test]
    fn resolve_without_overrides_is_detection() {
        let s = two_times();
        let r = s.resolve_mapping(&pairs(&[("gap", "10m")])).unwrap();
        assert_eq!(r.mapping.time, "timestamp");
        assert_eq!(r.mapping.action.as_deref(), Some("event"));
        assert_eq!(r.mapping.page, None);
        assert_eq!(r.note, None);
        assert!(r.url_pairs().is_empty());
    }

    #[test]
    fn resolve_applies_overrides_and_round_trips_through_the_url() {
        let s = two_times();
        let r = s
            .resolve_mapping(&pairs(&[
                ("col.time", "received_at"),
                ("col.page", "screen"),
                ("col.action", ""),
            ]))
            .unwrap();
        assert_eq!(r.mapping.time, "received_at");
        assert_eq!(r.mapping.page.as_deref(), Some("screen"));
        assert_eq!(r.mapping.action, None);
        assert_eq!(r.note, None);
        let url = r.url_pairs();
        assert_eq!(
            url,
            pairs(&[
                ("col.time", "received_at"),
                ("col.action", ""),
                ("col.page", "screen")
            ])
        );
        // The URL pairs reproduce the same mapping.
        assert_eq!(s.resolve_mapping(&url).unwrap().mapping, r.mapping);
    }

    #[test]
    fn resolve_falls_back_to_detection_when_the_link_names_other_columns() {
        let s = two_times();
        let r = s
            .resolve_mapping(&pairs(&[("col.user", "uid"), ("col.time", "received_at")]))
            .unwrap();
        assert_eq!(r.mapping, s.detected.clone().unwrap());
        assert_eq!(
            r.note.as_deref(),
            Some("The link's column mapping (col.user=uid) names columns this data does not have, so the detected mapping is used. Columns found: user_id, timestamp, received_at, event, screen.")
        );
    }

    #[test]
    fn resolve_rejects_malformed_keys() {
        let s = two_times();
        let err = s.resolve_mapping(&pairs(&[("col.usr", "x")])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "The column mapping in the link is not valid: col.usr: unknown column role (expected one of col.user, col.time, col.action, col.page, col.duration, col.version)."
        );
        let err = s.resolve_mapping(&pairs(&[("col.time", "")])).unwrap_err();
        assert!(err.to_string().contains("cannot be empty"), "{err}");
    }

    #[test]
    fn overrides_rescue_a_file_detection_cannot_read() {
        let s = schema(vec![
            col("who", ColumnKind::Integer),
            col("when", ColumnKind::Timestamp),
        ]);
        assert!(s.detected.is_none());
        let err = s.resolve_mapping(&[]).unwrap_err();
        assert!(
            err.to_string().contains("Columns found: who, when"),
            "{err}"
        );
        let r = s
            .resolve_mapping(&pairs(&[("col.user", "who"), ("col.time", "when")]))
            .unwrap();
        assert_eq!(r.mapping.user, "who");
        assert_eq!(r.mapping.time, "when");
        assert_eq!(
            r.url_pairs(),
            pairs(&[
                ("col.user", "who"),
                ("col.time", "when"),
                ("col.action", ""),
                ("col.page", ""),
                ("col.duration", ""),
                ("col.version", "")
            ])
        );
    }

    #[test]
    fn role_fit_follows_the_loader() {
        assert!(role_fits("col.time", ColumnKind::Timestamp));
        assert!(!role_fits("col.duration", ColumnKind::Timestamp));
        assert!(role_fits("col.user", ColumnKind::Integer));
    }

    #[test]
    fn url_keys_are_checked_one_by_one() {
        let issues = url_key_issues(&pairs(&[
            ("col.user", "uid"),
            ("col.usr", "x"),
            ("col.time", " "),
            ("gap", "5m"),
        ]));
        let keys: Vec<&str> = issues.iter().map(|(k, _, _)| k.as_str()).collect();
        assert_eq!(keys, ["col.usr", "col.time"]);
        assert_eq!(
            issues[0].2,
            "unknown column role (expected one of col.user, col.time, col.action, col.page, col.duration, col.version)"
        );
    }
}
