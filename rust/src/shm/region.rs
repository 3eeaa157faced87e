//! `Region`: a memory mapping shared by the processes of a node, seen as 64-bit atomics.
//!
//! A file-backed region is a file under the node's prefix mapped `MAP_SHARED`: every process
//! mapping it sees the others' stores. `create` makes a new zeroed file, so a node that
//! restarts starts from zero, as nginx's shared dicts do. An anonymous region is private to one
//! process (and its forked children): for tests and in-process use.

use std::fs::{File, OpenOptions};
use std::path::Path;
use std::sync::atomic::AtomicU64;

use memmap2::{MmapMut, MmapOptions};

use super::ShmError;

/// A mapped region, its length fixed when it was made.
pub struct Region {
    map: MmapMut,
    path: String,
}

impl Region {
    /// Makes a file of `len` zero bytes at `path` and maps it. A file already there is
    /// replaced, not truncated in place: a process still mapping it (a worker of a previous
    /// run, draining) keeps its pages instead of faulting on them.
    pub fn create(path: &Path, len: usize) -> Result<Region, ShmError> {
        let shown = path.display().to_string();
        let io = |e: std::io::Error| ShmError::Io { path: shown.clone(), message: e.to_string() };
        let mut fresh = path.as_os_str().to_owned();
        fresh.push(format!(".new.{}", std::process::id()));
        let fresh = Path::new(&fresh);
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(true).open(fresh).map_err(io)?;
        let made = file.set_len(len as u64).map_err(io).and_then(|()| Region::map(&file, shown.clone()));
        match made {
            Ok(region) => {
                std::fs::rename(fresh, path).map_err(io)?;
                Ok(region)
            }
            Err(err) => {
                let _ = std::fs::remove_file(fresh);
                Err(err)
            }
        }
    }

    /// Maps the existing file at `path`, whatever its length (the table checks it).
    pub fn open(path: &Path) -> Result<Region, ShmError> {
        let shown = path.display().to_string();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| ShmError::Io { path: shown.clone(), message: e.to_string() })?;
        Region::map(&file, shown)
    }

    /// A zeroed mapping private to this process.
    pub fn anonymous(len: usize) -> Result<Region, ShmError> {
        let map = MmapOptions::new()
            .len(len)
            .map_anon()
            .map_err(|e| ShmError::Io { path: "anonymous".into(), message: e.to_string() })?;
        Ok(Region { map, path: "anonymous".into() })
    }

    fn map(file: &File, path: String) -> Result<Region, ShmError> {
        // SAFETY: the mapping is shared with other processes by design; this crate reads and
        // writes it only through atomics (`word`), so concurrent stores from them are not a
        // data race. A process truncating the file under us would fault, but only the
        // supervisor truncates it, before any worker maps it.
        let map = unsafe { MmapOptions::new().map_mut(file) }
            .map_err(|e| ShmError::Io { path: path.clone(), message: e.to_string() })?;
        Ok(Region { map, path })
    }

    /// The region's length in bytes.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the region has no bytes at all (a file of length zero).
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The file's path, or "anonymous".
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The number of whole 64-bit words in the region.
    pub fn words(&self) -> usize {
        self.map.len() / 8
    }

    /// The `index`th 64-bit word of the region, as an atomic; None past its end.
    pub fn word(&self, index: usize) -> Option<&AtomicU64> {
        if index >= self.words() {
            return None;
        }
        // SAFETY: mappings are page-aligned, so word `index` is 8-byte aligned, and it lies
        // within the mapping (checked above), which lives as long as `self`. AtomicU64 has the
        // size and alignment of u64, and every access to the region goes through atomics.
        Some(unsafe { &*(self.map.as_ptr().add(index * 8) as *const AtomicU64) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;

    #[test]
    fn a_created_region_is_zeroed_and_shared_with_a_second_mapping() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("region");
        let first = Region::create(&path, 4096).unwrap();
        let second = Region::open(&path).unwrap();
        assert_eq!(second.len(), 4096);
        assert_eq!(first.word(3).unwrap().load(Ordering::Relaxed), 0);
        first.word(3).unwrap().store(42, Ordering::Release);
        assert_eq!(second.word(3).unwrap().load(Ordering::Acquire), 42);
    }

    #[test]
    fn create_starts_afresh_and_leaves_an_old_mapping_its_pages() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("region");
        let old = Region::create(&path, 4096).unwrap();
        old.word(0).unwrap().store(7, Ordering::Relaxed);
        let again = Region::create(&path, 4096).unwrap();
        assert_eq!(again.word(0).unwrap().load(Ordering::Relaxed), 0);
        assert_eq!(
            Region::open(&path).unwrap().word(0).unwrap().load(Ordering::Relaxed),
            0
        );
        assert_eq!(old.word(0).unwrap().load(Ordering::Relaxed), 7);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary file left"
        );
    }

    #[test]
    fn words_past_the_end_are_refused() {
        let region = Region::anonymous(64).unwrap();
        assert_eq!(region.words(), 8);
        assert!(region.word(7).is_some());
        assert!(region.word(8).is_none());
    }

    #[test]
    fn a_missing_file_is_an_io_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let err = Region::open(&dir.path().join("absent")).err().unwrap();
        assert!(
            matches!(&err, ShmError::Io { path, .. } if path.ends_with("absent")),
            "{err}"
        );
    }
}
