//! Every stored entity as its raw JSON, by type, and what changed since the snapshot before.
//!
//! Two ways to find the changes. When the writer's note of its last delta (`DeltaNote`) leads
//! from the previous snapshot's config, only the entities it names are read (`patch`): the
//! lists of the other types are shared whole, and the changed type's list is copied with the
//! changed records spliced in. Otherwise every stored value is compared with the previous
//! snapshot's record of the same key (`read`); both are in key order, so one forward walk per
//! type pairs them up. Either way, equal bytes share the previous record (no copy, nothing
//! decoded again) and only new and changed values are handed on as changes: comparing bytes
//! costs far less than decoding the JSON and compiling what it describes.

use super::error::StoreError;
use super::layout::{show_key, split_key};
use std::collections::BTreeMap;
use std::sync::Arc;

/// One stored entity: its id and its JSON exactly as stored.
#[derive(Debug, PartialEq, Eq)]
pub struct Record {
    /// The entity's id, from its key.
    pub id: Box<str>,
    /// Its JSON, byte for byte as stored.
    pub json: Box<[u8]>,
}

/// The records of every type, each list in key (so id) order and shared with the snapshots
/// whose records of that type are the same.
#[derive(Debug, Default, Clone)]
pub struct Records(BTreeMap<String, Arc<Vec<Arc<Record>>>>);

/// One type's records added or changed, and the ids of those no longer stored.
#[derive(Debug, Default)]
pub struct Diff {
    /// The records added or changed.
    pub upserted: Vec<Arc<Record>>,
    /// The ids of the records no longer stored.
    pub removed: Vec<Box<str>>,
}

/// The diff of every type that changed.
#[derive(Debug, Default)]
pub struct Changes(BTreeMap<String, Diff>);

impl Records {
    /// The records of a type, in id order; empty for a type with none.
    pub fn of(&self, entity_type: &str) -> &[Arc<Record>] {
        self.0.get(entity_type).map_or(&[], |list| list.as_slice())
    }

    /// One record, found by bisecting its type's list.
    pub fn get(&self, entity_type: &str, id: &str) -> Option<&Arc<Record>> {
        let list = self.of(entity_type);
        list.binary_search_by(|r| (*r.id).cmp(id)).ok().map(|at| &list[at])
    }

    /// Reads `entries` (`<type>|<id>` keys with their values, in key order) against the
    /// records of the snapshot before: the new records and what changed since.
    pub fn read<'e, I>(entries: I, previous: &Records) -> Result<(Records, Changes), StoreError>
    where
        I: IntoIterator<Item = Result<(&'e [u8], &'e [u8]), StoreError>>,
    {
        let mut records = Records::default();
        let mut changes = Changes::default();
        let mut walk: Option<TypeWalk<'_>> = None;
        for entry in entries {
            let (key, value) = entry?;
            let (entity_type, id) = split(key)?;
            if walk.as_ref().is_none_or(|w| w.entity_type != entity_type) {
                if let Some(done) = walk.take() {
                    done.finish(&mut records, &mut changes);
                }
                walk = Some(TypeWalk::new(entity_type, previous.0.get(entity_type)));
            }
            if let Some(walk) = walk.as_mut() {
                walk.push(id, value);
            }
        }
        if let Some(done) = walk {
            done.finish(&mut records, &mut changes);
        }
        // Types stored before and not at all now.
        for (entity_type, gone) in &previous.0 {
            if !records.0.contains_key(entity_type) {
                TypeWalk::new(entity_type, Some(gone)).finish(&mut records, &mut changes);
            }
        }
        Ok((records, changes))
    }

    /// `previous` with the entities of `changed` (`<type>|<id>` keys in order, with their
    /// stored value or None when no longer stored) replaced: the records and what changed.
    pub fn patch<'e, I>(previous: &Records, changed: I) -> Result<(Records, Changes), StoreError>
    where
        I: IntoIterator<Item = Result<(&'e [u8], Option<&'e [u8]>), StoreError>>,
    {
        let mut records = previous.clone();
        let mut changes = Changes::default();
        for entry in changed {
            let (key, value) = entry?;
            let (entity_type, id) = split(key)?;
            // Copies this type's list the first time it changes; the other types stay shared.
            let list = Arc::make_mut(records.0.entry(entity_type.to_owned()).or_default());
            let diff = changes.0.entry(entity_type.to_owned()).or_default();
            match (list.binary_search_by(|r| (*r.id).cmp(id)), value) {
                (Ok(at), None) => {
                    list.remove(at);
                    diff.removed.push(id.into());
                }
                (Ok(at), Some(json)) if *list[at].json == *json => {}
                (Ok(at), Some(json)) => {
                    list[at] = Arc::new(Record { id: id.into(), json: json.into() });
                    diff.upserted.push(Arc::clone(&list[at]));
                }
                (Err(at), Some(json)) => {
                    list.insert(at, Arc::new(Record { id: id.into(), json: json.into() }));
                    diff.upserted.push(Arc::clone(&list[at]));
                }
                (Err(_), None) => {}
            }
        }
        records.0.retain(|_, list| !list.is_empty());
        changes.0.retain(|_, diff| !diff.is_empty());
        Ok((records, changes))
    }
}

fn split(key: &[u8]) -> Result<(&str, &str), StoreError> {
    split_key(key).ok_or_else(|| StoreError::corrupt(show_key(key), "key is not <type>|<id>"))
}

impl Changes {
    /// The diff of a type; empty when it did not change.
    pub fn of(&self, entity_type: &str) -> &Diff {
        static UNCHANGED: Diff = Diff { upserted: Vec::new(), removed: Vec::new() };
        self.0.get(entity_type).unwrap_or(&UNCHANGED)
    }

    /// Whether any of `types` changed.
    pub fn touch(&self, types: &[&str]) -> bool {
        types.iter().any(|t| self.0.contains_key(*t))
    }
}

impl Diff {
    fn is_empty(&self) -> bool {
        self.upserted.is_empty() && self.removed.is_empty()
    }
}

/// One type's stored values walked in step with its previous records.
struct TypeWalk<'p> {
    entity_type: String,
    before: Option<&'p Arc<Vec<Arc<Record>>>>,
    previous: &'p [Arc<Record>],
    next: usize,
    records: Vec<Arc<Record>>,
    diff: Diff,
}

impl<'p> TypeWalk<'p> {
    fn new(entity_type: &str, before: Option<&'p Arc<Vec<Arc<Record>>>>) -> Self {
        let previous = before.map_or(&[][..], |list| list.as_slice());
        TypeWalk {
            entity_type: entity_type.to_owned(),
            before,
            previous,
            next: 0,
            records: Vec::with_capacity(previous.len()),
            diff: Diff::default(),
        }
    }

    /// Ids come in increasing byte order (LMDB's key order, the type prefix being common).
    fn push(&mut self, id: &str, json: &[u8]) {
        while let Some(gone) = self.previous.get(self.next).filter(|old| *old.id < *id) {
            self.diff.removed.push(gone.id.clone());
            self.next += 1;
        }
        let same_id = self.previous.get(self.next).filter(|old| *old.id == *id);
        self.next += usize::from(same_id.is_some());
        match same_id {
            Some(old) if *old.json == *json => self.records.push(Arc::clone(old)),
            _ => {
                let record = Arc::new(Record { id: id.into(), json: json.into() });
                self.diff.upserted.push(Arc::clone(&record));
                self.records.push(record);
            }
        }
    }

    fn finish(mut self, records: &mut Records, changes: &mut Changes) {
        self.diff.removed.extend(self.previous[self.next..].iter().map(|gone| gone.id.clone()));
        let list = match self.before {
            Some(before) if self.diff.is_empty() => Arc::clone(before),
            _ => Arc::new(self.records),
        };
        if !list.is_empty() {
            records.0.insert(self.entity_type.clone(), list);
        }
        if !self.diff.is_empty() {
            changes.0.insert(self.entity_type, self.diff);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(entries: &[(&str, &str)], previous: &Records) -> (Records, Changes) {
        let items = entries.iter().map(|(k, v)| Ok((k.as_bytes(), v.as_bytes())));
        Records::read(items, previous).unwrap()
    }

    fn ids(records: &[Arc<Record>]) -> Vec<&str> {
        records.iter().map(|r| &*r.id).collect()
    }

    #[test]
    fn a_first_read_upserts_everything() {
        let (records, changes) = read(
            &[("plugins|p1", "{}"), ("routes|a", "1"), ("routes|b", "2")],
            &Records::default(),
        );
        assert_eq!(ids(records.of("routes")), ["a", "b"]);
        assert_eq!(ids(&changes.of("routes").upserted), ["a", "b"]);
        assert!(changes.of("routes").removed.is_empty());
        assert_eq!(&*records.get("routes", "b").unwrap().json, b"2");
        assert!(records.get("routes", "c").is_none());
        assert!(records.of("services").is_empty());
    }

    #[test]
    fn equal_bytes_share_the_previous_record_and_are_no_change() {
        let (before, _) = read(
            &[("routes|a", "1"), ("routes|b", "2"), ("services|s", "x")],
            &Records::default(),
        );
        let (after, changes) = read(
            &[("routes|a", "1"), ("routes|b", "2"), ("services|s", "x")],
            &before,
        );
        assert!(Arc::ptr_eq(&before.of("routes")[1], &after.of("routes")[1]));
        assert!(!changes.touch(&["routes", "services"]));
    }

    #[test]
    fn added_changed_and_removed_records_are_told_apart() {
        let (before, _) = read(
            &[
                ("routes|a", "1"),
                ("routes|b", "2"),
                ("routes|d", "4"),
                ("routes|f", "6"),
                ("upstreams|u", "u"),
            ],
            &Records::default(),
        );
        let (after, changes) = read(
            &[("routes|b", "2"), ("routes|c", "3"), ("routes|d", "44"), ("snis|n", "n")],
            &before,
        );
        let routes = changes.of("routes");
        assert_eq!(ids(&routes.upserted), ["c", "d"]);
        assert_eq!(routes.removed, vec!["a".into(), "f".into()] as Vec<Box<str>>);
        assert_eq!(
            changes.of("upstreams").removed,
            vec!["u".into()] as Vec<Box<str>>
        );
        assert_eq!(ids(&changes.of("snis").upserted), ["n"]);
        assert_eq!(ids(after.of("routes")), ["b", "c", "d"]);
        assert!(after.of("upstreams").is_empty());
        assert!(changes.touch(&["upstreams"]) && !changes.touch(&["services"]));
    }

    #[test]
    fn a_patch_gives_what_a_walk_gives_and_copies_only_the_changed_types() {
        let stored = [
            ("routes|a", "1"),
            ("routes|b", "2"),
            ("routes|d", "4"),
            ("services|s", "x"),
        ];
        let (before, _) = read(&stored, &Records::default());
        let now = [
            ("routes|b", "2"),
            ("routes|c", "3"),
            ("routes|d", "44"),
            ("services|s", "x"),
            ("snis|n", "n"),
        ];
        let changed: [(&str, Option<&str>); 5] = [
            ("routes|a", None),
            ("routes|b", Some("2")),
            ("routes|c", Some("3")),
            ("routes|d", Some("44")),
            ("snis|n", Some("n")),
        ];
        let items = changed.iter().map(|(k, v)| Ok((k.as_bytes(), v.map(str::as_bytes))));
        let (patched, changes) = Records::patch(&before, items).unwrap();
        let (walked, walked_changes) = read(&now, &before);
        for t in ["routes", "services", "snis"] {
            assert_eq!(patched.of(t), walked.of(t), "{t}");
            assert_eq!(
                ids(&changes.of(t).upserted),
                ids(&walked_changes.of(t).upserted),
                "{t}"
            );
            assert_eq!(changes.of(t).removed, walked_changes.of(t).removed, "{t}");
        }
        assert!(Arc::ptr_eq(&before.0["services"], &patched.0["services"]));
        assert!(Arc::ptr_eq(&before.0["services"], &walked.0["services"]));
        assert!(Arc::ptr_eq(&before.of("routes")[1], &patched.of("routes")[0]));
        assert!(!changes.touch(&["services"]));
    }

    #[test]
    fn a_patch_drops_a_type_left_empty() {
        let (before, _) = read(&[("routes|a", "1")], &Records::default());
        let (patched, changes) = Records::patch(&before, [Ok((&b"routes|a"[..], None))]).unwrap();
        assert!(patched.0.is_empty());
        assert_eq!(changes.of("routes").removed, vec!["a".into()] as Vec<Box<str>>);
    }

    #[test]
    fn a_bad_key_names_itself() {
        let items = [Ok((&b"no-bar"[..], &b"{}"[..]))];
        let err = Records::read(items, &Records::default()).unwrap_err();
        assert!(
            matches!(err, StoreError::Corrupt { ref key, .. } if key == "no-bar"),
            "{err}"
        );
    }
}
